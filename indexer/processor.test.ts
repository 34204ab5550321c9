import { Block, Transaction } from 'bitcoinjs-lib';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { hashToTxid, toHex } from '../common/index.ts';
import {
  assertStakingEvent,
  EVENT_TYPE_OF_KIND,
  type StakingEvent,
  type UnsequencedEvent,
} from '../events/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import {
  buildStakingInfo,
  buildUnbondingInfo,
  buildV0OpReturn,
  decodeTransaction,
  expectUnbonding,
} from '../staking/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import type { BlockInput } from './blockTxs.ts';
import { preScanBlock, RangePrescan } from './prescan.ts';
import { processBlock } from './processor.ts';
import { candidateTxid, readHeader, scanBlock } from './rawBlock.ts';
import { expectationOf } from './spendRules.ts';
import { hashPrefix, MemoryState, stakingOutpointKey, txidPrefix } from './state.ts';
import {
  buildSlashingPathSpend,
  buildStake,
  buildUnbonding,
  buildWithdrawFromStaking,
  buildWithdrawFromUnbonding,
  rawBlock,
  type Stake,
  type StakeArgs,
} from './testkit/txs.ts';
import { computeUnconfirmedTvl } from './unconfirmedTvl.ts';

// The processor's decodes, counted: a stake decided on the fetch thread is not decoded again.
vi.mock('../staking/index.ts', async (importOriginal) => {
  const m = await importOriginal<typeof import('../staking/index.ts')>();
  return { ...m, decodeTransaction: vi.fn(m.decodeTransaction) };
});

const covenants = ['ix-cov-a', 'ix-cov-b', 'ix-cov-c'].map(testKey);
const otherCovenants = ['ix-cov-x', 'ix-cov-y', 'ix-cov-z'].map(testKey);
const staker = testKey('ix-staker');
const fp = testKey('ix-fp');

// v0: value cap 300 000 sat from height 100; v1: height cap 210 from height 200.
const params: GlobalParams = parseGlobalParams({
  versions: [
    testParamsDoc(covenants, {
      activation_height: 100,
      staking_cap: 300_000,
      min_staking_amount: 10_000,
      max_staking_amount: 200_000,
      min_staking_time: 5,
      max_staking_time: 1000,
      unbonding_time: 3,
      unbonding_fee: 1_000,
      confirmation_depth: 3,
    }).versions[0]!,
    {
      ...testParamsDoc(covenants, {
        version: 1,
        activation_height: 200,
        min_staking_amount: 10_000,
        max_staking_amount: 200_000,
        min_staking_time: 5,
        max_staking_time: 1000,
        unbonding_time: 3,
        unbonding_fee: 1_000,
        confirmation_depth: 3,
      }).versions[0]!,
      staking_cap: 0,
      cap_height: 210,
    },
  ],
});
const v0 = params.versions[0]!;
const v1 = params.versions[1]!;

let fundingCounter = 0;
function stake(over: Partial<StakeArgs> = {}): Stake {
  fundingCounter++;
  return buildStake({
    version: v0,
    staker,
    fp,
    stakingTime: 10,
    valueSat: 100_000n,
    funding: { txid: fundingCounter.toString(16).padStart(64, '0'), vout: 0, valueSat: 10_000_000n },
    ...over,
  });
}

let state: MemoryState;
beforeEach(() => {
  state = new MemoryState();
});

/** Processes a block of txs at a height and applies its writes; returns its events and stats. */
function block(height: number, txs: Transaction[]) {
  const r = processBlock(params, { height, hash: `h${height}`, time: 1_700_000_000 + height, txs }, state);
  state.apply(r.writes);
  // Every event the processor makes must pass the contract's schema.
  r.events.forEach((e, i) => {
    assertStakingEvent({ ...e, sequence: i + 1 } as StakingEvent);
  });
  return r;
}
const kinds = (events: readonly UnsequencedEvent[]) =>
  events.map((e) => ('tx_type' in e ? `expired:${e.tx_type}` : (e.event_id.split(':')[1] ?? e.event_id)));

