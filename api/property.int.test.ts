import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, Database, migrate, type ScratchDatabase } from '../db/index.ts';
import { EVENT_TYPE_OF_KIND, type StakingEvent } from '../events/index.ts';
import { testKey } from '../test/keys.ts';
import { applyEvent } from './apply.ts';
import {
  activeEvent,
  btcInfoEvent,
  expiredEvent,
  fakeHash,
  unbondingEvent,
  withdrawEvent,
} from './testkit.ts';

/**
 * Property: any duplication and any interleaving of the event stream that keeps each delegation's
 * own order ends in the same database state and statistics as the plain stream, and those
 * statistics are the reference's (checked against a model computed from the lifecycles alone).
 * Real PostgreSQL; the shuffled stream is applied by two concurrent workers (each delegation's
 * events on one of them, as a broker partitioned by delegation would deliver them).
 */
let scratch: ScratchDatabase;
let db: Database;

beforeAll(async () => {
  scratch = await createScratchDatabase('api_prop');
  db = Database.open({ url: scratch.url, poolSize: 4 });
  await migrate(db);
});
afterAll(async () => {
  await db?.close();
  await scratch?.drop();
});

const STAKERS = [testKey('p-s0'), testKey('p-s1'), testKey('p-s2')];
const FPS = [testKey('p-f0'), testKey('p-f1')];

/** Every lifecycle the indexer can emit for one delegation, in chain order. */
const PATHS = [
  ['active'],
  ['active', 'expired:active'],
  ['active', 'expired:active', 'withdraw:staking'],
  ['active', 'unbonding'],
  ['active', 'unbonding', 'expired:unbonding'],
  ['active', 'unbonding', 'expired:unbonding', 'withdraw:unbonding'],
  ['active', 'expired:active', 'unbonding', 'expired:unbonding', 'withdraw:unbonding'],
] as const;

interface Spec {
  path: number;
  staker: number;
  fp: number;
  value: number;
  overflow: boolean;
}

const specArb = fc.record({
  path: fc.nat({ max: PATHS.length - 1 }),
  staker: fc.nat({ max: STAKERS.length - 1 }),
  fp: fc.nat({ max: FPS.length - 1 }),
  value: fc.integer({ min: 10_000, max: 5_000_000 }),
  overflow: fc.boolean(),
});

/** Per-delegation event lanes, then the plain chain-order stream (round robin), sequences assigned. */
function build(
  run: number,
  specs: Spec[],
  btcInfos: number,
): { lanes: StakingEvent[][]; plain: StakingEvent[] } {
  const lanes: StakingEvent[][] = specs.map((sp, i) => {
    const txid = fakeHash(`prop:${run}:${i}`);
    const stake = {
      txid,
      hex: '00',
      staker: STAKERS[sp.staker]!,
      fp: FPS[sp.fp]!,
      valueSat: sp.value,
      stakingTime: 1000,
    };
    return PATHS[sp.path]!.map((step): StakingEvent => {
      switch (step) {
        case 'active':
          return activeEvent(stake, { sequence: 0, overflow: sp.overflow, height: 100 + i });
        case 'unbonding':
          return unbondingEvent(txid, { sequence: 0 });
        case 'expired:active':
          return expiredEvent(txid, 'active', { sequence: 0 });
        case 'expired:unbonding':
          return expiredEvent(txid, 'unbonding', { sequence: 0 });
        case 'withdraw:staking':
          return withdrawEvent(txid, 'staking', { sequence: 0 });
        default:
          return withdrawEvent(txid, 'unbonding', { sequence: 0 });
      }
    });
  });
  lanes.push(Array.from({ length: btcInfos }, (_, k) => btcInfoEvent(1000 + k, k * 10, k * 11, 0)));
  const plain: StakingEvent[] = [];
  for (let step = 0; plain.length < lanes.flat().length; step++) {
    for (const lane of lanes) if (lane[step]) plain.push(lane[step]!);
  }
  plain.forEach((e, i) => {
    (e as { sequence: number }).sequence = i + 1;
  });
  return { lanes, plain };
}

/** Merges the lanes in the order `choices` picks (each lane's order kept), then inserts redeliveries. */
function shuffle(
  lanes: StakingEvent[][],
  choices: number[],
  dups: Array<{ at: number; delay: number }>,
): StakingEvent[] {
  const pos = lanes.map(() => 0);
  const out: StakingEvent[] = [];
  let k = 0;
  for (;;) {
    const open = lanes.map((l, i) => (pos[i]! < l.length ? i : -1)).filter((i) => i >= 0);
    if (open.length === 0) break;
    const lane = open[(choices[k++] ?? 0) % open.length]!;
    out.push(lanes[lane]![pos[lane]!++]!);
  }
  // A redelivered copy can only come after the original (at-least-once delivery).
  for (const d of dups) {
    if (out.length === 0) break;
    const i = d.at % out.length;
    out.splice(Math.min(out.length, i + 1 + d.delay), 0, out[i]!);
  }
  return out;
}

