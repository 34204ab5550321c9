import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifySchema,
  LogController,
} from 'fastify';
import { CodedError, isCodedError, parseXOnlyKey } from '../common/index.ts';
import {
  type Database,
  type Delegation,
  type DelegationState,
  finalityProvidersWithStats,
  getDelegation,
  getStakerStats,
  hasActiveDelegationForProgram,
  listFinalityProviderStats,
  listStakerDelegations,
  listStakerStats,
  type PartyStats,
  readBtcInfo,
  readOverallStats,
} from '../db/index.ts';
import { type FinalityProvider, type GlobalParams, paramsVersionToJson } from '../params/index.ts';
import type { BitcoinNetwork } from '../staking/index.ts';
import { programOfAddress } from './addresses.ts';
import { FirstPageBatcher } from './batcher.ts';
import { apiErrorHandler, clientErrorHandler, frameworkErrors, notFound } from './errorReplies.ts';
import type { ApiErrorCode } from './errors.ts';
import { capConnections, type ListenerLimits, listenerOptions } from './listenerLimits.ts';
import type { ApiMetrics } from './metrics.ts';
import { buildOpenApi, docsPage } from './openapi.ts';
import { delegationToken, parseDelegationToken, parseStatsToken, statsToken } from './pagination.ts';
import { SCHEMAS } from './schemas.ts';
import { DOCS_CSP, registerSecurityHeaders } from './securityHeaders.ts';
import { submitUnbonding, type UnbondingRequestBody, unbondingRefusal } from './unbonding.ts';

export interface ApiServerOptions {
  readonly db: Database;
  readonly params: GlobalParams;
  readonly finalityProviders: readonly FinalityProvider[];
  readonly network: BitcoinNetwork;
  readonly paginationLimit: number;
  readonly statsCacheMs: number;
  readonly bodyLimitBytes: number;
  readonly limits: ListenerLimits;
  /** Requests not answered within this get 503 API_TIMEOUT (fastify's handlerTimeout). */
  readonly handlerTimeoutMs: number;
  readonly corsAllowedOrigins: readonly string[];
  readonly logRequests: boolean;
  readonly metrics: ApiMetrics;
  readonly logger: FastifyBaseLogger;
}

/** A route as declared once, for fastify and for the OpenAPI document. */
export interface RouteSpec {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly summary: string;
  readonly schema: FastifySchema;
}

/** The reference's DelegationPublic (§3.3). */
function toPublic(d: Delegation) {
  const time = (ts: number) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    staking_tx_hash_hex: d.stakingTxHashHex,
    staker_pk_hex: d.stakerPkHex,
    finality_provider_pk_hex: d.finalityProviderPkHex,
    state: d.state,
    staking_value: d.stakingValue,
    staking_tx: {
      tx_hex: d.stakingTxHex,
      output_index: d.stakingOutputIndex,
      start_timestamp: time(d.stakingStartTimestamp),
      start_height: d.stakingStartHeight,
      timelock: d.stakingTimelock,
    },
    ...(d.unbonding
      ? {
          unbonding_tx: {
            tx_hex: d.unbonding.txHex,
            output_index: d.unbonding.outputIndex,
            start_timestamp: time(d.unbonding.startTimestamp),
            start_height: d.unbonding.startHeight,
            timelock: d.unbonding.timelock,
          },
        }
      : {}),
    is_overflow: d.isOverflow,
  };
}

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

const EMPTY_DESCRIPTION = { moniker: '', identity: '', website: '', security_contact: '', details: '' };

/**
 * Builds the REST service (not listening: the caller listens, tests use inject()). Strict schemas
 * on every input, response schemas on every output, the reference's envelope and error body with
 * our code beside its wire code, a root error handler that never leaks a 5xx's detail.
 */
