import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transaction } from 'bitcoinjs-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { txidToHash } from '../common/index.ts';
import { EVENT_TYPE_OF_KIND, type StakingEvent } from '../events/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { buildV0OpReturn } from '../staking/index.ts';
import { sharedBroker } from '../test/infra/rabbitmq.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { backupStore, type RunningIndexer, startIndexer } from './app.ts';
import { ChainKit } from './testkit/chain.ts';
import {
  capturingLogger,
  EventCollector,
  quietLogger,
  type TestSetup,
  testSetup,
} from './testkit/harness.ts';
import {
  buildSignedSlashingSpend,
  buildStake,
  buildUnbonding,
  buildWithdrawFromStaking,
  buildWithdrawFromUnbonding,
  OP_TRUE_SCRIPT,
  type Stake,
  type StakeArgs,
} from './testkit/txs.ts';

/**
 * The indexer against a real Knots regtest node and a real RabbitMQ: every kind of transaction,
 * every reason of invalidity, both caps, both expiries, re-orgs inside the window, and hostile
 * chain data; the events a consumer receives are checked one by one, and at the end against a
 * second indexer that syncs the final chain from scratch.
 */
const covenants = ['int-cov-a', 'int-cov-b', 'int-cov-c'].map(testKey);
const otherCovenants = ['int-cov-x', 'int-cov-y'].map(testKey);
const staker = testKey('int-staker');
const fp = testKey('int-fp');

// v0 from 115: value cap 1 000 000 sat; v1 from 160: height cap 162. Depth 3 (window of 2 blocks).
const paramsDoc = {
  versions: [
    testParamsDoc(covenants, {
      activation_height: 115,
      staking_cap: 1_000_000,
      min_staking_amount: 10_000,
      max_staking_amount: 500_000,
      min_staking_time: 5,
      max_staking_time: 1000,
      unbonding_time: 3,
      unbonding_fee: 1_000,
      confirmation_depth: 3,
    }).versions[0]!,
    {
      ...testParamsDoc(covenants, {
        version: 1,
        activation_height: 160,
        min_staking_amount: 10_000,
        max_staking_amount: 500_000,
        min_staking_time: 5,
        max_staking_time: 1000,
        unbonding_time: 3,
        unbonding_fee: 1_000,
        confirmation_depth: 3,
      }).versions[0]!,
      staking_cap: 0,
      cap_height: 162,
    },
  ],
};
const params = parseGlobalParams(paramsDoc);
const [v0, v1] = params.versions as [(typeof params.versions)[0], (typeof params.versions)[0]];

let node: RegtestNode;
let broker: { url: string; destroy(): Promise<void> };
let kit: ChainKit;
let setup: TestSetup;
let indexer: RunningIndexer;
let events: EventCollector;

beforeAll(async () => {
  [node, broker] = await Promise.all([startRegtestNode({ extraArgs: ['-rest=1'] }), sharedBroker()]);
  kit = await ChainKit.create(node); // tip 110
  setup = await testSetup(node, broker.url, paramsDoc);
  events = await EventCollector.start(broker.url, setup.names);
  indexer = await startIndexer(setup.config, { logger: quietLogger() });
});
afterAll(async () => {
  await indexer?.stop();
  await events?.close();
  await node?.stop();
  await broker?.destroy();
  if (setup) await rm(setup.dir, { recursive: true, force: true });
});

function stake(over: Partial<StakeArgs> = {}): Stake {
  return buildStake({
    version: v0,
    staker,
    fp,
    stakingTime: 50,
    valueSat: 100_000n,
    funding: kit.coin(),
    ...over,
  });
}
const byId = (id: string) => events.events.find((e) => e.event_id === id);
/** Mines the depth − 1 blocks that confirm everything so far, and waits until its events arrived. */
async function confirmAll(): Promise<void> {
  await kit.mineEmpty(2);
  await events.waitForTip(await kit.height());
}
function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : Number.NaN;
}

const s: Record<string, Stake> = {};
const heights: Record<string, number> = {};

