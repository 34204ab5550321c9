import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApi, startApi } from '../../api/app.ts';
import { applyEvent } from '../../api/apply.ts';
import { replayReferenceDeadLetters } from '../../api/replay.ts';
import {
  activeEvent,
  expiredEvent,
  makeStake,
  testApiConfig,
  unbondingEvent,
  withdrawEvent,
} from '../../api/testkit.ts';
import { type RegtestNode, startRegtestNode } from '../../bitcoind/index.ts';
import {
  createScratchDatabase,
  getDelegation,
  listDeadLetters,
  readBtcInfo,
  readOverallStats,
  type ScratchDatabase,
} from '../../db/index.ts';
import {
  connectBroker,
  declareReferenceQueue,
  declareTopology,
  deleteReferenceTopology,
  deleteTopology,
  openConsumerChannel,
  REFERENCE_KINDS,
  type ReferenceNames,
  referenceNames,
  topologyNames,
} from '../../events/index.ts';
import { type RunningIndexer, startIndexer } from '../../indexer/app.ts';
import { ChainKit } from '../../indexer/testkit/chain.ts';
import { quietLogger, type TestSetup, testSetup } from '../../indexer/testkit/harness.ts';
import { buildStake, buildUnbonding, buildWithdrawFromUnbonding } from '../../indexer/testkit/txs.ts';
import { parseGlobalParams } from '../../params/index.ts';
import { sharedBroker } from '../infra/rabbitmq.ts';
import { testKey, testParamsDoc } from '../keys.ts';

/**
 * Our services against the reference RabbitMQ contract, written from babylonchain/
 * staking-queue-client at commit 8c69691 ("Add confirmed info event (#27)"):
 * - client/rabbitmq_client.go: NewRabbitMqClient (the declarations), sendMessageWithAttempts
 *   (text/plain, persistent, mandatory, default exchange, `x-processing-attempts` int32),
 *   ReQueueMessage (`<q>_delay` with the delay as expiration);
 * - client/schema.go: the queue names and each event's JSON struct.
 * The declarations and messages below are the test's own, from those files, not our library's.
 */
const REF = 'babylonchain/staking-queue-client@8c69691';

/** client/schema.go: queue name of each event_type. */
const REF_QUEUES: Record<number, string> = {
  1: 'active_staking_queue',
  2: 'unbonding_staking_queue',
  3: 'withdraw_staking_queue',
  4: 'expired_staking_queue',
  5: 'staking_stats_queue',
  6: 'btc_info_queue',
  7: 'confirmed_info_queue',
};
/** client/schema.go: the json tags of each struct, in declaration order. */
const REF_KEYS: Record<number, string[]> = {
  1: [
    'event_type',
    'staking_tx_hash_hex',
    'staker_pk_hex',
    'finality_provider_pk_hex',
    'staking_value',
    'staking_start_height',
    'staking_start_timestamp',
    'staking_timelock',
    'staking_output_index',
    'staking_tx_hex',
    'is_overflow',
  ],
  2: [
    'event_type',
    'staking_tx_hash_hex',
    'unbonding_start_height',
    'unbonding_start_timestamp',
    'unbonding_timelock',
    'unbonding_output_index',
    'unbonding_tx_hex',
    'unbonding_tx_hash_hex',
  ],
  3: ['event_type', 'staking_tx_hash_hex'],
  4: ['event_type', 'staking_tx_hash_hex', 'tx_type'],
  5: [
    'event_type',
    'staking_tx_hash_hex',
    'staker_pk_hex',
    'finality_provider_pk_hex',
    'staking_value',
    'state',
  ],
  6: ['event_type', 'height', 'confirmed_tvl', 'unconfirmed_tvl'],
  7: ['event_type', 'height', 'tvl'],
};

/** NewRabbitMqClient, step by step, for one queue (the test prefixes every name, common_dlx too). */
async function referenceDeclare(
  ch: Channel,
  prefix: string,
  queue: string,
  queueType: string,
): Promise<void> {
  const dlx = `${prefix}common_dlx`;
  await ch.assertExchange(dlx, 'direct', { durable: true, arguments: { 'x-queue-type': queueType } });
  await ch.assertQueue(`${queue}_delay`, {
    durable: true,
    arguments: {
      'x-queue-type': queueType,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': queue,
    },
  });
  await ch.assertQueue(queue, {
    durable: true,
    arguments: {
      'x-queue-type': queueType,
      'x-dead-letter-exchange': dlx,
      'x-dead-letter-routing-key': `${queue}_routing_key`,
    },
  });
  await ch.bindQueue(`${queue}_delay`, dlx, `${queue}_routing_key`);
}