async function reset(): Promise<void> {
  // DELETE, not TRUNCATE: far faster on tables this small.
  for (const t of [
    'unbonding_requests',
    'delegations',
    'staker_addresses',
    'staker_stats',
    'finality_provider_stats',
    'btc_info',
    'processed_events',
    'dead_letters',
  ]) {
    await db.query(`DELETE FROM ${t}`);
  }
  await db.query(
    'UPDATE overall_stats SET active_tvl = 0, total_tvl = 0, active_delegations = 0, total_delegations = 0, total_stakers = 0',
  );
}

async function snapshot() {
  const q = async (sql: string) => (await db.query(sql)).rows;
  return {
    delegations: await q(
      `SELECT staking_tx_hash_hex, staker_pk_hex, finality_provider_pk_hex, staking_value, state, is_overflow, staking_tx_hex,
         staking_output_index, staking_start_height, staking_start_timestamp, staking_timelock, staking_expired,
         unbonding_tx_hash_hex, unbonding_tx_hex, unbonding_output_index, unbonding_start_height, unbonding_start_timestamp,
         unbonding_timelock, withdraw_tx_hash_hex, withdraw_height
       FROM delegations ORDER BY staking_tx_hash_hex`,
    ),
    stakers: await q('SELECT * FROM staker_stats ORDER BY staker_pk_hex'),
    fps: await q('SELECT * FROM finality_provider_stats ORDER BY finality_provider_pk_hex'),
    overall: await q(
      'SELECT sum(active_tvl) a, sum(total_tvl) t, sum(active_delegations) ad, sum(total_delegations) td, sum(total_stakers) ts FROM overall_stats',
    ),
    btc: await q('SELECT height, sequence, confirmed_tvl, unconfirmed_tvl FROM btc_info'),
    processed: await q('SELECT event_id, sequence, outcome FROM processed_events ORDER BY event_id'),
    addresses: await q('SELECT * FROM staker_addresses ORDER BY program'),
  };
}

/** The reference's statistics from the lifecycles alone (§3.6): overflow never counts; unbonding leaves active. */
function model(specs: Spec[]) {
  const counted = specs.filter((s) => !s.overflow);
  const unbonded = counted.filter((s) => (PATHS[s.path] as readonly string[]).includes('unbonding'));
  const sum = (xs: Spec[]) => xs.reduce((a, s) => a + s.value, 0);
  return {
    a: String(sum(counted) - sum(unbonded)),
    t: String(sum(counted)),
    ad: String(counted.length - unbonded.length),
    td: String(counted.length),
    ts: String(new Set(counted.map((s) => s.staker)).size),
  };
}

let run = 0;

describe('event stream property', () => {
  it('duplicated and reordered (per-delegation order kept) streams end in the plain stream’s state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(specArb, { minLength: 1, maxLength: 8 }),
        fc.nat({ max: 3 }),
        fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
        fc.array(fc.record({ at: fc.nat(), delay: fc.nat({ max: 10 }) }), { maxLength: 12 }),
        async (specs, btcInfos, choices, dups) => {
          run++;
          const { lanes, plain } = build(run, specs, btcInfos);
          await reset();
          for (const e of plain) await applyEvent(db, e);
          const expected = await snapshot();
          expect(expected.overall[0]).toEqual(model(specs));

          const shuffled = shuffle(lanes, choices, dups);
          await reset();
          // Two workers; a delegation's events all go to one of them, in the shuffled order.
          const byWorker = [0, 1].map((w) =>
            shuffled.filter((e) => {
              const key =
                e.event_type === EVENT_TYPE_OF_KIND['btc-info'] ||
                e.event_type === EVENT_TYPE_OF_KIND['confirmed-info']
                  ? 'btc'
                  : e.staking_tx_hash_hex;
              return (key.charCodeAt(key.length - 1) & 1) === w;
            }),
          );
          await Promise.all(
            byWorker.map(async (events) => {
              for (const e of events) await applyEvent(db, e);
            }),
          );
          expect(await snapshot()).toEqual(expected);
        },
      ),
      { numRuns: 50 },
    );
  });
});
