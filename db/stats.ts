import type { Queryable } from './database.ts';
import { safeInt } from './database.ts';

/** Shards of `overall_stats` (rows 0..15 created by migration 1). */
export const OVERALL_STATS_SHARDS = 16;

/** Totals over every non-overflow delegation (reference §3.6). */
export interface OverallStats {
  readonly activeTvl: number;
  readonly totalTvl: number;
  readonly activeDelegations: number;
  readonly totalDelegations: number;
  readonly totalStakers: number;
}

/** The same figures for one staker or one finality provider. */
export interface PartyStats {
  readonly pkHex: string;
  readonly activeTvl: number;
  readonly totalTvl: number;
  readonly activeDelegations: number;
  readonly totalDelegations: number;
}

/** What a delegation moving in or out of the active set changes. */
export interface StatsSubject {
  readonly stakerPkHex: string;
  readonly finalityProviderPkHex: string;
  readonly stakingValue: number;
}

/**
 * A non-overflow delegation became active: +value and +1 to active and total, for its staker, its
 * finality provider and overall; total_stakers +1 when this is the staker's first. One statement of
 * atomic increments (`x = x + $n`), so concurrent writers never lose an update, and no stats row is
 * read and written back by the application. `shard` spreads the overall row's contention.
 */
export async function countActivated(q: Queryable, s: StatsSubject, shard: number): Promise<void> {
  const r = await q.query({
    name: 'stats_activated',
    text: `WITH st AS (
        INSERT INTO staker_stats AS x (staker_pk_hex, active_tvl, total_tvl, active_delegations, total_delegations)
        VALUES ($1, $3, $3, 1, 1)
        ON CONFLICT (staker_pk_hex) DO UPDATE SET
          active_tvl = x.active_tvl + EXCLUDED.active_tvl, total_tvl = x.total_tvl + EXCLUDED.total_tvl,
          active_delegations = x.active_delegations + 1, total_delegations = x.total_delegations + 1
        RETURNING x.total_delegations),
      fp AS (
        INSERT INTO finality_provider_stats AS x (finality_provider_pk_hex, active_tvl, total_tvl, active_delegations, total_delegations)
        VALUES ($2, $3, $3, 1, 1)
        ON CONFLICT (finality_provider_pk_hex) DO UPDATE SET
          active_tvl = x.active_tvl + EXCLUDED.active_tvl, total_tvl = x.total_tvl + EXCLUDED.total_tvl,
          active_delegations = x.active_delegations + 1, total_delegations = x.total_delegations + 1
        RETURNING 1 AS one)
      UPDATE overall_stats SET
        active_tvl = active_tvl + $3, total_tvl = total_tvl + $3,
        active_delegations = active_delegations + 1, total_delegations = total_delegations + 1,
        total_stakers = total_stakers + (SELECT CASE WHEN total_delegations = 1 THEN 1 ELSE 0 END FROM st)
      WHERE shard = $4 AND (SELECT count(*) FROM fp) = 1`,
    values: [s.stakerPkHex, s.finalityProviderPkHex, s.stakingValue, shard % OVERALL_STATS_SHARDS],
  });
  if (r.rowCount !== 1) throw new Error(`overall_stats shard ${shard} is missing`);
}

/**
 * A non-overflow delegation left the active set (its unbonding tx confirmed): −value and −1 to
 * active only (reference: total figures keep counting it; expiry and withdrawal change nothing).
 */
export async function countUnbonded(q: Queryable, s: StatsSubject, shard: number): Promise<void> {
  const r = await q.query<{ staker: string; fp: string }>({
    name: 'stats_unbonded',
    text: `WITH st AS (
        UPDATE staker_stats SET active_tvl = active_tvl - $3, active_delegations = active_delegations - 1
        WHERE staker_pk_hex = $1 RETURNING 1 AS one),
      fp AS (
        UPDATE finality_provider_stats SET active_tvl = active_tvl - $3, active_delegations = active_delegations - 1
        WHERE finality_provider_pk_hex = $2 RETURNING 1 AS one),
      ov AS (
        UPDATE overall_stats SET active_tvl = active_tvl - $3, active_delegations = active_delegations - 1
        WHERE shard = $4 RETURNING 1 AS one)
      SELECT (SELECT count(*) FROM st) AS staker, (SELECT count(*) FROM fp) AS fp, (SELECT count(*) FROM ov) AS ov`,
    values: [s.stakerPkHex, s.finalityProviderPkHex, s.stakingValue, shard % OVERALL_STATS_SHARDS],
  });
  const row = r.rows[0] as { staker: string; fp: string; ov: string } | undefined;
  if (!row || Number(row.staker) !== 1 || Number(row.fp) !== 1 || Number(row.ov) !== 1) {
    throw new Error('statistics rows of an active delegation are missing');
  }
}