/** sendMessageWithAttempts: what a reference publisher (indexer, expiry checker, API) sends. */
function referenceSend(
  ch: ConfirmChannel,
  queue: string,
  body: unknown,
  attempts = 0,
  ttlMs = 0,
): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish(
      '',
      queue,
      Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
      {
        persistent: true,
        mandatory: true,
        contentType: 'text/plain',
        headers: { 'x-processing-attempts': { '!': 'int32', value: attempts } },
        ...(ttlMs > 0 ? { expiration: String(ttlMs) } : {}),
      },
      (err: unknown) => (err ? reject(err) : resolve()),
    );
  });
}

const pick = (o: Record<string, unknown>, keys: readonly string[]) =>
  Object.fromEntries(keys.map((k) => [k, o[k]]));

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

let broker: { url: string; destroy(): Promise<void> };
let conn: ChannelModel;
let admin: ConfirmChannel;

beforeAll(async () => {
  broker = await sharedBroker();
  conn = await connectBroker({ url: broker.url });
  conn.on('error', () => undefined);
  admin = await openConsumerChannel(conn);
}, 60_000);
afterAll(async () => {
  await conn?.close().catch(() => undefined);
  await broker?.destroy();
});

describe(`the reference topology's declarations (${REF}: client/rabbitmq_client.go NewRabbitMqClient)`, () => {
  it('ours (both topologies) and the reference declaration are equivalent; another queue type is refused (EVENTS_QUEUE_OUTDATED)', async () => {
    const prefix = `refdecl-${randomBytes(4).toString('hex')}.`;
    const names = referenceNames(prefix);
    const ordered = topologyNames(prefix);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    try {
      for (const k of REFERENCE_KINDS) await declareReferenceQueue(admin, names, names.queues[k], 'classic');
      // The reference's own declaration of the same queues finds them as it would declare them.
      for (const q of Object.values(REF_QUEUES))
        await referenceDeclare(ch, prefix, `${prefix}${q}`, 'classic');
      // The ordered topology's per-kind queues are the reference's too (this used to be a 406).
      await declareTopology(admin, { names: ordered, queueType: 'classic', referenceQueues: true });
      for (const q of Object.values(REF_QUEUES))
        await referenceDeclare(ch, prefix, `${prefix}${q}`, 'classic');
      // The reference's default type against our classic queue: refused, with our code.
      const ch2 = await conn.createConfirmChannel();
      ch2.on('error', () => undefined);
      const err = await declareReferenceQueue(ch2, names, names.queues.active, 'quorum').catch((e) => e);
      expect(err.code).toBe('EVENTS_QUEUE_OUTDATED');
      expect(err.message).toContain(names.queues.active);
      await ch2.close().catch(() => undefined);
    } finally {
      await ch.close().catch(() => undefined);
      const c = await openConsumerChannel(conn);
      await deleteTopology(c, ordered).catch(() => undefined);
      await deleteReferenceTopology(c, names).catch(() => undefined);
      await c.close().catch(() => undefined);
    }
  });

  it.each(['classic', 'quorum'] as const)(
    'the retry path (%s): a copy in <q>_delay with x-processing-attempts comes back to <q> after its expiration',
    async (queueType) => {
      const prefix = `refdelay-${randomBytes(4).toString('hex')}.`;
      const names = referenceNames(prefix);
      const q = names.queues.unbonding;
      try {
        await declareReferenceQueue(admin, names, q, queueType);
        const t0 = Date.now();
        await referenceSend(
          admin,
          `${q}_delay`,
          { event_type: 3, staking_tx_hash_hex: 'ab'.repeat(32) },
          2,
          300,
        );
        expect(await admin.checkQueue(q)).toMatchObject({ messageCount: 0 });
        let got: false | { content: Buffer; properties: { headers?: Record<string, unknown> } } = false;
        await until('the message back in its queue', async () => {
          got = await admin.get(q, { noAck: true });
          return got !== false;
        });
        expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
        const m = got as unknown as ConsumeMessage;
        expect(m.properties.headers?.['x-processing-attempts']).toBe(2);
        expect(m.properties.contentType).toBe('text/plain');
        expect(JSON.parse(m.content.toString())).toEqual({
          event_type: 3,
          staking_tx_hash_hex: 'ab'.repeat(32),
        });
      } finally {
        await deleteReferenceTopology(admin, names).catch(() => undefined);
      }
    },
  );
});