describe('staking transactions', () => {
  it('a valid stake becomes an active delegation, counts in the TVL and schedules its expiry', () => {
    const s = stake();
    const r = block(120, [s.tx]);
    expect(r.events).toEqual([
      expect.objectContaining({
        event_type: EVENT_TYPE_OF_KIND.active,
        event_id: `${s.txid}:active`,
        staking_value: 100_000,
        staking_start_height: 120,
        staking_start_timestamp: 1_700_000_120,
        staking_timelock: 10,
        staking_output_index: 0,
        staking_tx_hex: s.tx.toHex(),
        staker_pk_hex: toHex(staker.xOnly),
        finality_provider_pk_hex: toHex(fp.xOnly),
        is_overflow: false,
      }),
    ]);
    expect(state.tvl).toBe(100_000);
    expect(state.delegation(s.txid)).toMatchObject({ state: 'active', isOverflow: false, paramsVersion: 0 });
    expect(state.expiriesAt(130)).toEqual([{ height: 130, stakingTxid: s.txid, type: 'active' }]);
  });

  it('ignores everything below the first activation height', () => {
    const r = block(99, [stake().tx]);
    expect(r.events).toEqual([]);
    expect(r.stats.rejections).toEqual([]);
  });

  // Value cap (§8): overflow iff the TVL *before* the tx ≥ staking_cap; the tx that crosses is active.
  it.each([
    ['under the cap', [100_000n], [false], 100_000],
    ['reaching the cap exactly, then one more', [200_000n, 100_000n, 10_000n], [false, false, true], 300_000],
    ['crossing the cap (TVL ends above it)', [200_000n, 150_000n, 10_000n], [false, false, true], 350_000],
  ] as const)('value cap: %s', (_what, values, overflow, tvl) => {
    const stakes = values.map((valueSat) => stake({ valueSat }));
    const r = block(
      120,
      stakes.map((s) => s.tx),
    );
    expect(r.events.map((e) => (e as { is_overflow: boolean }).is_overflow)).toEqual(overflow);
    expect(state.tvl).toBe(tvl);
    expect(r.stats.staking).toEqual({
      active: overflow.filter((o) => !o).length,
      overflow: overflow.filter((o) => o).length,
    });
  });

  it('value cap across blocks: the decision uses the confirmed TVL of earlier blocks', () => {
    block(120, [stake({ valueSat: 200_000n }).tx, stake({ valueSat: 100_000n }).tx]);
    const r = block(121, [stake({ valueSat: 50_000n }).tx]);
    expect(r.events[0]).toMatchObject({ is_overflow: true });
    expect(state.tvl).toBe(300_000);
  });

  // Height cap: overflow iff h > cap_height; cap_height itself is active; TVL plays no part.
  it.each([
    [200, false],
    [210, false],
    [211, true],
  ])('height cap 210: a stake at height %i is overflow=%s', (h, overflow) => {
    state.tvl = 10_000_000; // far above any value cap: irrelevant under a height cap
    const r = block(h, [stake({ version: v1 }).tx]);
    expect(r.events[0]).toMatchObject({ is_overflow: overflow });
    expect(state.tvl).toBe(overflow ? 10_000_000 : 10_100_000);
  });

  it.each([
    ['value below min', { valueSat: 9_999n }, 'STAKING_VALUE_OUT_OF_RANGE'],
    ['value above max', { valueSat: 200_001n }, 'STAKING_VALUE_OUT_OF_RANGE'],
    ['time below min', { stakingTime: 4 }, 'STAKING_TIME_OUT_OF_RANGE'],
    ['time above max', { stakingTime: 1001 }, 'STAKING_TIME_OUT_OF_RANGE'],
    [
      'another covenant set',
      { covenantKeys: otherCovenants.map((k) => k.xOnly) },
      'STAKING_NO_STAKING_OUTPUT',
    ],
    [
      'a second v0 OP_RETURN (another tag)',
      {
        extraOutputs: [
          {
            script: buildV0OpReturn({
              tag: Uint8Array.of(9, 9, 9, 9),
              stakerKey: fp.xOnly,
              fpKey: staker.xOnly,
              stakingTime: 7,
            }),
            valueSat: 0n,
          },
        ],
      },
      'STAKING_MULTIPLE_OP_RETURN',
    ],
    ['two staking outputs', { duplicateStakingOutput: true }, 'STAKING_MULTIPLE_STAKING_OUTPUTS'],
    [
      'the staker key as finality provider',
      {
        opReturnScript: buildV0OpReturn({
          tag: Uint8Array.of(1, 2, 3, 4),
          stakerKey: staker.xOnly,
          fpKey: staker.xOnly,
          stakingTime: 10,
        }),
      },
      'STAKING_DUPLICATE_KEYS',
    ],
  ] as const)(
    'an invalid stake (%s) is counted with its reason, not stored, no event',
    (_w, over, reason) => {
      const s = stake(over as Partial<StakeArgs>);
      const r = block(120, [s.tx]);
      expect(r.events).toEqual([]);
      expect(r.stats.rejections).toEqual([{ txType: 'confirmed_staking_transaction', reason, txid: s.txid }]);
      expect(state.delegation(s.txid)).toBeUndefined();
      expect(state.tvl).toBe(0);
    },
  );

  it('a tx with another tag, OP_RETURN version 1, or two tagged OP_RETURNs is not Babylon’s business (not counted)', () => {
    const wrongTag = stake({
      opReturnScript: buildV0OpReturn({
        tag: Uint8Array.of(9, 9, 9, 9),
        stakerKey: staker.xOnly,
        fpKey: fp.xOnly,
        stakingTime: 10,
      }),
    });
    const v1Script = buildV0OpReturn({
      tag: v0.tag,
      stakerKey: staker.xOnly,
      fpKey: fp.xOnly,
      stakingTime: 10,
    });
    v1Script[6] = 1;
    const version1 = stake({ opReturnScript: v1Script });
    const twice = stake();
    twice.tx.addOutput(twice.tx.outs[1]!.script, 0n);
    const r = block(120, [wrongTag.tx, version1.tx, twice.tx]);
    expect(r.events).toEqual([]);
    expect(r.stats.rejections).toEqual([]);
  });
});