/** Sums the overall shards. */
export async function readOverallStats(q: Queryable): Promise<OverallStats> {
  const r = await q.query({
    name: 'overall_stats',
    text: `SELECT coalesce(sum(active_tvl), 0) AS active_tvl, coalesce(sum(total_tvl), 0) AS total_tvl,
             coalesce(sum(active_delegations), 0) AS active_delegations,
             coalesce(sum(total_delegations), 0) AS total_delegations,
             coalesce(sum(total_stakers), 0) AS total_stakers
           FROM overall_stats`,
  });
  const x = r.rows[0] ?? {};
  return {
    activeTvl: safeInt(x.active_tvl, 'active_tvl'),
    totalTvl: safeInt(x.total_tvl, 'total_tvl'),
    activeDelegations: safeInt(x.active_delegations),
    totalDelegations: safeInt(x.total_delegations),
    totalStakers: safeInt(x.total_stakers),
  };
}

/** Position in a stats listing: active TVL descending, then key descending (reference order, now total). */
export interface StatsCursor {
  readonly activeTvl: number;
  readonly pkHex: string;
}

async function listParty(
  q: Queryable,
  table: 'staker_stats' | 'finality_provider_stats',
  key: 'staker_pk_hex' | 'finality_provider_pk_hex',
  args: { after?: StatsCursor | undefined; limit: number },
): Promise<{ rows: PartyStats[]; next: StatsCursor | undefined }> {
  const values: unknown[] = [args.limit + 1];
  let where = '';
  if (args.after) {
    values.push(args.after.activeTvl, args.after.pkHex);
    where = `WHERE (active_tvl, ${key}) < ($2, $3)`;
  }
  const r = await q.query({
    name: `${table}_page${args.after ? '_after' : ''}`,
    text: `SELECT ${key} AS pk, active_tvl, total_tvl, active_delegations, total_delegations FROM ${table}
           ${where} ORDER BY active_tvl DESC, ${key} DESC LIMIT $1`,
    values,
  });
  const rows: PartyStats[] = r.rows.slice(0, args.limit).map((x) => ({
    pkHex: x.pk as string,
    activeTvl: safeInt(x.active_tvl),
    totalTvl: safeInt(x.total_tvl),
    activeDelegations: safeInt(x.active_delegations),
    totalDelegations: safeInt(x.total_delegations),
  }));
  const last = rows[rows.length - 1];
  return {
    rows,
    next: r.rows.length > args.limit && last ? { activeTvl: last.activeTvl, pkHex: last.pkHex } : undefined,
  };
}

/** One staker's statistics, or undefined when it has none. */
export async function getStakerStats(q: Queryable, stakerPkHex: string): Promise<PartyStats | undefined> {
  const r = await q.query({
    name: 'staker_stats_one',
    text: 'SELECT active_tvl, total_tvl, active_delegations, total_delegations FROM staker_stats WHERE staker_pk_hex = $1',
    values: [stakerPkHex],
  });
  const x = r.rows[0];
  if (!x) return undefined;
  return {
    pkHex: stakerPkHex,
    activeTvl: safeInt(x.active_tvl),
    totalTvl: safeInt(x.total_tvl),
    activeDelegations: safeInt(x.active_delegations),
    totalDelegations: safeInt(x.total_delegations),
  };
}

/** Per-staker statistics, highest active TVL first. */
export function listStakerStats(
  q: Queryable,
  args: { after?: StatsCursor | undefined; limit: number },
): Promise<{ rows: PartyStats[]; next: StatsCursor | undefined }> {
  return listParty(q, 'staker_stats', 'staker_pk_hex', args);
}

/** Per-finality-provider statistics, highest active TVL first. */
export function listFinalityProviderStats(
  q: Queryable,
  args: { after?: StatsCursor | undefined; limit: number },
): Promise<{ rows: PartyStats[]; next: StatsCursor | undefined }> {
  return listParty(q, 'finality_provider_stats', 'finality_provider_pk_hex', args);
}

/** One finality provider's statistics, if it has a row (`/v1/finality-providers?fp_btc_pk=`). */
export async function getFinalityProviderStats(
  q: Queryable,
  fpPkHex: string,
): Promise<PartyStats | undefined> {
  const r = await q.query({
    name: 'fp_stats_one',
    text: 'SELECT active_tvl, total_tvl, active_delegations, total_delegations FROM finality_provider_stats WHERE finality_provider_pk_hex = $1',
    values: [fpPkHex],
  });
  const x = r.rows[0];
  if (!x) return undefined;
  return {
    pkHex: fpPkHex,
    activeTvl: safeInt(x.active_tvl),
    totalTvl: safeInt(x.total_tvl),
    activeDelegations: safeInt(x.active_delegations),
    totalDelegations: safeInt(x.total_delegations),
  };
}

/** The finality providers that have a statistics row (to append registry-only ones with zeros). */
export async function finalityProvidersWithStats(
  q: Queryable,
  pkHexes: readonly string[],
): Promise<Set<string>> {
  if (pkHexes.length === 0) return new Set();
  const r = await q.query<{ pk: string }>(
    'SELECT finality_provider_pk_hex AS pk FROM finality_provider_stats WHERE finality_provider_pk_hex = ANY($1::text[])',
    [pkHexes],
  );
  return new Set(r.rows.map((x) => x.pk));
}