describe(`our indexer publishing the reference topology, read by a consumer written from ${REF} (client/schema.go, client/rabbitmq_client.go ReceiveMessages)`, () => {
  const covenants = ['refq-cov-a', 'refq-cov-b', 'refq-cov-c'].map(testKey);
  const staker = testKey('refq-staker');
  const fp = testKey('refq-fp');
  const paramsDoc = testParamsDoc(covenants, {
    activation_height: 111,
    unbonding_time: 3,
    confirmation_depth: 2,
  });
  let node: RegtestNode;
  let kit: ChainKit;
  let setup: TestSetup;
  let indexer: RunningIndexer;
  let ch: ConfirmChannel;
  const received: Array<{ queue: string; msg: ConsumeMessage; json: Record<string, unknown> }> = [];

  beforeAll(async () => {
    node = await startRegtestNode({ extraArgs: ['-rest=1'] });
    kit = await ChainKit.create(node); // tip 110
    setup = await testSetup(node, broker.url, paramsDoc, {
      topology: 'reference',
      confirmedInfoEvents: true,
    });
    ch = await openConsumerChannel(conn);
    // The reference consumer declares first: the indexer must then find exactly these queues.
    for (const q of Object.values(REF_QUEUES)) {
      const name = `${setup.prefix}${q}`;
      await referenceDeclare(ch, setup.prefix, name, 'classic');
      await ch.consume(
        name,
        (msg) => {
          if (!msg) return;
          received.push({ queue: q, msg, json: JSON.parse(msg.content.toString('utf8')) });
          ch.ack(msg);
        },
        { noAck: false },
      );
    }
    indexer = await startIndexer(setup.config, { logger: quietLogger() });
  }, 120_000);
  afterAll(async () => {
    await indexer?.stop();
    if (setup) {
      const c = await openConsumerChannel(conn);
      await deleteReferenceTopology(c, referenceNames(setup.prefix)).catch(() => undefined);
      // The ordered names were never declared in this mode: nothing of them may exist.
      const ordered = await c.checkQueue(setup.names.queue).then(
        () => true,
        () => false,
      );
      expect(ordered).toBe(false);
      await rm(setup.dir, { recursive: true, force: true });
    }
    await node?.stop();
  });

  it('active, unbonding, expired, withdraw and btc-info arrive on their queues as the reference’s structs, text/plain, attempts 0', async () => {
    const s = buildStake({
      version: parseGlobalParams(paramsDoc).versions[0]!,
      staker,
      fp,
      stakingTime: 50,
      valueSat: 100_000n,
      funding: kit.coin(),
    });
    await kit.mine([s.tx]);
    const ub = buildUnbonding(s, covenants);
    const { height: ubHeight } = await kit.mine([ub.tx]);
    await kit.mineTo(ubHeight + 2);
    await kit.mine([buildWithdrawFromUnbonding(s, ub)]);
    await kit.mineEmpty(2);
    const tip = await kit.height();
    await until(
      'the withdraw and the last btc-info',
      () =>
        received.some((r) => r.queue === REF_QUEUES[3]) &&
        received.some((r) => r.queue === REF_QUEUES[6] && r.json.height === tip),
    );
    for (const r of received) {
      const type = r.json.event_type as number;
      expect(REF_QUEUES[type], `event_type ${type} on ${r.queue}`).toBe(r.queue);
      // Exactly the reference struct's fields: no event_id, sequence or our additions.
      expect(Object.keys(r.json)).toEqual(REF_KEYS[type]);
      expect(r.msg.properties.contentType).toBe('text/plain');
      expect(r.msg.properties.deliveryMode).toBe(2);
      expect(r.msg.properties.headers?.['x-processing-attempts']).toBe(0);
      expect(r.msg.fields.exchange).toBe('');
    }
    const of = (type: number) => received.filter((r) => r.json.event_type === type).map((r) => r.json);
    expect(of(1)).toEqual([
      expect.objectContaining({ staking_tx_hash_hex: s.txid, staking_value: 100_000, is_overflow: false }),
    ]);
    expect(of(2)).toEqual([
      expect.objectContaining({
        staking_tx_hash_hex: s.txid,
        unbonding_tx_hash_hex: ub.txid,
        unbonding_start_height: ubHeight,
        unbonding_timelock: 3,
        unbonding_output_index: 0,
      }),
    ]);
    expect(of(4)).toEqual([{ event_type: 4, staking_tx_hash_hex: s.txid, tx_type: 'unbonding' }]);
    expect(of(3)).toEqual([{ event_type: 3, staking_tx_hash_hex: s.txid }]);
    // Never stats (5), as the reference indexer. Confirmed info (7), switched on here as the
    // reference's ExtraEventEnabled (staking-indexer indexer/indexer.go HandleConfirmedBlock at
    // 061726b): one per confirmed block, in order, with the confirmed TVL after it.
    expect(of(5)).toEqual([]);
    const confirmedTip = tip - 1; // confirmation depth 2
    const stakeHeight = ubHeight - 1;
    expect(of(7)).toEqual(
      Array.from({ length: confirmedTip - 111 + 1 }, (_, i) => ({
        event_type: 7,
        height: 111 + i,
        tvl: 111 + i === stakeHeight ? 100_000 : 0,
      })),
    );
    // Within one queue, chain order: btc-info heights never go down.
    const heights = of(6).map((j) => j.height as number);
    expect(heights).toEqual([...heights].sort((a, b) => a - b));
  }, 120_000);
});