describe('unbonding and withdraw', () => {
  it('unbonding an active stake: event, TVL −value, expiry of the unbonding output scheduled', () => {
    const s = stake();
    block(120, [s.tx]);
    const u = buildUnbonding(s, covenants);
    const r = block(122, [u.tx]);
    expect(r.events).toEqual([
      expect.objectContaining({
        event_type: EVENT_TYPE_OF_KIND.unbonding,
        event_id: `${s.txid}:unbonding`,
        unbonding_start_height: 122,
        unbonding_timelock: 3,
        unbonding_output_index: 0,
        unbonding_tx_hash_hex: u.txid,
        unbonding_tx_hex: u.tx.toHex(),
      }),
    ]);
    expect(state.tvl).toBe(0);
    expect(state.delegation(s.txid)).toMatchObject({ state: 'unbonding', unbondingTxid: u.txid });
    expect(state.expiriesAt(125)).toEqual([{ height: 125, stakingTxid: s.txid, type: 'unbonding' }]);
  });

  it('unbonding an overflow stake: event, TVL unchanged', () => {
    const big = stake({ valueSat: 200_000n });
    const big2 = stake({ valueSat: 150_000n });
    const over = stake({ valueSat: 50_000n });
    block(120, [big.tx, big2.tx, over.tx]);
    expect(state.delegation(over.txid)?.isOverflow).toBe(true);
    const r = block(121, [buildUnbonding(over, covenants).tx]);
    expect(kinds(r.events)).toEqual(['unbonding']);
    expect(state.tvl).toBe(350_000);
  });

  it('stake and its unbonding in the same block', () => {
    const s = stake();
    const r = block(120, [s.tx, buildUnbonding(s, covenants).tx]);
    expect(kinds(r.events)).toEqual(['active', 'unbonding']);
    expect(state.tvl).toBe(0);
  });

  it.each([
    ['sequence not final', { sequence: 0xfffffffe }, 'STAKING_UNBONDING_SEQUENCE'],
    ['lock time set', { locktime: 5 }, 'STAKING_UNBONDING_LOCKTIME'],
    ['wrong value (fee)', { valueDelta: -1n }, 'STAKING_UNBONDING_WRONG_VALUE'],
    ['another output script', { outputScript: Uint8Array.of(0x51) }, 'STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT'],
  ] as const)(
    'an invalid unbonding (%s) is counted, emits nothing and keeps the TVL',
    (_w, change, reason) => {
      const s = stake();
      block(120, [s.tx]);
      const u = buildUnbonding(s, covenants, change);
      const r = block(121, [u.tx]);
      expect(r.events).toEqual([]);
      expect(r.stats.rejections).toEqual([
        { txType: 'confirmed_unbonding_transactions', reason, txid: u.txid },
      ]);
      expect(state.tvl).toBe(100_000);
      expect(state.delegation(s.txid)?.state).toBe('active');
    },
  );

  it('withdraw through the staking timelock leaf: event; TVL is not reduced (reference §8)', () => {
    const s = stake();
    block(120, [s.tx]);
    const w = buildWithdrawFromStaking(s);
    const r = block(131, [w]);
    expect(r.events).toEqual([
      expect.objectContaining({
        event_type: EVENT_TYPE_OF_KIND.withdraw,
        event_id: `${s.txid}:withdraw`,
        withdraw_tx_hash_hex: w.getId(),
        withdraw_tx_btc_height: 131,
        withdraw_from: 'staking',
      }),
    ]);
    expect(state.tvl).toBe(100_000);
    expect(state.delegation(s.txid)?.state).toBe('withdrawn');
  });

  it('withdraw from the unbonding output', () => {
    const s = stake();
    block(120, [s.tx]);
    const u = buildUnbonding(s, covenants);
    block(121, [u.tx]);
    // Unbonded at 121 with unbonding_time 3: expiry and the earliest withdraw are both at 124.
    const r = block(124, [buildWithdrawFromUnbonding(s, u)]);
    expect(kinds(r.events)).toEqual(['expired:unbonding', 'withdraw']);
    expect(r.events[1]).toMatchObject({ withdraw_from: 'unbonding' });
  });

  it('a slashing-path spend of the staking output is an unknown spend, counted, no event', () => {
    const s = stake();
    block(120, [s.tx]);
    const spend = buildSlashingPathSpend(s);
    const r = block(121, [spend]);
    expect(r.events).toEqual([]);
    expect(r.stats.rejections).toEqual([
      { txType: 'confirmed_withdraw_staking_transactions', reason: 'UNKNOWN_SPEND', txid: spend.getId() },
    ]);
  });

  it('one tx withdrawing two stakes gives one event per stake', () => {
    const a = stake({ stakingTime: 5 });
    const b = stake({ stakingTime: 5 });
    block(120, [a.tx, b.tx]);
    const wa = buildWithdrawFromStaking(a);
    const wb = buildWithdrawFromStaking(b);
    const both = new Transaction();
    both.version = 2;
    both.addInput(wa.ins[0]!.hash, wa.ins[0]!.index, wa.ins[0]!.sequence);
    both.addInput(wb.ins[0]!.hash, wb.ins[0]!.index, wb.ins[0]!.sequence);
    both.ins[0]!.witness = wa.ins[0]!.witness;
    both.ins[1]!.witness = wb.ins[0]!.witness;
    both.addOutput(Uint8Array.of(0x51), 1000n);
    const r = block(125, [both]);
    expect(r.events.map((e) => e.event_id)).toEqual(
      [`${a.txid}:expired:active`, `${b.txid}:expired:active`]
        .sort()
        .concat([`${a.txid}:withdraw`, `${b.txid}:withdraw`]),
    );
  });

  it('a spend of an unknown output, or of an invalid stake, is ignored', () => {
    const bad = stake({ valueSat: 5_000n });
    block(120, [bad.tx]);
    const r = block(121, [buildUnbonding(bad, covenants).tx, buildWithdrawFromStaking(stake())]);
    expect(r.events).toEqual([]);
    expect(r.stats.rejections).toEqual([]);
  });
});

