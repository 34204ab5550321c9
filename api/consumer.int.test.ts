import { randomBytes } from 'node:crypto';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createScratchDatabase,
  getDelegation,
  listDeadLetters,
  readOverallStats,
  type ScratchDatabase,
} from '../db/index.ts';
import {
  connectBroker,
  DEAD_LETTER_REASON_HEADER,
  deleteTopology,
  EventPublisher,
  openConsumerChannel,
  type StakingEvent,
  type TopologyNames,
  topologyNames,
} from '../events/index.ts';
import { sharedBroker } from '../test/infra/rabbitmq.ts';
import { testKey } from '../test/keys.ts';
import { type RunningApi, startApi } from './app.ts';
import { replayDeadLetters } from './replay.ts';
import {
  activeEvent,
  btcInfoEvent,
  expiredEvent,
  makeStake,
  testApiConfig,
  unbondingEvent,
  withdrawEvent,
} from './testkit.ts';

/** The consumer against a real RabbitMQ and a real PostgreSQL: its own topology prefix and database. */
let broker: { url: string; destroy(): Promise<void> };
let names: TopologyNames;
let prefix: string;
let conn: ChannelModel;
let admin: ConfirmChannel;
let scratch: ScratchDatabase;
let api: RunningApi;
let pub: EventPublisher;
let seq = 0;
const next = () => ++seq;

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  broker = await sharedBroker();
  prefix = `apitest-${randomBytes(4).toString('hex')}.`;
  names = topologyNames(prefix);
  conn = await connectBroker({ url: broker.url });
  admin = await openConsumerChannel(conn);
  scratch = await createScratchDatabase('api_consumer');
  api = await startApi(
    testApiConfig({
      dbUrl: scratch.url,
      queue: { url: broker.url, prefix, maxAttempts: 3, retryDelayMs: 30, prefetch: 10 },
      ops: true,
    }),
  );
  pub = await EventPublisher.open({ url: broker.url, names, queueType: 'classic' });
}, 60_000);
afterAll(async () => {
  await pub?.close();
  await api?.stop();
  await deleteTopology(admin, names).catch(() => undefined);
  await conn?.close().catch(() => undefined);
  await broker?.destroy();
  await scratch?.drop();
});