describe(`our API consuming the reference topology (messages as ${REF} client/rabbitmq_client.go sendMessageWithAttempts sends them)`, () => {
  let scratch: ScratchDatabase;
  let api: RunningApi;
  let prefix: string;
  let names: ReferenceNames;
  const REQUEUE_MS = 300;
  const queueOf = (type: number) => `${prefix}${REF_QUEUES[type]}`;
  /** The reference JSON of one of our test events: the reference struct's fields only. */
  const ref = (e: object) => {
    const o = e as Record<string, unknown>;
    return pick(o, REF_KEYS[o.event_type as number]!);
  };

  beforeAll(async () => {
    prefix = `refapi-${randomBytes(4).toString('hex')}.`;
    names = referenceNames(prefix);
    scratch = await createScratchDatabase('ref_queues');
    api = await startApi(
      testApiConfig({
        dbUrl: scratch.url,
        queue: { url: broker.url, prefix, maxAttempts: 4, retryDelayMs: 30, prefetch: 1 },
        env: { API__RABBITMQ__TOPOLOGY: 'reference', API__RABBITMQ__REQUEUE_DELAY_MS: String(REQUEUE_MS) },
      }),
    );
    await until('the API consuming every reference queue', async () => {
      const counts = await Promise.all(Object.values(names.queues).map((q) => admin.checkQueue(q)));
      return counts.every((c) => c.consumerCount === 1);
    });
  }, 60_000);
  afterAll(async () => {
    await api?.stop();
    await deleteReferenceTopology(admin, names).catch(() => undefined);
    await scratch?.drop();
  });

  it('an unbonding before its active is retried through <q>_delay and applied; a duplicate active counts once', async () => {
    const s = makeStake('ref-early-unbond', { valueSat: 70_000 });
    const t0 = Date.now();
    await referenceSend(admin, queueOf(2), ref(unbondingEvent(s.txid, { sequence: 0 })));
    // Let the unbonding fail once, so it waits in the delay queue.
    await until(
      'the unbonding re-queued',
      async () => (await admin.checkQueue(`${queueOf(2)}_delay`)).messageCount === 1,
    );
    const active = ref(activeEvent(s, { sequence: 0 }));
    await referenceSend(admin, queueOf(1), active);
    await referenceSend(admin, queueOf(1), active);
    await until(
      'the unbonding applied',
      async () => (await getDelegation(api.db, s.txid))?.state === 'unbonding',
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(REQUEUE_MS - 50);
    const stats = await readOverallStats(api.db);
    expect(stats).toMatchObject({
      totalDelegations: 1,
      totalTvl: 70_000,
      activeTvl: 0,
      activeDelegations: 0,
    });
    expect(await listDeadLetters(api.db)).toEqual([]);
  });

  it('a withdraw without the spending tx (the reference’s struct) after expired, published in reverse order, ends withdrawn', async () => {
    const s = makeStake('ref-withdraw', { valueSat: 40_000, stakingTime: 10 });
    await referenceSend(admin, queueOf(3), ref(withdrawEvent(s.txid, 'staking', { sequence: 0 })));
    await referenceSend(admin, queueOf(4), ref(expiredEvent(s.txid, 'active', { sequence: 0 })));
    await referenceSend(admin, queueOf(1), ref(activeEvent(s, { sequence: 0 })));
    await until('withdrawn', async () => (await getDelegation(api.db, s.txid))?.state === 'withdrawn');
    const d = await getDelegation(api.db, s.txid);
    expect(d?.withdrawTxHashHex ?? null).toBeNull();
  });

  it('stats (5) and confirmed info (7) are acknowledged without error and change nothing; btc-info (6) is applied', async () => {
    const before = await readOverallStats(api.db);
    const s = makeStake('ref-stats');
    await referenceSend(admin, queueOf(5), {
      event_type: 5,
      staking_tx_hash_hex: s.txid,
      staker_pk_hex: Buffer.from(s.staker.xOnly).toString('hex'),
      finality_provider_pk_hex: Buffer.from(s.fp.xOnly).toString('hex'),
      staking_value: 5_000,
      state: 'active',
    });
    await referenceSend(admin, queueOf(7), { event_type: 7, height: 150, tvl: 123 });
    await referenceSend(admin, queueOf(6), {
      event_type: 6,
      height: 151,
      confirmed_tvl: 110_000,
      unconfirmed_tvl: 120_000,
    });
    const ignored = async (kind: string) =>
      (await api.metrics.events.get()).values.find(
        (v) => v.labels.kind === kind && v.labels.outcome === 'ignored',
      )?.value ?? 0;
    await until(
      'stats and confirmed info acknowledged, btc-info applied',
      async () =>
        (await ignored('stats')) === 1 &&
        (await ignored('confirmed-info')) === 1 &&
        (await readBtcInfo(api.db))?.height === 151,
    );
    for (const t of [5, 6, 7]) {
      expect((await admin.checkQueue(queueOf(t))).messageCount).toBe(0);
      expect((await admin.checkQueue(`${queueOf(t)}_delay`)).messageCount).toBe(0);
    }
    // The ordered topology's confirmed-info (event 7 with an id) is acknowledged alike.
    expect(
      await applyEvent(api.db, {
        event_type: 7,
        event_id: 'confirmed-info:150',
        sequence: 1,
        height: 150,
        tvl: 123,
      }),
    ).toBe('ignored');
    await api.consumer!.refreshLag();
    expect(api.consumer!.status.queue).toEqual({ eventsBehind: 0, consumers: 1, deadLetters: 0 });
    expect(await readOverallStats(api.db)).toEqual(before);
    expect(await listDeadLetters(api.db)).toEqual([]);
  });

  it('an event that never fits is given up after max_attempts deliveries, each through <q>_delay, and recorded with its id', async () => {
    const txid = 'cd'.repeat(32);
    const t0 = Date.now();
    await referenceSend(admin, queueOf(2), ref(unbondingEvent(txid, { sequence: 0 })));
    await until(
      'the dead letter',
      async () => (await listDeadLetters(api.db)).some((d) => d.eventId === `${txid}:unbonding`),
      20_000,
    );
    // Four deliveries: the first and three retries, each after the delay.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3 * REQUEUE_MS - 50);
    const [dl] = (await listDeadLetters(api.db)).filter((d) => d.eventId === `${txid}:unbonding`);
    expect(dl?.reason).toMatch(/^failed on delivery 4: API_EVENT_OUT_OF_ORDER/);
    expect(dl?.routingKey).toBe(queueOf(2));
    expect(JSON.parse(dl!.body)).toMatchObject({ event_type: 2, staking_tx_hash_hex: txid });
    expect((await admin.checkQueue(queueOf(2))).messageCount).toBe(0);
    expect((await admin.checkQueue(`${queueOf(2)}_delay`)).messageCount).toBe(0);
  });

  it('a body that is not its queue’s reference JSON is given up at once, not retried', async () => {
    await referenceSend(admin, queueOf(1), { event_type: 2, staking_tx_hash_hex: 'ef'.repeat(32) });
    await until('the dead letter', async () =>
      (await listDeadLetters(api.db)).some((d) => /EVENTS_INVALID/.test(d.reason)),
    );
    expect((await admin.checkQueue(`${queueOf(1)}_delay`)).messageCount).toBe(0);
  });
  it('replay-dead-letters in the reference topology sends a given-up event back to its queue (as the reference API’s --replay)', async () => {
    const s = makeStake('ref-replay', { valueSat: 30_000 });
    const id = `${s.txid}:unbonding`;
    await referenceSend(admin, queueOf(2), ref(unbondingEvent(s.txid, { sequence: 0 })));
    await until(
      'given up',
      async () => (await listDeadLetters(api.db)).some((d) => d.eventId === id),
      20_000,
    );
    await referenceSend(admin, queueOf(1), ref(activeEvent(s, { sequence: 0 })));
    await until('active', async () => (await getDelegation(api.db, s.txid))?.state === 'active');
    const r = await replayReferenceDeadLetters({ url: broker.url, names, queueType: 'classic', db: api.db });
    expect(r.replayed).toContain(id);
    // The malformed body of the previous test stays: a replay would only give it up again.
    expect(r.kept).toBeGreaterThanOrEqual(1);
    await until(
      'the replayed unbonding applied',
      async () => (await getDelegation(api.db, s.txid))?.state === 'unbonding',
    );
    expect((await listDeadLetters(api.db)).some((d) => d.eventId === id)).toBe(false);
  });
});