describe('spend rules of a stored delegation (expectationOf)', () => {
  it('are what the staking/ builders give for its keys, time, value and params version', () => {
    const d = {
      stakingTxid: 'ab'.repeat(32),
      stakingOutputIndex: 1,
      valueSat: 100_000,
      stakerKeyHex: toHex(staker.xOnly),
      fpKeyHex: toHex(fp.xOnly),
      stakingTime: 10,
      inclusionHeight: 150,
      paramsVersion: 0,
      isOverflow: false,
      state: 'active' as const,
    };
    const rules = expectationOf(d, params)!;
    const keys = {
      stakerKey: staker.xOnly,
      fpKeys: [fp.xOnly],
      covenantKeys: v0.covenantKeys,
      covenantQuorum: v0.covenantQuorum,
    };
    const info = buildStakingInfo(keys, 10);
    const unbonding = buildUnbondingInfo(keys, v0.unbondingTime);
    const want = expectUnbonding(
      d.stakingTxid,
      {
        stakerKey: staker.xOnly,
        fpKey: fp.xOnly,
        stakingTime: 10,
        valueSat: 100_000n,
        stakingOutputIndex: 1,
        opReturnIndex: -1,
        paramsVersion: 0,
        stakingInfo: info,
      },
      v0,
    );
    const e = rules.exp;
    expect({
      stakingTxid: e.stakingTxid,
      stakingOutputIndex: e.stakingOutputIndex,
      stakingValueSat: e.stakingValueSat,
      stakingPkScript: e.stakingPkScript,
      unbondingLeafScript: e.unbondingLeafScript,
      unbondingLeafHash: e.unbondingLeafHash,
      unbondingPkScript: e.unbondingInfo.pkScript,
      unbondingValueSat: e.unbondingValueSat,
      unbondingFeeSat: e.unbondingFeeSat,
    }).toEqual({
      stakingTxid: want.stakingTxid,
      stakingOutputIndex: want.stakingOutputIndex,
      stakingValueSat: want.stakingValueSat,
      stakingPkScript: want.stakingPkScript,
      unbondingLeafScript: want.unbondingLeafScript,
      unbondingLeafHash: want.unbondingLeafHash,
      unbondingPkScript: want.unbondingInfo.pkScript,
      unbondingValueSat: want.unbondingValueSat,
      unbondingFeeSat: want.unbondingFeeSat,
    });
    for (const [leaf, built] of [
      [rules.stakingTimelockLeaf, info.timelock],
      [rules.unbondingTimelockLeaf, unbonding.timelock],
    ] as const) {
      expect([leaf.script, leaf.leafHash, leaf.controlBlock]).toEqual([
        built.script,
        built.leafHash,
        built.controlBlock,
      ]);
    }
  });
});