describe('confirmed transactions (value cap, v0)', () => {
  it('starts at the activation height and reports btc-info for the tip', async () => {
    await kit.mineTo(116);
    await events.waitForTip(116);
    const info = events.events.find(
      (e) => e.event_type === EVENT_TYPE_OF_KIND['btc-info'] && e.height === 116,
    );
    expect(info).toMatchObject({ confirmed_tvl: 0, unconfirmed_tvl: 0 });
    // 116 − depth + 1 = 114 is confirmed, but nothing below the activation height 115 is decided.
    expect(indexer.status().lastProcessed).toBeUndefined();
  });

  it('valid stakes become active; each reason of invalidity is counted and emits nothing; junk never stops it', async () => {
    s.a = stake({ valueSat: 400_000n, stakingTime: 20 });
    s.b = stake({ valueSat: 400_000n, stakingTime: 10 });
    s.c = stake({ valueSat: 20_000n, stakingTime: 100 });
    s.c2 = stake({ valueSat: 10_000n, stakingTime: 100 });
    s.c3 = stake({ valueSat: 10_000n, stakingTime: 100 });
    s.c4 = stake({ valueSat: 10_000n, stakingTime: 100 });
    const invalid = {
      VALUE: stake({ valueSat: 5_000n }),
      TIME: stake({ stakingTime: 2000 }),
      NO_OUTPUT: stake({ covenantKeys: [...otherCovenants, covenants[0]!].map((k) => k.xOnly) }),
      MULTI_OUTPUT: stake({ duplicateStakingOutput: true }),
      DUPLICATE_KEYS: stake({
        opReturnScript: buildV0OpReturn({
          tag: v0.tag,
          stakerKey: staker.xOnly,
          fpKey: staker.xOnly,
          stakingTime: 50,
        }),
      }),
      MULTI_OP_RETURN: stake({
        extraOutputs: [
          {
            script: buildV0OpReturn({
              tag: Uint8Array.of(7, 7, 7, 7),
              stakerKey: fp.xOnly,
              fpKey: staker.xOnly,
              stakingTime: 9,
            }),
            valueSat: 0n,
          },
        ],
      }),
    };
    // Hostile data: a 20 kB OP_RETURN, a tagged 73-byte OP_RETURN whose keys are not on the curve,
    // non-standard scripts, and a spend of an output the indexer never saw.
    const junk = new Transaction();
    junk.version = 1;
    const coin = kit.coin();
    junk.addInput(txidToHash(coin.txid, 'T'), coin.vout);
    junk.addOutput(Uint8Array.from([0x6a, 0x4d, 0x20, 0x4e, ...new Uint8Array(20_000).fill(0xab)]), 0n);
    const badKeys = new Uint8Array(73);
    badKeys.set([0x6a, 0x47, ...v0.tag, 0]);
    badKeys.fill(0xff, 7);
    junk.addOutput(badKeys, 0n);
    junk.addOutput(Uint8Array.of(0x6a, 0x6a, 0x6a), 0n);
    junk.addOutput(Uint8Array.of(0xff, 0xfe, 0x00, 0x4c), 1_000n);
    junk.addOutput(OP_TRUE_SCRIPT, 9_000_000n);
    const { height } = await kit.mine([
      s.a.tx,
      s.b.tx,
      s.c.tx,
      s.c2.tx,
      s.c3.tx,
      s.c4.tx,
      ...Object.values(invalid).map((x) => x.tx),
      junk,
    ]);
    heights.a = height;
    await confirmAll();

    expect(events.ids()).toEqual([s.a, s.b, s.c, s.c2, s.c3, s.c4].map((x) => `${x.txid}:active`));
    expect(byId(`${s.a.txid}:active`)).toMatchObject({
      staking_value: 400_000,
      staking_start_height: height,
      staking_timelock: 20,
      staking_output_index: 0,
      staking_tx_hex: s.a.tx.toHex(),
      is_overflow: false,
    });
    const m = await (await fetch(`${indexer.metricsUrl}/metrics`)).text();
    expect(metricValue(m, 'si_total_staking_txs{tx_type="active"}')).toBe(6);
    expect(metricValue(m, 'si_invalid_txs_counter{tx_type="confirmed_staking_transaction"}')).toBe(7);
    for (const reason of [
      'STAKING_VALUE_OUT_OF_RANGE',
      'STAKING_TIME_OUT_OF_RANGE',
      'STAKING_NO_STAKING_OUTPUT',
      'STAKING_MULTIPLE_STAKING_OUTPUTS',
      'STAKING_MULTIPLE_OP_RETURN',
      'STAKING_DUPLICATE_KEYS',
      'STAKING_NO_OP_RETURN', // the junk tx's tagged OP_RETURN with keys off the curve
    ]) {
      expect(
        metricValue(
          m,
          `indexer_invalid_txs_by_reason_total{tx_type="confirmed_staking_transaction",reason="${reason}"}`,
        ),
        reason,
      ).toBe(1);
    }
    // The relay counts what the broker confirmed, by kind (once per batch it publishes).
    const published = async () =>
      metricValue(
        await (await fetch(`${indexer.metricsUrl}/metrics`)).text(),
        'indexer_events_published_total{kind="active"}',
      );
    const deadline = Date.now() + 10_000;
    while (!((await published()) >= 6) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await published()).toBe(6);
    // The node serves REST (-rest=1), so `auto` fetched the blocks over it.
    expect(indexer.status()).toMatchObject({ following: true, lastPollOk: true, fetchVia: 'rest' });
    expect(metricValue(m, 'indexer_fetch_via{via="rest"}')).toBe(1);
  });

  it('value cap: the stake that crosses the cap is active, the next one overflows', async () => {
    // TVL 850 000 < cap 1 000 000: a 300 000 stake is active (TVL 1 150 000, above the cap), then
    // a 20 000 stake overflows.
    s.d = stake({ valueSat: 300_000n, stakingTime: 100 });
    s.e = stake({ valueSat: 20_000n, stakingTime: 100 });
    await kit.mine([s.d.tx, s.e.tx]);
    await confirmAll();
    expect(byId(`${s.d.txid}:active`)).toMatchObject({ is_overflow: false });
    expect(byId(`${s.e.txid}:active`)).toMatchObject({ is_overflow: true });
    const info = events.events.filter((e) => e.event_type === EVENT_TYPE_OF_KIND['btc-info']).at(-1);
    expect(info).toMatchObject({ confirmed_tvl: 1_150_000, unconfirmed_tvl: 1_150_000 });
  });

  it('unbonding of an active and of an overflow stake; an invalid unbonding emits nothing', async () => {
    const ub = buildUnbonding(s.b!, covenants);
    const ue = buildUnbonding(s.e!, covenants);
    // Invalid unbondings (each signed by the covenants, so consensus accepts them), and a
    // slashing-path spend: counted by reason, no event, no TVL change.
    const bad = [
      buildUnbonding(s.c!, covenants, { sequence: 0xfffffffe }).tx,
      buildUnbonding(s.c2!, covenants, { locktime: 1 }).tx,
      buildUnbonding(s.c3!, covenants, { valueDelta: -500n }).tx,
      buildSignedSlashingSpend(s.c4!, fp, covenants),
    ];
    const { height } = await kit.mine([ub.tx, ue.tx, ...bad]);
    heights.ub = height;
    s.ub = { ...s.b!, txid: ub.txid, tx: ub.tx };
    (s as Record<string, unknown>).ubObj = ub;
    // The unconfirmed TVL already shows the unbonding (and can be below the confirmed TVL).
    await events.waitForTip(height);
    expect(events.events.filter((e) => e.event_type === EVENT_TYPE_OF_KIND['btc-info']).at(-1)).toMatchObject(
      {
        confirmed_tvl: 1_150_000,
        unconfirmed_tvl: 750_000,
      },
    );
    await confirmAll();
    expect(byId(`${s.b!.txid}:unbonding`)).toMatchObject({
      unbonding_start_height: height,
      unbonding_timelock: 3,
      unbonding_output_index: 0,
      unbonding_tx_hash_hex: ub.txid,
      unbonding_tx_hex: ub.tx.toHex(),
    });
    expect(byId(`${s.e!.txid}:unbonding`)).toBeDefined();
    for (const x of [s.c, s.c2, s.c3, s.c4]) {
      expect(byId(`${x!.txid}:unbonding`)).toBeUndefined();
      expect(byId(`${x!.txid}:withdraw`)).toBeUndefined();
    }
    expect(events.events.filter((e) => e.event_type === EVENT_TYPE_OF_KIND['btc-info']).at(-1)).toMatchObject(
      { confirmed_tvl: 750_000 },
    );
    const m = await (await fetch(`${indexer.metricsUrl}/metrics`)).text();
    const reason = (t: string, r: string) =>
      metricValue(m, `indexer_invalid_txs_by_reason_total{tx_type="${t}",reason="${r}"}`);
    expect(reason('confirmed_unbonding_transactions', 'STAKING_UNBONDING_SEQUENCE')).toBe(1);
    expect(reason('confirmed_unbonding_transactions', 'STAKING_UNBONDING_LOCKTIME')).toBe(1);
    expect(reason('confirmed_unbonding_transactions', 'STAKING_UNBONDING_WRONG_VALUE')).toBe(1);
    expect(reason('confirmed_withdraw_staking_transactions', 'UNKNOWN_SPEND')).toBe(1);
  });

  it('expiry of both kinds, exactly once, and withdraw from the unbonding output and the staking output', async () => {
    const ub = (s as Record<string, unknown>).ubObj as ReturnType<typeof buildUnbonding>;
    // Unbonding expires at its height + 3: the withdraw is valid in that block (BIP68).
    await kit.mineTo(heights.ub! + 2);
    const wdU = buildWithdrawFromUnbonding(s.b!, ub);
    await kit.mine([wdU]);
    // The staking timelock of a (20 blocks) expires at heights.a + 20.
    await kit.mineTo(heights.a! + 19);
    const wdS = buildWithdrawFromStaking(s.a!);
    const { height } = await kit.mine([wdS]);
    expect(height).toBe(heights.a! + 20);
    await confirmAll();
    const expiredU = `${s.b!.txid}:expired:unbonding`;
    const i = events.ids();
    expect(i.indexOf(expiredU)).toBeGreaterThan(-1);
    expect(i.indexOf(expiredU)).toBeLessThan(i.indexOf(`${s.b!.txid}:withdraw`));
    expect(byId(expiredU)).toMatchObject({ tx_type: 'unbonding', expire_height: heights.ub! + 3 });
    expect(byId(`${s.b!.txid}:withdraw`)).toMatchObject({
      withdraw_from: 'unbonding',
      withdraw_tx_hash_hex: wdU.getId(),
    });
    expect(byId(`${s.a!.txid}:expired:active`)).toMatchObject({ expire_height: heights.a! + 20 });
    expect(i.indexOf(`${s.a!.txid}:expired:active`)).toBeLessThan(i.indexOf(`${s.a!.txid}:withdraw`));
    expect(byId(`${s.a!.txid}:withdraw`)).toMatchObject({
      withdraw_from: 'staking',
      withdraw_tx_btc_height: height,
    });
    // Unbonded before its timelock: b never expires as active.
    expect(byId(`${s.b!.txid}:expired:active`)).toBeUndefined();
    // The withdraw does not reduce the TVL (reference §8).
    expect(events.events.filter((e) => e.event_type === EVENT_TYPE_OF_KIND['btc-info']).at(-1)).toMatchObject(
      { confirmed_tvl: 750_000 },
    );
    const all = events.events
      .filter((e) => e.event_type === EVENT_TYPE_OF_KIND.expired)
      .map((e) => e.event_id);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('height cap (v1)', () => {
  it('cap_height is inclusive; a stake above it overflows whatever the TVL', async () => {
    await kit.mineTo(161);
    const at162 = stake({ version: v1, stakingTime: 100 });
    const { height } = await kit.mine([at162.tx]);
    expect(height).toBe(162);
    const at163 = stake({ version: v1, stakingTime: 100 });
    await kit.mine([at163.tx]);
    await confirmAll();
    expect(byId(`${at162.txid}:active`)).toMatchObject({ is_overflow: false, staking_start_height: 162 });
    expect(byId(`${at163.txid}:active`)).toMatchObject({ is_overflow: true, staking_start_height: 163 });
  });
});

describe('re-organisations inside the window', () => {
  it('a one-block re-org: the replaced block’s stake never becomes an event, the new one does', async () => {
    const lost = stake({ version: v1, stakingTime: 200 });
    const { hash, height } = await kit.mine([lost.tx]);
    await events.waitForTip(height);
    await node.rpc.invalidateblock(hash);
    const won = stake({ version: v1, stakingTime: 201 });
    const re = await kit.mine([won.tx]);
    expect(re.height).toBe(height);
    await confirmAll();
    expect(byId(`${lost.txid}:active`)).toBeUndefined();
    expect(byId(`${won.txid}:active`)).toMatchObject({ staking_start_height: height });
  });

  it('a two-block re-org: a stake moves to another height and an unbonding in the lost branch vanishes', async () => {
    const moved = stake({ version: v1, stakingTime: 202 });
    const y1 = await kit.mine([moved.tx]);
    const y2 = await kit.mine([buildUnbonding(moved, covenants).tx]);
    await events.waitForTip(y2.height);
    await node.rpc.invalidateblock(y1.hash);
    const other = stake({ version: v1, stakingTime: 203 });
    await kit.mine([other.tx]);
    const z2 = await kit.mine([moved.tx]);
    await kit.mine([]);
    await confirmAll();
    expect(byId(`${moved.txid}:active`)).toMatchObject({ staking_start_height: z2.height });
    expect(byId(`${moved.txid}:unbonding`)).toBeUndefined();
    expect(byId(`${other.txid}:active`)).toMatchObject({ staking_start_height: y1.height });
  });
});

describe('the whole chain', () => {
  it('events arrived in chain order, each once, and equal what a fresh indexer derives from the final chain', async () => {
    const seqs = events.events.map((e) => e.sequence);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // Small commits and a 1 ms rhythm, so that this short catch-up reports its progress several times.
    const fresh = await testSetup(node, broker.url, paramsDoc, { commitMaxBlocks: 10, progressMs: 1 });
    const freshEvents = await EventCollector.start(broker.url, fresh.names);
    const logs = capturingLogger();
    const second = await startIndexer(fresh.config, { logger: logs.logger });
    try {
      const tip = await kit.height();
      await freshEvents.waitForTip(tip, 60_000);
      const strip = (es: ReturnType<EventCollector['view']>) => es;
      expect(strip(freshEvents.view())).toEqual(strip(events.view()));
      const nonInfo = events.events.filter(
        (e: StakingEvent) => e.event_type !== EVENT_TYPE_OF_KIND['btc-info'],
      );
      expect(new Set(nonInfo.map((e) => e.event_id)).size).toBe(nonInfo.length);

      // The catch-up told its progress, with figures that make sense, and said when it was done.
      const progress = logs.lines.filter((l) => l.msg === 'sync progress');
      expect(progress.length).toBeGreaterThan(1);
      for (const p of progress) {
        expect(p.height as number).toBeLessThanOrEqual(p.tip as number);
        expect(p.height as number).toBeLessThan(p.target as number);
        expect(p.behind).toBe((p.target as number) - (p.height as number));
        expect(p.blocksPerSecond as number).toBeGreaterThan(0);
        expect(p.txsPerSecond as number).toBeGreaterThan(0);
        expect(p.etaSeconds as number).toBeGreaterThanOrEqual(0);
        expect(p.progress as number).toBeGreaterThan(0);
        expect(p.progress as number).toBeLessThan(1);
      }
      const heights = progress.map((p) => p.height as number);
      expect(heights).toEqual([...heights].sort((a, b) => a - b));
      expect(logs.lines.some((l) => l.msg === 'sync caught up: following the tip')).toBe(true);
      // Caught up, it is ready, and its readiness says so.
      const ready = await fetch(`${second.metricsUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { checks: { sync: string } }).checks.sync).toBe('following');
    } finally {
      await second.stop();
      await freshEvents.close();
      await rm(fresh.dir, { recursive: true, force: true });
    }
  });
});

describe('backup', () => {
  it('copies the store while the indexer runs: the copy opens at the height it had; refuses a used directory or no store', async () => {
    const out = join(setup.dir, 'backup');
    const b = await backupStore(setup.config, out);
    expect(b.lastHeight).toBe(indexer.status().lastProcessed);
    expect(indexer.status().following).toBe(true);
    const used = join(setup.dir, 'used');
    await mkdir(used);
    await writeFile(join(used, 'x'), 'x');
    await expect(backupStore(setup.config, used)).rejects.toMatchObject({ code: 'INDEXER_BACKUP_FAILED' });
    const noStore = { ...setup.config, store: { ...setup.config.store, path: join(setup.dir, 'nothing') } };
    await expect(backupStore(noStore, join(setup.dir, 'b2'))).rejects.toMatchObject({
      code: 'INDEXER_STORE_UNAVAILABLE',
    });
  });
});