describe('consuming the indexer’s events', () => {
  it('applies a stream in order, absorbs duplicates, and moves the statistics once per event', async () => {
    const stakes = Array.from({ length: 20 }, (_, i) => makeStake(`c-${i}`, { valueSat: 20_000 + i }));
    const events: StakingEvent[] = stakes.map((s, i) =>
      activeEvent(s, { sequence: next(), overflow: i === 19 }),
    );
    for (const s of stakes.slice(0, 5)) events.push(unbondingEvent(s.txid, { sequence: next() }));
    for (const s of stakes.slice(5, 8)) events.push(expiredEvent(s.txid, 'active', { sequence: next() }));
    for (const s of stakes.slice(5, 7)) events.push(withdrawEvent(s.txid, 'staking', { sequence: next() }));
    events.push(btcInfoEvent(600, 123, 456, next()));
    // Redelivery: the whole stream again, and some events a third time.
    await pub.publish(events);
    await pub.publish(events);
    await pub.publish(events.slice(0, 7));
    const total = events.length * 2 + 7;
    await until('every message processed', () => {
      const processed = api.consumer!.status.processed;
      return processed >= total;
    });
    const stats = await readOverallStats(api.db);
    const active = stakes.slice(0, 19);
    const sum = (xs: typeof stakes) => xs.reduce((a, s) => a + s.valueSat, 0);
    expect(stats).toEqual({
      activeTvl: sum(active) - sum(stakes.slice(0, 5)),
      totalTvl: sum(active),
      activeDelegations: 14,
      totalDelegations: 19,
      totalStakers: 19,
    });
    expect((await getDelegation(api.db, stakes[0]!.txid))?.state).toBe('unbonding');
    expect((await getDelegation(api.db, stakes[5]!.txid))?.state).toBe('withdrawn');
    expect((await getDelegation(api.db, stakes[7]!.txid))?.state).toBe('unbonded');
    expect((await getDelegation(api.db, stakes[19]!.txid))?.isOverflow).toBe(true);
    const m = await api.metrics.registry.getSingleMetricAsString('api_events_total');
    expect(m).toMatch(/outcome="duplicate"/);
    expect((await admin.checkQueue(names.deadLetterQueue)).messageCount).toBe(0);
  });

  it('dead-letters an event that does not fit, with its reason, and replay after the fix applies it', async () => {
    const s = makeStake('poison', { staker: testKey('poison-staker') });
    const withdraw = withdrawEvent(s.txid, 'staking', { sequence: 0 });
    const expired = expiredEvent(s.txid, 'active', { sequence: 0 });
    await pub.publish([activeEvent(s, { sequence: next() }), { ...withdraw, sequence: next() }]);
    // The withdraw arrives before its expiry (the expiry event was lost upstream): retried, then dead-lettered.
    await until(
      'the dead letter',
      async () => (await admin.checkQueue(names.deadLetterQueue)).messageCount === 1,
    );
    await until('its record', async () => (await listDeadLetters(api.db)).length === 1);
    const [record] = await listDeadLetters(api.db);
    expect(record).toMatchObject({ eventId: withdraw.event_id, replayedAt: null });
    expect(record!.reason).toMatch(
      /^handler failed 3 times: API_EVENT_OUT_OF_ORDER: withdraw from staking does not fit delegation .* in state active/,
    );
    const peek = await admin.get(names.deadLetterQueue, { noAck: false });
    expect(peek && String(peek.properties.headers?.[DEAD_LETTER_REASON_HEADER])).toBe(record!.reason);
    if (peek) admin.nack(peek, false, true);
    expect((await getDelegation(api.db, s.txid))?.state).toBe('active');

    // The fix: the missing expiry is published; then the dead letter is replayed and applies.
    await pub.publish([{ ...expired, sequence: next() }]);
    await until('the expiry', async () => (await getDelegation(api.db, s.txid))?.state === 'unbonded');
    const r = await replayDeadLetters({ url: broker.url, names, queueType: 'classic', db: api.db });
    expect(r).toEqual({ replayed: [withdraw.event_id], kept: 0 });
    await until(
      'the replayed withdraw',
      async () => (await getDelegation(api.db, s.txid))?.state === 'withdrawn',
    );
    expect((await listDeadLetters(api.db)).length).toBe(0);
    expect((await listDeadLetters(api.db, { all: true }))[0]?.replayedAt).toBeInstanceOf(Date);
    expect((await admin.checkQueue(names.deadLetterQueue)).messageCount).toBe(0);
  });

  it('dead-letters a message that is not a valid event; replay leaves it there', async () => {
    const raw = await conn.createConfirmChannel();
    raw.publish(names.exchange, 'active', Buffer.from('{"event_type":1,"staking_value":"lots"}'), {
      persistent: true,
    });
    await raw.waitForConfirms();
    await raw.close();
    await until(
      'the dead letter',
      async () => (await admin.checkQueue(names.deadLetterQueue)).messageCount === 1,
    );
    await until('its record', async () => (await listDeadLetters(api.db)).length === 1);
    expect((await listDeadLetters(api.db))[0]!.reason).toMatch(/^EVENTS_INVALID/);
    const dry = await replayDeadLetters({ url: broker.url, names, queueType: 'classic', dryRun: true });
    expect(dry).toEqual({ replayed: [], kept: 1 });
    const r = await replayDeadLetters({ url: broker.url, names, queueType: 'classic', db: api.db });
    expect(r).toEqual({ replayed: [], kept: 1 });
    await until('requeued', async () => (await admin.checkQueue(names.deadLetterQueue)).messageCount === 1);
    await admin.purgeQueue(names.deadLetterQueue);
  });

  it('holds events while the database refuses connections, and applies them when it is back', async () => {
    const adminDb = new pg.Client({
      connectionString: process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    });
    await adminDb.connect();
    const outage = async (on: boolean) => {
      await adminDb.query(`ALTER DATABASE ${scratch.name} ALLOW_CONNECTIONS ${on ? 'false' : 'true'}`);
      if (on) {
        await adminDb.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
          scratch.name,
        ]);
      }
    };
    try {
      const s = makeStake('outage', { staker: testKey('outage-staker') });
      const before = api.consumer!.status.processed;
      await outage(true);
      await pub.publish([activeEvent(s, { sequence: next() }), unbondingEvent(s.txid, { sequence: next() })]);
      await new Promise((r) => setTimeout(r, 1500));
      expect(api.consumer!.status.processed).toBe(before);
      expect((await admin.checkQueue(names.deadLetterQueue)).messageCount).toBe(0);
      const ready = await fetch(`${api.metricsUrl}/readyz`);
      expect(ready.status).toBe(503);
      await outage(false);
      await until('both events', () => api.consumer!.status.processed >= before + 2);
      expect((await getDelegation(api.db, s.txid))?.state).toBe('unbonding');
      expect((await admin.checkQueue(names.deadLetterQueue)).messageCount).toBe(0);
    } finally {
      await adminDb.query(`ALTER DATABASE ${scratch.name} ALLOW_CONNECTIONS true`).catch(() => undefined);
      await adminDb.end();
    }
  });

  it('reports the consumer in readiness', async () => {
    const r = await fetch(`${api.metricsUrl}/readyz`);
    expect(((await r.json()) as { checks: { consumer: unknown } }).checks.consumer).toMatchObject({
      connected: true,
    });
  });
});