describe('expiry', () => {
  // Expiry height = start height + timelock; emitted when that height's block is processed (confirmed).
  it('emits expired:active exactly once, at inclusion height + staking time', () => {
    const s = stake({ stakingTime: 10 });
    block(120, [s.tx]);
    const seen = [];
    for (let h = 121; h <= 135; h++) seen.push(...block(h, []).events.map((e) => [h, e.event_id]));
    expect(seen).toEqual([[130, `${s.txid}:expired:active`]]);
    expect(state.delegation(s.txid)?.expiredActive).toBe(true);
  });

  it('an expired active stake can still be unbonded, and then expires as unbonding', () => {
    const s = stake({ stakingTime: 5 });
    block(120, [s.tx]);
    expect(kinds(block(125, []).events)).toEqual(['expired:active']);
    expect(kinds(block(126, [buildUnbonding(s, covenants).tx]).events)).toEqual(['unbonding']);
    expect(block(128, []).events).toEqual([]);
    expect(kinds(block(129, []).events)).toEqual(['expired:unbonding']);
  });

  it('a stake unbonded before its timelock never emits expired:active', () => {
    const s = stake({ stakingTime: 10 });
    block(120, [s.tx]);
    block(121, [buildUnbonding(s, covenants).tx]);
    const all = [];
    for (let h = 122; h <= 132; h++) all.push(...kinds(block(h, []).events));
    expect(all).toEqual(['expired:unbonding']);
  });

  it('expired precedes a withdraw in the block that reaches the timelock', () => {
    const s = stake({ stakingTime: 10 });
    block(120, [s.tx]);
    expect(kinds(block(130, [buildWithdrawFromStaking(s)]).events)).toEqual(['expired:active', 'withdraw']);
  });
});

describe('unconfirmed TVL (btc-info)', () => {
  const win = (height: number, txs: Transaction[]): BlockInput => ({
    height,
    hash: `w${height}`,
    time: 0,
    txs,
  });

  it('adds every valid stake in the window ignoring the cap, and subtracts active stakes unbonded in it', () => {
    const a = stake({ valueSat: 200_000n });
    const b = stake({ valueSat: 100_000n });
    block(120, [a.tx, b.tx]); // TVL 300 000 = cap
    const c = stake({ valueSat: 150_000n }); // would overflow, still counted
    const r = computeUnconfirmedTvl(
      params,
      [win(121, [c.tx]), win(122, [buildUnbonding(a, covenants).tx])],
      state,
    );
    expect(r.unconfirmedTvl).toBe(300_000 + 150_000 - 200_000);
    expect(state.tvl).toBe(300_000); // nothing written
  });

  it('can be below the confirmed TVL, and counts invalid window txs', () => {
    const a = stake({ valueSat: 200_000n });
    block(120, [a.tx]);
    const bad = stake({ valueSat: 5n });
    const r = computeUnconfirmedTvl(params, [win(121, [buildUnbonding(a, covenants).tx, bad.tx])], state);
    expect(r.unconfirmedTvl).toBe(0);
    expect(r.rejections).toEqual([
      {
        txType: 'unconfirmed_staking_transaction',
        reason: 'STAKING_VALUE_OUT_OF_RANGE',
        txid: bad.txid,
        blockHash: 'w121',
      },
    ]);
  });

  it('a window stake unbonded in the window cancels out', () => {
    const s = stake();
    const r = computeUnconfirmedTvl(
      params,
      [win(121, [s.tx]), win(122, [buildUnbonding(s, covenants).tx])],
      state,
    );
    expect(r.unconfirmedTvl).toBe(0);
  });
});

