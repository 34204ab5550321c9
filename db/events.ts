import type { Queryable } from './database.ts';
import { safeInt } from './database.ts';

/**
 * Claims an event id for this transaction: true the first time, false when it was applied already
 * (or another transaction applying it right now commits first: the insert waits for it). Must be
 * the first write of the event's transaction, so a duplicate changes nothing.
 */
export async function claimEvent(
  q: Queryable,
  eventId: string,
  sequence: number,
  outcome: string,
): Promise<boolean> {
  const r = await q.query({
    name: 'claim_event',
    text: 'INSERT INTO processed_events (event_id, sequence, outcome) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING',
    values: [eventId, sequence, outcome],
  });
  return r.rowCount === 1;
}

/** Changes the recorded outcome of a claimed event (same transaction). */
export async function setEventOutcome(q: Queryable, eventId: string, outcome: string): Promise<void> {
  await q.query('UPDATE processed_events SET outcome = $2 WHERE event_id = $1', [eventId, outcome]);
}

/** Whether an event id was applied. */
export async function isEventProcessed(q: Queryable, eventId: string): Promise<boolean> {
  const r = await q.query('SELECT 1 FROM processed_events WHERE event_id = $1', [eventId]);
  return r.rowCount === 1;
}

/** The indexer's latest chain snapshot. */
export interface BtcInfo {
  readonly height: number;
  readonly sequence: number;
  readonly confirmedTvl: number;
  readonly unconfirmedTvl: number;
}

/**
 * Stores a btc-info snapshot if it is not older than the stored one: a greater height, or the same
 * height and a sequence not lower (events/README: "latest by height"; a shallow re-organisation can
 * re-send a height with another unconfirmed TVL). Returns whether it replaced the stored one.
 */
export async function upsertBtcInfo(q: Queryable, b: BtcInfo): Promise<boolean> {
  const r = await q.query({
    name: 'upsert_btc_info',
    text: `INSERT INTO btc_info AS x (id, height, sequence, confirmed_tvl, unconfirmed_tvl) VALUES (1, $1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET height = EXCLUDED.height, sequence = EXCLUDED.sequence,
             confirmed_tvl = EXCLUDED.confirmed_tvl, unconfirmed_tvl = EXCLUDED.unconfirmed_tvl, updated_at = now()
           WHERE (EXCLUDED.height, EXCLUDED.sequence) >= (x.height, x.sequence)`,
    values: [b.height, b.sequence, b.confirmedTvl, b.unconfirmedTvl],
  });
  return r.rowCount === 1;
}

export async function readBtcInfo(q: Queryable): Promise<BtcInfo | undefined> {
  const r = await q.query({
    name: 'read_btc_info',
    text: 'SELECT height, sequence, confirmed_tvl, unconfirmed_tvl FROM btc_info WHERE id = 1',
  });
  const x = r.rows[0];
  if (!x) return undefined;
  return {
    height: safeInt(x.height),
    sequence: safeInt(x.sequence),
    confirmedTvl: safeInt(x.confirmed_tvl),
    unconfirmedTvl: safeInt(x.unconfirmed_tvl),
  };
}

/** A message the consumer gave up on, as recorded beside the broker's dead-letter queue. */
export interface DeadLetter {
  readonly id: number;
  readonly eventId: string | null;
  readonly routingKey: string | null;
  readonly reason: string;
  readonly body: string;
  readonly createdAt: Date;
  readonly replayedAt: Date | null;
}

export async function recordDeadLetter(
  q: Queryable,
  d: { eventId?: string | undefined; routingKey?: string | undefined; reason: string; body: string },
): Promise<number> {
  const r = await q.query<{ id: string }>(
    'INSERT INTO dead_letters (event_id, routing_key, reason, body) VALUES ($1, $2, $3, $4) RETURNING id',
    [d.eventId ?? null, d.routingKey ?? null, d.reason.slice(0, 4000), d.body],
  );
  return safeInt(r.rows[0]!.id);
}

/** Dead letters, oldest first; only those not replayed yet unless `all`. */
export async function listDeadLetters(
  q: Queryable,
  opts: { all?: boolean; limit?: number } = {},
): Promise<DeadLetter[]> {
  const r = await q.query(
    `SELECT id, event_id, routing_key, reason, body, created_at, replayed_at FROM dead_letters
     ${opts.all ? '' : 'WHERE replayed_at IS NULL'} ORDER BY id LIMIT $1`,
    [opts.limit ?? 1000],
  );
  return r.rows.map((x) => ({
    id: safeInt(x.id),
    eventId: x.event_id,
    routingKey: x.routing_key,
    reason: x.reason,
    body: x.body,
    createdAt: x.created_at,
    replayedAt: x.replayed_at,
  }));
}

/** Marks the not-yet-replayed dead letters of these event ids as replayed. */
export async function markDeadLettersReplayed(q: Queryable, eventIds: readonly string[]): Promise<number> {
  if (eventIds.length === 0) return 0;
  const r = await q.query(
    'UPDATE dead_letters SET replayed_at = now() WHERE replayed_at IS NULL AND event_id = ANY($1::text[])',
    [eventIds],
  );
  return r.rowCount ?? 0;
}
