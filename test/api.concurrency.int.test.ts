import { randomBytes } from 'node:crypto';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApi, startApi } from '../api/index.ts';
import {
  activeEvent,
  expiredEvent,
  makeStake,
  type TestStake,
  testApiConfig,
  unbondingEvent,
  withdrawEvent,
} from '../api/testkit.ts';
import { createScratchDatabase, readOverallStats, type ScratchDatabase } from '../db/index.ts';
import {
  connectBroker,
  deleteTopology,
  EventPublisher,
  openConsumerChannel,
  type StakingEvent,
  type TopologyNames,
  topologyNames,
} from '../events/index.ts';
import { sharedBroker } from './infra/rabbitmq.ts';
import { testKey } from './keys.ts';

/**
 * Two API instances attached to the same ordered queue (prefetch 1) and each taking unbonding
 * requests over real HTTP on loopback, against one PostgreSQL: the statistics end exactly as the
 * model says (no lost update), every event is applied once, nothing is dead-lettered, and each
 * delegation accepts exactly one unbonding request however many race for it. The queue is
 * single-active-consumer (events/topology.ts), so exactly one of them applies events while both
 * serve HTTP; test/operations.int.test.ts shows the failover.
 */
let broker: { url: string; destroy(): Promise<void> };
let names: TopologyNames;
let conn: ChannelModel;
let admin: ConfirmChannel;
let scratch: ScratchDatabase;
const apis: RunningApi[] = [];

beforeAll(async () => {
  broker = await sharedBroker();
  const prefix = `apiconc-${randomBytes(4).toString('hex')}.`;
  names = topologyNames(prefix);
  conn = await connectBroker({ url: broker.url });
  admin = await openConsumerChannel(conn);
  scratch = await createScratchDatabase('api_conc');
  // Both start at once: migrations run under the advisory lock.
  const cfg = testApiConfig({
    dbUrl: scratch.url,
    queue: { url: broker.url, prefix, maxAttempts: 20, retryDelayMs: 25, prefetch: 1 },
  });
  apis.push(...(await Promise.all([startApi(cfg), startApi(cfg)])));
}, 60_000);
afterAll(async () => {
  await Promise.all(apis.map((a) => a.stop()));
  await deleteTopology(admin, names).catch(() => undefined);
  await conn?.close().catch(() => undefined);
  await broker?.destroy();
  await scratch?.drop();
});