describe('raw blocks', () => {
  it('the scan reads the header and counts transactions as bitcoinjs does', () => {
    const txs = [stake().tx, stake().tx];
    const raw = rawBlock(txs);
    const parsed = Block.fromBuffer(raw);
    expect(readHeader(raw)).toEqual({
      hashHex: parsed.getId(),
      prevHashHex: '07'.repeat(32),
      time: 1_700_000_123,
    });
    const it = scanBlock(raw, { tag: v0.tag, mayTrack: () => false });
    const found: number[] = [];
    let r = it.next();
    while (!r.done) {
      found.push(r.value.index);
      expect(toHex(r.value.bytes)).toBe(parsed.transactions![r.value.index]!.toHex());
      r = it.next();
    }
    expect(r.value).toBe(3);
    expect(found).toEqual([1, 2]);
  });

  it('decodes only candidates, yet decides exactly as with every tx decoded, with or without a prescan', () => {
    const s = stake({ stakingTime: 5 });
    const tooSmall = stake({ valueSat: 1_000n });
    const noise = new Transaction();
    noise.addInput(new Uint8Array(32).fill(3), 1);
    noise.addOutput(Uint8Array.of(0x6a, 0x01, 0x00), 0n);
    const u = buildUnbonding(s, covenants);
    const blocks: Array<[number, Transaction[]]> = [
      [120, [noise, s.tx, u.tx, stake().tx, tooSmall.tx]],
      [121, [noise]],
      [126, [buildWithdrawFromUnbonding(s, u)]],
    ];
    const viaTxs = new MemoryState();
    const viaRaw = new MemoryState();
    const viaPrescan = new MemoryState();
    // As on the fetch thread: one filter carried from block to block, from the empty state's.
    const maybeTracked = new Set<number>();
    for (const [height, txs] of blocks) {
      const a = processBlock(params, { height, hash: 'x', time: 1_700_000_123, txs }, viaTxs);
      viaTxs.apply(a.writes);
      const raw = rawBlock(txs);
      const b = processBlock(params, { height, hash: 'x', time: 1_700_000_123, raw }, viaRaw);
      viaRaw.apply(b.writes);
      const prescan = preScanBlock(params, height, raw, maybeTracked);
      const c = processBlock(params, { height, hash: 'x', time: 1_700_000_123, raw, prescan }, viaPrescan);
      viaPrescan.apply(c.writes);
      expect(b.events).toEqual(a.events);
      expect(c.events).toEqual(a.events);
      expect(c.stats).toEqual(b.stats);
      expect(b.stats.decoded).toBeLessThan(txs.length + 1);
    }
    expect(viaRaw.tvl).toBe(viaTxs.tvl);
    expect(viaPrescan.tvl).toBe(viaTxs.tvl);
    expect([...viaRaw.delegations.values()]).toEqual([...viaTxs.delegations.values()]);
    expect([...viaPrescan.delegations.values()]).toEqual([...viaTxs.delegations.values()]);
    expect(viaPrescan.tvl).toBe(100_000); // s unbonded; the other valid stake; tooSmall rejected
  });

  it('a prescan started from the state’s filter finds the spends of stakes made before it, block after block', () => {
    const older = stake({ stakingTime: 5 });
    const later = stake({ stakingTime: 5 });
    const u = buildUnbonding(older, covenants);
    const first = processBlock(params, { height: 120, hash: 'x', time: 1, txs: [older.tx] }, state);
    state.apply(first.writes);
    const viaTxs = new MemoryState();
    viaTxs.apply(first.writes);
    // The range starts after block 120: its filter is the state's.
    const maybeTracked = new Set(state.prefixes);
    const blocks: Array<[number, Transaction[]]> = [
      [121, [later.tx, u.tx]],
      [125, [buildWithdrawFromUnbonding(older, u), buildWithdrawFromStaking(later)]],
    ];
    const events: UnsequencedEvent[] = [];
    for (const [height, txs] of blocks) {
      const a = processBlock(params, { height, hash: 'x', time: 1, txs }, viaTxs);
      viaTxs.apply(a.writes);
      const raw = rawBlock(txs);
      const prescan = preScanBlock(params, height, raw, maybeTracked);
      const r = processBlock(params, { height, hash: 'x', time: 1, raw, prescan }, state);
      state.apply(r.writes);
      expect(r.events).toEqual(a.events);
      events.push(...r.events);
    }
    expect(kinds(events)).toEqual(['active', 'unbonding', 'withdraw', 'withdraw']);
    expect([...state.delegations.values()]).toEqual([...viaTxs.delegations.values()]);
    expect([...state.delegations.values()].map((d) => d.state)).toEqual(['withdrawn', 'withdrawn']);
  });

  it('the prescan filter grows by the tagged txs and the one-input, one-output spends it passes, no more', () => {
    const s = stake();
    const tooSmall = stake({ valueSat: 1_000n });
    const u = buildUnbonding(s, covenants);
    // A spend of s's staking output with two outputs: never an unbonding, so never tracked.
    const split = stake({ funding: { txid: s.txid, vout: s.data.stakingOutputIndex, valueSat: 100_000n } });
    const maybeTracked = new Set<number>();
    // Every tagged tx, valid or not: the walk grows the filter before (or without) the verdicts.
    preScanBlock(params, 120, rawBlock([tooSmall.tx, s.tx]), maybeTracked);
    expect([...maybeTracked]).toEqual([txidPrefix(tooSmall.txid), txidPrefix(s.txid)]);
    const grown = new Set([txidPrefix(s.txid)]);
    preScanBlock(params, 121, rawBlock([split.tx]), grown);
    expect([...grown]).toEqual([txidPrefix(s.txid), txidPrefix(split.txid)]); // tagged
    const spendsOnly = new Set([txidPrefix(s.txid)]);
    const withU = preScanBlock(params, 121, rawBlock([u.tx]), spendsOnly);
    expect([...spendsOnly]).toEqual([txidPrefix(s.txid), txidPrefix(u.tx.getId())]);
    // Hashed for the filter, its txid goes with it (the processor does not hash it again).
    expect(withU.candidates.map((c) => c.txid)).toEqual([u.tx.getId()]);
    const twoOuts = buildUnbonding(s, covenants).tx;
    twoOuts.addOutput(Uint8Array.of(0x51), 1n);
    const noGrowth = new Set([txidPrefix(s.txid)]);
    const p = preScanBlock(params, 121, rawBlock([twoOuts]), noGrowth);
    expect([...noGrowth]).toEqual([txidPrefix(s.txid)]);
    expect(p.candidates.map((c) => [c.index, c.spends, c.tagged, c.inputs, c.outputs])).toEqual([
      [1, true, false, 1, 2],
    ]);
  });

  it('a range prescan carries its filter from block to block, and gives up for good at a block that does not parse', () => {
    const s = stake({ stakingTime: 5 });
    const u = buildUnbonding(s, covenants);
    const carried = new RangePrescan(params, []);
    expect(carried.next(120, rawBlock([s.tx]))?.candidates.map((c) => c.index)).toEqual([1]);
    const spend = carried.next(121, rawBlock([u.tx]));
    expect(spend?.candidates.map((c) => [c.index, c.spends, c.txid])).toEqual([[1, true, u.tx.getId()]]);

    const broken = new RangePrescan(params, []);
    expect(broken.next(120, rawBlock([s.tx]))).toBeDefined();
    const truncated = rawBlock([stake().tx]);
    expect(broken.next(121, truncated.subarray(0, truncated.length - 3))).toBeUndefined();
    // The truncated block's outputs may be missing from the filter: no later block is prescanned.
    expect(broken.next(122, rawBlock([u.tx]))).toBeUndefined();
  });

  it('a stake decided beforehand is decoded again only when an input may spend a tracked output', () => {
    const s = stake({ stakingTime: 5 });
    // A second stake funded by s's staking output: a valid stake and an (unknown) spend at once.
    const both = stake({ funding: { txid: s.txid, vout: s.data.stakingOutputIndex, valueSat: 100_000n } });
    const decodes = vi.mocked(decodeTransaction);
    const decide = (height: number, txs: Transaction[]) => {
      const raw = rawBlock(txs);
      const prescan = preScanBlock(params, height, raw, new Set(state.prefixes)); // as on the fetch thread
      decodes.mockClear();
      const r = processBlock(params, { height, hash: 'x', time: 1, raw, prescan }, state);
      state.apply(r.writes);
      return { r, decodes: decodes.mock.calls.length };
    };
    const first = decide(120, [stake().tx, s.tx]);
    expect(first.r.stats).toMatchObject({ decoded: 2, staking: { active: 2 } });
    expect(first.decodes).toBe(0);
    const second = decide(121, [both.tx]);
    expect(second.decodes).toBe(1);
    expect(kinds(second.r.events)).toEqual(['active']);
    expect(second.r.stats.rejections).toEqual([
      { txType: 'confirmed_withdraw_staking_transactions', reason: 'UNKNOWN_SPEND', txid: both.txid },
    ]);
    expect(state.delegation(s.txid)?.state).toBe('active');
    expect(state.tracked(stakingOutpointKey(s.txid, s.data.stakingOutputIndex))).toBeUndefined();
  });

  it('the prescan: each candidate by position, with its verdict, and what decides the block', () => {
    const valid = stake();
    const tooSmall = stake({ valueSat: 1_000n });
    const raw = rawBlock([valid.tx, tooSmall.tx]);
    const p = preScanBlock(params, 120, raw, new Set());
    expect(p.txCount).toBe(3);
    expect(p.candidates.map((c) => c.index)).toEqual([1, 2]);
    expect(p.candidates[0]!.stake).toMatchObject({
      kind: 'valid',
      txid: valid.txid,
      valueSat: 100_000,
      stakingTime: 10,
    });
    expect(p.candidates[1]!.stake).toEqual({
      kind: 'rejected',
      txid: tooSmall.txid,
      code: 'STAKING_VALUE_OUT_OF_RANGE',
    });
    // Below the first activation there is no tag: nothing is a candidate.
    expect(preScanBlock(params, 99, raw, new Set()).candidates).toEqual([]);
    // A candidate without a verdict is not staking: the processor does not decide it again.
    const unjudged = { ...p, candidates: p.candidates.map((c) => ({ ...c, stake: undefined })) };
    const r = processBlock(params, { height: 120, hash: 'x', time: 0, raw, prescan: unjudged }, state);
    expect(r.events).toEqual([]);
    expect(r.stats.rejections).toEqual([]);
    expect(r.stats.decoded).toBe(2);
  });

  it('hashes the txid of a candidate, with or without witnesses, as bitcoinjs does', () => {
    const s = stake();
    const withWitness = buildUnbonding(s, covenants).tx;
    expect(withWitness.hasWitnesses()).toBe(true);
    expect(s.tx.hasWitnesses()).toBe(false);
    const raw = rawBlock([s.tx, withWitness]);
    const txs = Block.fromBuffer(raw).transactions!;
    const ids = [...scanBlock(raw, { tag: v0.tag, mayTrack: () => true })].map(candidateTxid);
    expect(ids).toEqual(txs.map((t) => t.getId()));
  });

  it('refuses a truncated block with INDEXER_BAD_BLOCK', () => {
    const raw = rawBlock([stake().tx]);
    expect(() => [
      ...scanBlock(raw.subarray(0, raw.length - 3), { tag: v0.tag, mayTrack: () => false }),
    ]).toThrow(expect.objectContaining({ code: 'INDEXER_BAD_BLOCK' }));
  });

  it('the txid prefix of the prefilter matches the internal-order hash prefix, a small integer', () => {
    const tx = stake().tx;
    expect(txidPrefix(tx.getId())).toBe(hashPrefix(tx.getHash(), 0));
    // Every bit that is kept, and only those: all-ones in the first four bytes gives 2^30 − 1.
    const ones = new Uint8Array(32).fill(0xff);
    expect(hashPrefix(ones, 0)).toBe(0x3fffffff);
    expect(txidPrefix('ff'.repeat(32))).toBe(0x3fffffff);
    const h = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 0x81);
    expect(txidPrefix(hashToTxid(h))).toBe(hashPrefix(h, 0));
  });
});
