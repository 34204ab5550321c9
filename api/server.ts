import { randomInt, randomUUID } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchema,
  LogController,
  type RouteOptions,
} from 'fastify';
import { CodedError, isCodedError, parseXOnlyKey } from '../common/index.ts';
import {
  type Database,
  type Delegation,
  type DelegationState,
  finalityProvidersWithStats,
  getDelegation,
  getFinalityProviderStats,
  getStakerStats,
  hasActiveDelegationForProgram,
  isTransientDbError,
  listFinalityProviderStats,
  listStakerDelegations,
  listStakerStats,
  type PartyStats,
  readBtcInfo,
  readOverallStats,
  recordTermsAcceptance,
  stakerPksByPrograms,
} from '../db/index.ts';
import { type FinalityProvider, type GlobalParams, paramsVersionToJson } from '../params/index.ts';
import { capConnections, type ListenerLimits, listenerOptions } from '../runtime/index.ts';
import type { BitcoinNetwork } from '../staking/index.ts';
import { programOfAddress } from './addresses.ts';
import { FirstPageBatcher } from './batcher.ts';
import { apiErrorHandler, clientErrorHandler, frameworkErrors, notFound } from './errorReplies.ts';
import type { ApiErrorCode } from './errors.ts';
import type { ApiMetrics } from './metrics.ts';
import { delegationToken, parseDelegationToken, parseStatsToken, statsToken } from './pagination.ts';
import { HEX_FIELDS, SCHEMAS } from './schemas.ts';
import { DOCS_CSP, registerSecurityHeaders } from './securityHeaders.ts';
import { submitUnbonding, type UnbondingRequestBody, unbondingRefusal } from './unbonding.ts';

/** The params in force; a SIGHUP reload (app.ts) replaces `current`. */
export interface ParamsSource {
  readonly current: GlobalParams;
}

export interface RateLimitOptions {
  readonly enabled: boolean;
  /** Requests per client address per window. */
  readonly max: number;
  readonly windowMs: number;
  /** Loopback clients (127.0.0.0/8, ::1) are not limited. */
  readonly exemptLoopback: boolean;
}

