// The statistics routes: overall figures (from a short cache), the BTC tip and TVL, per staker.
import {
  type Database,
  getStakerStats,
  listStakerStats,
  type PartyStats,
  readBtcInfo,
  readOverallStats,
} from '../../db/index.ts';
import { parseStatsToken, statsToken } from '../pagination.ts';
import type { RouteTable } from '../routeTable.ts';
import { SCHEMAS } from '../schemas.ts';
import type { ApiServerOptions } from '../serverOptions.ts';
import { nextKey, stakerKey } from './shared.ts';

interface StatsBody {
  active_tvl: number;
  total_tvl: number;
  active_delegations: number;
  total_delegations: number;
  total_stakers: number;
  unconfirmed_tvl: number;
  pending_tvl: number;
}

/**
 * /v1/stats figures, read at most once per `ttlMs` by one request at a time (the others share the
 * read in flight): a hot route, and figures that move a few times per block.
 */
class StatsCache {
  #value: { data: StatsBody } | undefined;
  #at = 0;
  #inFlight: Promise<{ data: StatsBody }> | undefined;
  constructor(
    readonly db: Database,
    readonly ttlMs: number,
    readonly onRefresh: () => void,
  ) {}
  /** The body `{"data":{…}}`: synchronously while fresh (no promise on the hot path). */
  get(): Promise<{ data: StatsBody }> | { data: StatsBody } {
    if (this.#value && performance.now() - this.#at < this.ttlMs) return this.#value;
    this.#inFlight ??= this.#read().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }
  async #read(): Promise<{ data: StatsBody }> {
    this.onRefresh();
    const [s, btc] = await Promise.all([readOverallStats(this.db), readBtcInfo(this.db)]);
    const unconfirmed = btc?.unconfirmedTvl ?? 0;
    const body: { data: StatsBody } = {
      data: {
        active_tvl: s.activeTvl,
        total_tvl: s.totalTvl,
        active_delegations: s.activeDelegations,
        total_delegations: s.totalDelegations,
        total_stakers: s.totalStakers,
        unconfirmed_tvl: unconfirmed,
        // Clamped: unbondings in the unconfirmed window make it negative (the reference wrapped around, §9).
        pending_tvl: Math.max(0, unconfirmed - (btc?.confirmedTvl ?? 0)),
      },
    };
    const value = body;
    this.#value = value;
    this.#at = performance.now();
    return value;
  }
}

export function statsRoutes({ route }: RouteTable, o: ApiServerOptions): void {
  const limit = o.paginationLimit;
  const stats = new StatsCache(o.db, o.statsCacheMs, () => o.metrics.statsRefreshes.inc());

  route(
    {
      method: 'GET',
      url: '/v1/stats',
      summary: `Overall staking statistics (served from a cache at most ${o.statsCacheMs} ms old)`,
      schema: SCHEMAS.stats,
    },
    () => stats.get(),
  );

  // Ours (additive): what a client needs to pick the params of the next height and to check a
  // wallet's network; the reference had no route for either (its dashboard asked mempool.space).
  route(
    {
      method: 'GET',
      url: '/v1/btc-info',
      summary: 'The network this API serves, the BTC tip the indexer last reported, and its TVL figures',
      schema: SCHEMAS.btcInfo,
    },
    async () => {
      const btc = await readBtcInfo(o.db);
      return {
        data: {
          network: o.network,
          tip_height: btc?.height ?? null,
          confirmed_tvl: btc?.confirmedTvl ?? 0,
          unconfirmed_tvl: btc?.unconfirmedTvl ?? 0,
        },
      };
    },
  );

  route<{ pagination_key?: string; staker_btc_pk?: string }>(
    {
      method: 'GET',
      url: '/v1/stats/staker',
      summary: 'Per-staker statistics, highest active TVL first (optionally one staker)',
      schema: SCHEMAS.stakerStats,
    },
    async (req) => {
      const q = req.query;
      if (q.staker_btc_pk !== undefined) {
        // The reference: `{"data": [one]}`, or `{"data": null}` for a staker it does not know; no
        // pagination either way (v1 handlers/stats.go GetStakersStats).
        const one = await getStakerStats(o.db, stakerKey(q.staker_btc_pk));
        return { data: one ? [stakerStatsJson(one)] : null };
      }
      const after = q.pagination_key ? parseStatsToken('staker_pk_hex', q.pagination_key) : undefined;
      const page = await listStakerStats(o.db, { after, limit });
      return {
        data: page.rows.map(stakerStatsJson),
        pagination: nextKey(page.next && statsToken('staker_pk_hex', page.next)),
      };
    },
  );
}

function stakerStatsJson(r: PartyStats) {
  return {
    staker_pk_hex: r.pkHex,
    active_tvl: r.activeTvl,
    total_tvl: r.totalTvl,
    active_delegations: r.activeDelegations,
    total_delegations: r.totalDelegations,
  };
}
