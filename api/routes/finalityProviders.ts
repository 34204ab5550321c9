// The finality providers: their stake from the store, the registry's descriptions, registry-only
// providers with zeros, and the registry alone while the database is away.
import { randomInt } from 'node:crypto';
import {
  finalityProvidersWithStats,
  getFinalityProviderStats,
  isTransientDbError,
  listFinalityProviderStats,
  type PartyStats,
} from '../../db/index.ts';
import type { FinalityProvider } from '../../params/index.ts';
import { parseStatsToken, statsToken } from '../pagination.ts';
import type { RouteTable } from '../routeTable.ts';
import { SCHEMAS } from '../schemas.ts';
import type { ApiServerOptions } from '../serverOptions.ts';
import { nextKey } from './shared.ts';

const EMPTY_DESCRIPTION = { moniker: '', identity: '', website: '', security_contact: '', details: '' };

export function finalityProviderRoutes({ route }: RouteTable, o: ApiServerOptions): void {
  const limit = o.paginationLimit;
  const registry = new Map(o.finalityProviders.map((fp) => [fp.btcPkHex, fp]));

  const fpJson = (fp: FinalityProvider | undefined, pk: string, st: PartyStats | undefined) => ({
    description: fp ? describe(fp) : EMPTY_DESCRIPTION,
    commission: fp?.commission ?? '',
    btc_pk: pk,
    active_tvl: st?.activeTvl ?? 0,
    total_tvl: st?.totalTvl ?? 0,
    active_delegations: st?.activeDelegations ?? 0,
    total_delegations: st?.totalDelegations ?? 0,
  });
  route<{ pagination_key?: string; fp_btc_pk?: string; sort?: 'random' }>(
    {
      method: 'GET',
      url: '/v1/finality-providers',
      summary:
        'Finality providers with their stake, highest active TVL first; registry-only ones last, with zeros',
      schema: SCHEMAS.finalityProviders,
    },
    async (req) => {
      const q = req.query;
      if (q.fp_btc_pk !== undefined) {
        // The labs API (v1 handlers/finality_provider.go): the one provider, from its statistics or
        // else the registry with zeros, `{"data": null}` if neither knows it; no pagination.
        const pk = q.fp_btc_pk;
        const st = await getFinalityProviderStats(o.db, pk);
        const fp = registry.get(pk);
        return { data: st || fp ? [fpJson(fp, pk, st)] : null };
      }
      const after = q.pagination_key
        ? parseStatsToken('finality_provider_pk_hex', q.pagination_key)
        : undefined;
      let page: Awaited<ReturnType<typeof listFinalityProviderStats>>;
      let withStats: Set<string> | undefined;
      try {
        page = await listFinalityProviderStats(o.db, { after, limit });
        if (!page.next && registry.size > 0) {
          withStats = await finalityProvidersWithStats(o.db, [...registry.keys()]);
        }
      } catch (e) {
        if (!isTransientDbError(e)) throw e;
        // The reference (v1 service/finality_provider.go GetFinalityProviders) answers a database
        // failure with the registry and zero statistics, one page: a dashboard can still offer
        // providers to stake with while the store is away. Logged, and the database gauge drops.
        o.metrics.dbUp.set(0);
        req.log.error(
          { err: e, correlationId: req.id },
          'finality providers: database unavailable, serving the registry',
        );
        const data = [...registry.values()].map((fp) => fpJson(fp, fp.btcPkHex, undefined));
        return { data: q.sort === 'random' ? shuffle(data) : data, pagination: nextKey(undefined) };
      }
      const data = page.rows.map((r) => fpJson(registry.get(r.pkHex), r.pkHex, r));
      if (withStats) {
        for (const fp of registry.values()) {
          if (!withStats.has(fp.btcPkHex)) data.push(fpJson(fp, fp.btcPkHex, undefined));
        }
      }
      // sort=random shuffles within the page, as the labs API does: pages and cursors are those of
      // the TVL order, so paging with sort=random still lists every provider exactly once.
      return {
        data: q.sort === 'random' ? shuffle(data) : data,
        pagination: nextKey(page.next && statsToken('finality_provider_pk_hex', page.next)),
      };
    },
  );
}

/** Fisher–Yates with crypto randomness (a provider's place on the page is worth something). */
function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function describe(fp: FinalityProvider) {
  return {
    moniker: fp.description.moniker,
    identity: fp.description.identity,
    website: fp.description.website,
    security_contact: fp.description.securityContact,
    details: fp.description.details,
  };
}