export interface ApiServerOptions {
  readonly db: Database;
  readonly params: ParamsSource;
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
  /** POST /log-terms-acceptance stores what it is sent; off: the route is absent (404), as the reference's default. */
  readonly termsAcceptance: boolean;
  /** Unbonding refused for stakes included above this height (the labs cutoff); 0: off. */
  readonly maxStakingTransactionHeight: number;
  readonly rateLimit: RateLimitOptions;
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

/** States with an action left for the staker (unbond, wait, withdraw); the labs API's pending_action filter. */
const PENDING_ACTION_STATES: readonly DelegationState[] = [
  'active',
  'unbonding_requested',
  'unbonding',
  'unbonded',
];

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
    // No coercion (every query parameter is a string anyway), first error only. Unknown fields are
    // dropped, not refused, as the reference ignores them (the top level is dropped and logged by
    // tolerantReader first; removeAdditional catches nested objects such as a utxo's).
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false, useDefaults: false },
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
  // Both collect routes as they are declared (onRoute hooks), so both come before any route.
  registerOpenApi(app, () => new Set(routes.map((r) => r.url)));
  if (o.rateLimit.enabled) registerRateLimit(app, o.rateLimit);
  const limit = o.paginationLimit;
  const stats = new StatsCache(o.db, o.statsCacheMs, () => o.metrics.statsRefreshes.inc());
  const firstPages = new FirstPageBatcher(o.db, limit);
  const registry = new Map(o.finalityProviders.map((fp) => [fp.btcPkHex, fp]));
  // Rebuilt when a reload replaced the params (compared by identity: a reload makes a new object).
  let paramsBody: { of: GlobalParams; json: string } | undefined;
  const globalParams = () => {
    const p = o.params.current;
    if (paramsBody?.of !== p) {
      paramsBody = {
        of: p,
        json: JSON.stringify({ data: { versions: p.versions.map(paramsVersionToJson) } }),
      };
    }
    return paramsBody.json;
  };

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
  // Unknown paths count against the same per-address limit (a scanner walks 404s); the plugin's
  // handler exists once it has loaded, so it is taken at the first such request.
  let limitNotFound: ReturnType<FastifyInstance['rateLimit']> | undefined;
  const notFoundOptions = o.rateLimit.enabled
    ? {
        preHandler: (req: FastifyRequest, reply: FastifyReply) => {
          limitNotFound ??= app.rateLimit();
          return limitNotFound.call(app, req, reply);
        },
      }
    : {};
  app.setNotFoundHandler(notFoundOptions, (req, reply) => {
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

  // Declared here, added to fastify at the end inside one plugin: registered plugins (swagger,
  // rate limit) are loaded before it, so their onRoute hooks see every route.
  const defs: RouteOptions[] = [];
  const route = <Q = unknown, B = unknown>(
    spec: RouteSpec,
    handler: (req: { query: Q; body: B; id: string; log: FastifyBaseLogger }, reply: FastifyReply) => unknown,
  ) => {
    routes.push(spec);
    defs.push({
      method: spec.method,
      url: spec.url,
      schema: { ...spec.schema, summary: spec.summary },
      preValidation: tolerantReader(spec.schema),
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
  const cutoff = { maxStakingTransactionHeight: o.maxStakingTransactionHeight };

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

  route<{ staker_btc_pk: string; pagination_key?: string; state?: DelegationState; pending_action?: string }>(
    {
      method: 'GET',
      url: '/v1/staker/delegations',
      summary: 'A staker’s delegations, newest first, optionally of one state or with a pending action',
      schema: SCHEMAS.stakerDelegations,
    },
    async (req) => {
      const q = req.query;
      const pk = stakerKey(q.staker_btc_pk);
      // The labs API (v1 handlers/staker.go GetStakerDelegations): the states a staker can still act on.
      const pending =
        q.pending_action !== undefined && ['true', '1', 't', 'T', 'TRUE', 'True'].includes(q.pending_action);
      const page =
        q.pagination_key || pending
          ? await listStakerDelegations(o.db, {
              stakerPkHex: pk,
              state: q.state,
              states: pending ? PENDING_ACTION_STATES : undefined,
              after: q.pagination_key ? parseDelegationToken(q.pagination_key) : undefined,
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
      return { data: await hasActiveDelegationForProgram(o.db, program, since), code: 0 };
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
        await submitUnbonding(o.db, o.params.current, req.body, cutoff);
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
      const refusal = await unbondingRefusal(o.db, await getDelegation(o.db, hash), hash, cutoff);
      if (refusal) throw refusal;
      return reply.status(200).send(null);
    },
  );

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

  route(
    {
      method: 'GET',
      url: '/v1/global-params',
      summary: 'The global parameters, every version',
      schema: SCHEMAS.globalParams,
    },
    (_req, reply) => reply.type('application/json; charset=utf-8').send(globalParams()),
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

  route<{ address: string | string[] }>(
    {
      method: 'GET',
      url: '/v1/staker/pubkey-lookup',
      summary:
        'The x-only public keys behind taproot or P2WPKH addresses, for stakers with a delegation (address → key)',
      schema: SCHEMAS.pubkeyLookup,
    },
    async (req) => {
      const addresses = [req.query.address].flat();
      const programs = new Map(addresses.map((a) => [a, programOfAddress(a, o.network)]));
      const found = await stakerPksByPrograms(o.db, [...new Set(programs.values())]);
      const data: Record<string, string> = {};
      for (const [a, program] of programs) {
        const pk = found.get(program);
        if (pk !== undefined) data[a] = pk;
      }
      return { data };
    },
  );

  // The reference registers this route only with an ordinals service configured (`assets`), and
  // answers 404 otherwise; we have none, so 404 always, and a dashboard falls back to its own
  // UTXO handling. Declared so that a body of any shape gets that 404 rather than a 400 or 415.
  const ordinals: RouteSpec = {
    method: 'POST',
    url: '/v1/ordinals/verify-utxos',
    summary: 'Ordinals check of UTXOs: not offered here (404, as the reference without an ordinals service)',
    schema: SCHEMAS.verifyUtxos,
  };
  routes.push(ordinals);
  defs.push({
    method: ordinals.method,
    url: ordinals.url,
    schema: { ...ordinals.schema, summary: ordinals.summary },
    // Before the body is read: an empty or odd body gets the same 404 (the reference's test posts none).
    onRequest: (_req, _reply, done) =>
      done(
        new CodedError<ApiErrorCode>(
          'API_ORDINALS_NOT_CONFIGURED',
          'no ordinals service is configured on this API',
        ),
      ),
    handler: () => null,
  });

  if (o.termsAcceptance) {
    route<unknown, { address: string; public_key: string }>(
      {
        method: 'POST',
        url: '/log-terms-acceptance',
        summary: 'Record that a wallet accepted the terms of use',
        schema: SCHEMAS.termsAcceptance,
      },
      async (req) => {
        programOfAddress(req.body.address, o.network);
        if (!isValidXOnlyKey(req.body.public_key)) {
          throw new CodedError<ApiErrorCode>(
            'API_INVALID_PUBLIC_KEY',
            'public_key is not a valid x-only public key',
          );
        }
        await recordTermsAcceptance(o.db, req.body.address, req.body.public_key);
        return { data: { status: true } };
      },
    );
  }

  void app.register(async (scope) => {
    for (const d of defs) scope.route(d);
  });
  registerDocs(app);
  return { app, routes };
}

/** At most this many ignored names, each cut to this length, go to the debug log. */
const MAX_LOGGED_UNKNOWN = 10;
const MAX_LOGGED_NAME = 64;

/**
 * The reference's tolerance, where it is safe: query parameters and top-level body fields the
 * route does not know are dropped (and logged at debug: a client sending them may expect
 * something we do not do), and hex fields (HEX_FIELDS) are turned to lowercase, before the
 * route's schema validates what remains. Known fields with bad values are still refused.
 */
function tolerantReader(schema: FastifySchema) {
  const known = (part: unknown) => {
    const props = (part as { properties?: Record<string, unknown> } | undefined)?.properties;
    return props ? new Set(Object.keys(props)) : undefined;
  };
  const queryKeys = known(schema.querystring);
  const bodyKeys = known(schema.body);
  return (req: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    const ignored: string[] = [];
    const drop = (o: unknown, keys: Set<string> | undefined, where: string) => {
      if (!keys || !isPlainObject(o)) return;
      for (const k of Object.keys(o)) {
        if (keys.has(k)) continue;
        delete o[k];
        if (ignored.length < MAX_LOGGED_UNKNOWN) ignored.push(`${where}.${k.slice(0, MAX_LOGGED_NAME)}`);
      }
    };
    drop(req.query, queryKeys, 'query');
    drop(req.body, bodyKeys, 'body');
    if (ignored.length > 0)
      req.log.debug({ correlationId: req.id, ignored }, 'ignored unknown request fields');
    lowercaseHex(req.query, 0);
    lowercaseHex(req.params, 0);
    lowercaseHex(req.body, 0);
    done();
  };
}

function isPlainObject(o: unknown): o is Record<string, unknown> {
  return typeof o === 'object' && o !== null && !Array.isArray(o);
}

/** Request bodies are shallow (a list of objects at most): deeper is never ours to normalise. */
function lowercaseHex(o: unknown, depth: number): void {
  if (depth > 3) return;
  if (Array.isArray(o)) {
    for (const x of o) lowercaseHex(x, depth + 1);
    return;
  }
  if (!isPlainObject(o)) return;
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'string') {
      if (HEX_FIELDS.has(k)) o[k] = v.toLowerCase();
    } else if (Array.isArray(v) && HEX_FIELDS.has(k)) {
      o[k] = v.map((x) => (typeof x === 'string' ? x.toLowerCase() : x));
    } else {
      lowercaseHex(v, depth + 1);
    }
  }
}

/** Fisher–Yates with crypto randomness (a provider's place on the page is worth something). */
function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');

/**
 * @fastify/rate-limit per client address (the socket's: the API trusts no forwarding header),
 * answered 429 API_RATE_LIMITED in the one error format, with its Retry-After and
 * x-ratelimit-* headers.
 */
function registerRateLimit(app: FastifyInstance, o: RateLimitOptions): void {
  void app.register(rateLimit, {
    global: true,
    max: o.max,
    timeWindow: o.windowMs,
    ...(o.exemptLoopback ? { allowList: (req: FastifyRequest) => isLoopback(req.ip) } : {}),
    errorResponseBuilder: (_req, ctx) =>
      new CodedError<ApiErrorCode>(
        'API_RATE_LIMITED',
        `too many requests from this address; retry in ${Math.max(1, Math.ceil(ctx.ttl / 1000))} s`,
      ),
  });
}

/**
 * The OpenAPI 3.0 document (@fastify/swagger) from the very schemas fastify validates and
 * serializes with; routes outside `documented()` (the dashboard's, the docs' own) are hidden.
 */
function registerOpenApi(app: FastifyInstance, documented: () => ReadonlySet<string>): void {
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Staking API (Babylon phase-1)',
        version: '1.0.0',
        description:
          'Reference-compatible staking API: the phase-1 routes, envelopes and JSON shapes of staking-api-service. ' +
          'Errors are {"errorCode", "message", "code"}: the reference wire code, a sentence, and our stable code (api/README.md).',
      },
    },
    transform: ({ schema, url }) => ({
      schema: (documented().has(url) ? schema : { ...schema, hide: true }) as never,
      url,
    }),
  });
}

/**
 * The document at /openapi.json and the reference's /swagger/doc.json; Swagger UI
 * (@fastify/swagger-ui, its assets served from node_modules: no CDN) at /docs and at the
 * reference's /swagger/. Each UI in a scope of its own (the plugin decorates its instance), with
 * a CSP that allows this origin's scripts, styles and images only.
 */
function registerDocs(app: FastifyInstance): void {
  const hidden = { schema: { hide: true } };
  app.get('/openapi.json', hidden, () => app.swagger());
  app.get('/swagger/doc.json', hidden, () => app.swagger());
  app.get('/swagger/index.html', hidden, (_req, reply) => reply.redirect('/swagger/'));
  for (const prefix of ['/docs', '/swagger']) {
    void app.register(async (scope) => {
      await scope.register(swaggerUi, {
        routePrefix: prefix,
        staticCSP: DOCS_CSP,
        // BaseLayout: no top bar, i.e. no box to load other documents and no logo with an inline
        // <style> the CSP would have to allow.
        uiConfig: { validatorUrl: null, layout: 'BaseLayout' },
        // No logo: the plugin's default is drawn as a data: image, which the CSP would have to allow.
        // null is what its code checks for (index.js); its types only know a logo object.
        logo: null as never,
      });
    });
  }
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