describe('two consumers and two API instances at once', () => {
  it('lose no statistics update and accept one unbonding request per delegation', async () => {
    const stakers = [testKey('conc-s0'), testKey('conc-s1'), testKey('conc-s2')];
    const fps = [testKey('conc-f0'), testKey('conc-f1')];
    const N = 240;
    const stakes: TestStake[] = Array.from({ length: N }, (_, i) =>
      makeStake(`conc-${i}`, { staker: stakers[i % 3]!, fp: fps[i % 2]!, valueSat: 10_000 + i * 7 }),
    );
    const overflow = (i: number) => i % 11 === 0;
    let seq = 0;
    const events: StakingEvent[] = [];
    // Chain order: all actives, then unbondings of a third, expiries and withdraws of a sixth.
    stakes.forEach((s, i) => {
      events.push(activeEvent(s, { sequence: ++seq, overflow: overflow(i) }));
    });
    stakes.forEach((s, i) => {
      if (i % 3 === 1) events.push(unbondingEvent(s.txid, { sequence: ++seq }));
    });
    stakes.forEach((s, i) => {
      if (i % 6 === 2) events.push(expiredEvent(s.txid, 'active', { sequence: ++seq }));
    });
    stakes.forEach((s, i) => {
      if (i % 6 === 2) events.push(withdrawEvent(s.txid, 'staking', { sequence: ++seq }));
    });
    // Redeliveries of a random tenth.
    const dups = events.filter((_, k) => k % 10 === 3);

    const pub = await EventPublisher.open({ url: broker.url, names, queueType: 'classic' });
    const post = (api: RunningApi, s: TestStake) =>
      fetch(`${api.url}/v1/unbonding`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(s.unbondingBody()),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { code?: string } | null }));
    // Unbonding requests for every delegation with i % 3 === 0, four racing per delegation, both instances.
    const targets = stakes.filter((_, i) => i % 3 === 0);
    try {
      const publishing = (async () => {
        for (let k = 0; k < events.length; k += 40) await pub.publish(events.slice(k, k + 40));
        await pub.publish(dups);
      })();
      await publishing;
      // Wait until every target's active event is applied somewhere, then race the requests.
      const started = Date.now();
      let results: Array<{ status: number; body: { code?: string } | null }> = [];
      for (;;) {
        const d = await apis[0]!.db.query(
          'SELECT count(*)::int AS n FROM delegations WHERE staking_tx_hash_hex = ANY($1::text[])',
          [targets.map((s) => s.txid)],
        );
        if (d.rows[0]?.n === targets.length) break;
        if (Date.now() - started > 60_000) throw new Error('actives not applied in time');
        await new Promise((r) => setTimeout(r, 50));
      }
      results = await Promise.all(
        targets.flatMap((s) => [post(apis[0]!, s), post(apis[1]!, s), post(apis[0]!, s), post(apis[1]!, s)]),
      );
      for (let t = 0; t < targets.length; t++) {
        const mine = results.slice(t * 4, t * 4 + 4);
        expect(mine.filter((r) => r.status === 202)).toHaveLength(1);
        for (const r of mine.filter((x) => x.status !== 202))
          expect(r.body?.code).toBe('API_UNBONDING_ALREADY_REQUESTED');
      }

      const total = events.length + dups.length;
      const end = Date.now() + 90_000;
      while (apis.reduce((a, x) => a + x.consumer!.status.processed, 0) < total) {
        if (Date.now() > end) throw new Error('events not all processed in time');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await pub.close();
    }

    // Exactly one consumer applied the ordered queue; the other was attached and waiting.
    expect(apis.filter((a) => a.consumer!.status.processed > 0)).toHaveLength(1);
    expect(apis.every((a) => a.consumer!.status.connected)).toBe(true);
    expect((await admin.checkQueue(names.deadLetterQueue)).messageCount).toBe(0);

    const counted = stakes.filter((_, i) => !overflow(i));
    const unbonded = stakes.filter((_, i) => !overflow(i) && i % 3 === 1);
    const sum = (xs: TestStake[]) => xs.reduce((a, s) => a + s.valueSat, 0);
    expect(await readOverallStats(apis[1]!.db)).toEqual({
      activeTvl: sum(counted) - sum(unbonded),
      totalTvl: sum(counted),
      activeDelegations: counted.length - unbonded.length,
      totalDelegations: counted.length,
      totalStakers: 3,
    });
    // Per staker and per provider as well.
    const { rows } = await apis[0]!.db.query(
      'SELECT staker_pk_hex, active_tvl, total_tvl, total_delegations FROM staker_stats',
    );
    for (const [k, staker] of stakers.entries()) {
      const mine = (xs: TestStake[]) => xs.filter((s) => s.staker === staker);
      const row = rows.find((r) => r.staker_pk_hex === Buffer.from(staker.xOnly).toString('hex'));
      expect(row, `staker ${k}`).toMatchObject({
        active_tvl: String(sum(mine(counted)) - sum(mine(unbonded))),
        total_tvl: String(sum(mine(counted))),
        total_delegations: String(mine(counted).length),
      });
    }
    const fpRows = (
      await apis[0]!.db.query(
        'SELECT sum(active_tvl)::bigint AS a, sum(total_delegations)::bigint AS t FROM finality_provider_stats',
      )
    ).rows[0];
    expect(fpRows).toEqual({ a: String(sum(counted) - sum(unbonded)), t: String(counted.length) });
    const states = (
      await apis[0]!.db.query(
        'SELECT state, count(*)::int AS n FROM delegations GROUP BY state ORDER BY state',
      )
    ).rows;
    const byState = Object.fromEntries(states.map((r) => [r.state, r.n]));
    expect(byState.unbonding).toBe(N / 3);
    expect(byState.withdrawn).toBe(N / 6);
    expect(byState.unbonding_requested).toBe(N / 3);
    const { rows: processed } = await apis[0]!.db.query('SELECT count(*)::int AS n FROM processed_events');
    const processedIds = processed[0]?.n;
    expect(processedIds).toBe(events.length);
  });
});