export function buildApiServer(o: ApiServerOptions): { app: FastifyInstance; routes: readonly RouteSpec[] } {
  const app = Fastify({
    loggerInstance: o.logger,
    bodyLimit: o.bodyLimitBytes,
    ...listenerOptions(o.limits),
    handlerTimeout: o.handlerTimeoutMs,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    logController: new LogController({ disableRequestLogging: !o.logRequests }),
    // Strict: no coercion (every query parameter is a string anyway), unknown fields refused, first error only.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false },
    },
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    return503OnClosing: false,
    // No child logger per request (a measurable share of a cheap request): our log lines name the
    // correlation id themselves.
    childLoggerFactory: (logger) => logger,
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(o.logger),
  });
  capConnections(app.server, o.limits);
  registerSecurityHeaders(app);
  const routes: RouteSpec[] = [];
  const limit = o.paginationLimit;
  const stats = new StatsCache(o.db, o.statsCacheMs, () => o.metrics.statsRefreshes.inc());
  const firstPages = new FirstPageBatcher(o.db, limit);
  const registry = new Map(o.finalityProviders.map((fp) => [fp.btcPkHex, fp]));
  const globalParams = JSON.stringify({ data: { versions: o.params.versions.map(paramsVersionToJson) } });

  // Callback hooks, not async ones: one promise fewer per request on the hot routes.
  const anyOrigin = o.corsAllowedOrigins.includes('*');
  const cors = o.corsAllowedOrigins.length > 0;
  // Requests arriving on kept-alive connections while the server closes get our 503 body
  // (fastify's own, return503OnClosing, has another shape).
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (req, reply, done) => {
    if (closing) {
      reply.code(503).header('connection', 'close').header('x-correlation-id', req.id).send({
        errorCode: 'SERVICE_UNAVAILABLE',
        message: 'the instance is shutting down; retry',
        code: 'API_SHUTTING_DOWN',
      });
      return;
    }
    const origin = req.headers.origin;
    if (cors && origin !== undefined) {
      if (anyOrigin) reply.header('access-control-allow-origin', '*');
      else if (o.corsAllowedOrigins.includes(origin)) {
        reply.header('access-control-allow-origin', origin);
        reply.header('vary', 'Origin');
      }
    }
    done();
  });
  // One histogram child per (route, status), looked up by a string key rather than hashed labels.
  const durations = new Map<string, { observe(v: number): void }>();
  app.addHook('onResponse', (req, reply, done) => {
    const endpoint = req.routeOptions.url ?? 'unmatched';
    const key = `${reply.statusCode} ${endpoint}`;
    let child = durations.get(key);
    if (!child) {
      child = o.metrics.httpDuration.labels({ endpoint, status: String(reply.statusCode) });
      durations.set(key, child);
    }
    child.observe(reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler(apiErrorHandler(o));
  app.setNotFoundHandler((req, reply) => {
    if (req.method === 'OPTIONS' && o.corsAllowedOrigins.length > 0) {
      // CORS preflight for any route.
      return reply
        .status(204)
        .header('access-control-allow-methods', 'GET, POST, OPTIONS')
        .header('access-control-allow-headers', 'Content-Type')
        .header('access-control-max-age', '600')
        .send();
    }
    return notFound(req, reply);
  });

  const route = <Q = unknown, B = unknown>(
    spec: RouteSpec,
    handler: (req: { query: Q; body: B; id: string; log: FastifyBaseLogger }, reply: FastifyReply) => unknown,
  ) => {
    routes.push(spec);
    app.route({
      method: spec.method,
      url: spec.url,
      schema: spec.schema,
      handler: handler as never,
    });
  };
  // The curve check itself is remembered for recent keys (common/curve).
  const stakerKey = (hex: string) => {
    if (!isValidXOnlyKey(hex))
      throw new CodedError<ApiErrorCode>(
        'API_INVALID_STAKER_PK',
        'staker_btc_pk is not a valid x-only public key',
      );
    return hex;
  };
  const nextKey = (t: string | undefined) => ({ next_key: t ?? '' });

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
        const one = await getStakerStats(o.db, stakerKey(q.staker_btc_pk));
        return { data: one ? [stakerStatsJson(one)] : [], pagination: nextKey(undefined) };
      }
      const after = q.pagination_key ? parseStatsToken('staker_pk_hex', q.pagination_key) : undefined;
      const page = await listStakerStats(o.db, { after, limit });
      return {
        data: page.rows.map(stakerStatsJson),
        pagination: nextKey(page.next && statsToken('staker_pk_hex', page.next)),
      };
    },
  );

  route<{ staker_btc_pk: string; pagination_key?: string; state?: DelegationState }>(
    {
      method: 'GET',
      url: '/v1/staker/delegations',
      summary: 'A staker’s delegations, newest first, optionally of one state',
      schema: SCHEMAS.stakerDelegations,
    },
    async (req) => {
      const q = req.query;
      const pk = stakerKey(q.staker_btc_pk);
      const page = q.pagination_key
        ? await listStakerDelegations(o.db, {
            stakerPkHex: pk,
            state: q.state,
            after: parseDelegationToken(q.pagination_key),
            limit,
          })
        : await firstPages.get(pk, q.state);
      return { data: page.rows.map(toPublic), pagination: nextKey(page.next && delegationToken(page.next)) };
    },
  );

  route<{ staking_tx_hash_hex: string }>(
    {
      method: 'GET',
      url: '/v1/delegation',
      summary: 'One delegation by staking tx hash',
      schema: SCHEMAS.delegation,
    },
    async (req) => {
      const d = await getDelegation(o.db, req.query.staking_tx_hash_hex);
      if (!d)
        throw new CodedError<ApiErrorCode>(
          'API_DELEGATION_NOT_FOUND',
          'staking delegation not found, please retry',
        );
      return { data: toPublic(d) };
    },
  );

  route<{ address: string; timeframe?: 'today' }>(
    {
      method: 'GET',
      url: '/v1/staker/delegation/check',
      summary: 'Whether the address’s key has an active delegation (optionally started today, UTC)',
      schema: SCHEMAS.delegationCheck,
    },
    async (req) => {
      const program = programOfAddress(req.query.address, o.network);
      let since: number | undefined;
      if (req.query.timeframe === 'today') {
        const now = new Date();
        since = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) / 1000;
      }
      return { data: await hasActiveDelegationForProgram(o.db, program, since) };
    },
  );

  route<unknown, UnbondingRequestBody>(
    {
      method: 'POST',
      url: '/v1/unbonding',
      summary: 'Request the unbonding of an active delegation (staker-signed unbonding tx)',
      schema: SCHEMAS.unbonding,
    },
    async (req, reply) => {
      try {
        await submitUnbonding(o.db, o.params, req.body);
      } catch (e) {
        o.metrics.unbondingRequests.inc({ code: isCodedError(e) ? e.code : 'error' });
        throw e;
      }
      o.metrics.unbondingRequests.inc({ code: 'OK' });
      req.log.info(
        {
          correlationId: req.id,
          stakingTxHash: req.body.staking_tx_hash_hex,
          unbondingTxHash: req.body.unbonding_tx_hash_hex,
        },
        'unbonding request accepted',
      );
      return reply.status(202).send(null);
    },
  );

  route<{ staking_tx_hash_hex: string }>(
    {
      method: 'GET',
      url: '/v1/unbonding/eligibility',
      summary: 'Whether a delegation can be unbonded now (200 null) or why not (403)',
      schema: SCHEMAS.unbondingEligibility,
    },
    async (req, reply) => {
      const hash = req.query.staking_tx_hash_hex;
      const refusal = await unbondingRefusal(o.db, await getDelegation(o.db, hash), hash);
      if (refusal) throw refusal;
      return reply.status(200).send(null);
    },
  );

  route<{ pagination_key?: string }>(
    {
      method: 'GET',
      url: '/v1/finality-providers',
      summary:
        'Finality providers with their stake, highest active TVL first; registry-only ones last, with zeros',
      schema: SCHEMAS.finalityProviders,
    },
    async (req) => {
      const after = req.query.pagination_key
        ? parseStatsToken('finality_provider_pk_hex', req.query.pagination_key)
        : undefined;
      const page = await listFinalityProviderStats(o.db, { after, limit });
      const data = page.rows.map((r) => {
        const fp = registry.get(r.pkHex);
        return {
          description: fp ? describe(fp) : EMPTY_DESCRIPTION,
          commission: fp?.commission ?? '',
          btc_pk: r.pkHex,
          active_tvl: r.activeTvl,
          total_tvl: r.totalTvl,
          active_delegations: r.activeDelegations,
          total_delegations: r.totalDelegations,
        };
      });
      if (!page.next && registry.size > 0) {
        const withStats = await finalityProvidersWithStats(o.db, [...registry.keys()]);
        for (const fp of registry.values()) {
          if (withStats.has(fp.btcPkHex)) continue;
          data.push({
            description: describe(fp),
            commission: fp.commission,
            btc_pk: fp.btcPkHex,
            active_tvl: 0,
            total_tvl: 0,
            active_delegations: 0,
            total_delegations: 0,
          });
        }
      }
      return { data, pagination: nextKey(page.next && statsToken('finality_provider_pk_hex', page.next)) };
    },
  );

  route(
    {
      method: 'GET',
      url: '/v1/global-params',
      summary: 'The global parameters, every version',
      schema: SCHEMAS.globalParams,
    },
    (_req, reply) => reply.type('application/json; charset=utf-8').send(globalParams),
  );

  route(
    {
      method: 'GET',
      url: '/healthcheck',
      summary: 'Reference health check: pings the database',
      schema: SCHEMAS.healthcheck,
    },
    async () => {
      await o.db.ping();
      return { data: 'Server is up and running' };
    },
  );
  // Readiness, with the database's and the broker's state, is on the ops listener only: on the
  // public port it told anyone the database name, its address and error texts.
  route(
    { method: 'GET', url: '/healthz', summary: 'Liveness (no dependency)', schema: SCHEMAS.healthz },
    () => ({
      status: 'ok',
    }),
  );
  const openapi = buildOpenApi(routes);
  const page = docsPage(openapi);
  app.get('/openapi.json', async () => openapi);
  app.get('/docs', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', DOCS_CSP).send(page),
  );
  return { app, routes };
}

function isValidXOnlyKey(hex: string): boolean {
  try {
    parseXOnlyKey(hex, 'staker_btc_pk', 'API_INVALID_STAKER_PK');
    return true;
  } catch {
    return false;
  }
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

function describe(fp: FinalityProvider) {
  return {
    moniker: fp.description.moniker,
    identity: fp.description.identity,
    website: fp.description.website,
    security_contact: fp.description.securityContact,
    details: fp.description.details,
  };
}
