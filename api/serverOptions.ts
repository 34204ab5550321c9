// What buildApiServer is given: the store, the params in force, the network and every limit and
// switch from the [api] config. Its own module so the route groups can take it without importing
// the server that calls them.
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/index.ts';
import type { FinalityProvider, GlobalParams } from '../params/index.ts';
import type { ListenerLimits } from '../runtime/index.ts';
import type { BitcoinNetwork } from '../staking/index.ts';
import type { ApiMetrics } from './metrics.ts';

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
