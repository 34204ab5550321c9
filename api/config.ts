import type { QueueType } from '../events/index.ts';
import { LOG_SCHEMA, type LogLevel, loadConfig } from '../runtime/index.ts';
import type { BitcoinNetwork } from '../staking/index.ts';

/** The API's configuration: one TOML file plus `API__SECTION__KEY` environment overrides. */
export interface ApiConfig {
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly body_limit_bytes: number;
    /** A request's headers must arrive within this, milliseconds (at most request_timeout_ms). */
    readonly headers_timeout_ms: number;
    /** A whole request, headers and body, must arrive within this, milliseconds. */
    readonly request_timeout_ms: number;
    /** An idle kept-alive connection is closed after this, milliseconds. */
    readonly keep_alive_timeout_ms: number;
    /** Connections beyond this many are closed as they arrive. */
    readonly max_connections: number;
    /** A request not answered within this, milliseconds, gets 503 API_TIMEOUT. */
    readonly handler_timeout_ms: number;
    /** Origins allowed by CORS (`*` for any); empty: no CORS headers. */
    readonly cors_allowed_origins: readonly string[];
    /** Log one line per request (off by default: the metrics count them). */
    readonly log_requests: boolean;
    /** Milliseconds requests in flight get at shutdown before their connections are closed. */
    readonly shutdown_grace_ms: number;
  };
  /** @fastify/rate-limit per client address on the REST listener. */
  readonly rate_limit: {
    readonly enabled: boolean;
    /** Requests one client address may make per window. */
    readonly max: number;
    readonly window_ms: number;
    /** Loopback clients (a proxy on this host, local tools) are not limited. */
    readonly exempt_loopback: boolean;
  };
  readonly metrics: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly database: {
    readonly url: string;
    readonly password_file?: string;
    readonly pool_size: number;
    readonly connect_timeout_ms: number;
    readonly statement_timeout_ms: number;
    readonly lock_timeout_ms: number;
    /** Client-side bound on one query's answer, milliseconds (the server may be unreachable). */
    readonly query_timeout_ms: number;
  };
  readonly queue: {
    readonly enabled: boolean;
    readonly url: string;
    readonly password_file?: string;
    readonly prefix: string;
    readonly queue_type: QueueType;
    readonly prefetch: number;
    readonly max_attempts: number;
    readonly retry_delay_ms: number;
    readonly topology: 'ordered' | 'reference';
    readonly requeue_delay_ms: number;
  };
  readonly params: { readonly global_params_file: string; readonly finality_providers_file?: string };
  readonly bitcoin: { readonly network: BitcoinNetwork };
  readonly api: {
    /** Page size of every paginated route (reference `max-pagination-limit`, default 10). */
    readonly pagination_limit: number;
    /** How long /v1/stats may serve figures read earlier, milliseconds (0: read every time). */
    readonly stats_cache_ms: number;
    /** Serve POST /log-terms-acceptance and store what it is sent; false: 404, as the reference's default. */
    readonly log_terms_acceptance: boolean;
    /** Unbonding refused for stakes included above this height (labs max-staking-transaction-height); 0: off. */
    readonly max_staking_transaction_height: number;
  };
  readonly dashboard: {
    /** Serve the staking dashboard (web/) at `/` and `/assets/…`. */
    readonly enabled: boolean;
    /** The built dashboard (`npm run build:web`); empty: the repository's `web/dist`. */
    readonly dir: string;
    /** Block explorer base URL the page links transactions and addresses to; empty: no links. */
    readonly explorer_url: string;
  };
  readonly log: { readonly level: LogLevel };
}

const str = { type: 'string', minLength: 1 } as const;
const port = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const ms = (def: number, min = 1) =>
  ({ type: 'integer', minimum: min, maximum: 3_600_000, default: def }) as const;

export const API_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['params'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { ...str, default: '127.0.0.1' },
        port: { ...port, default: 8092 },
        body_limit_bytes: { type: 'integer', minimum: 256, maximum: 1_048_576, default: 4096 },
        headers_timeout_ms: ms(5_000, 100),
        request_timeout_ms: ms(10_000, 100),
        keep_alive_timeout_ms: ms(5_000, 100),
        max_connections: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1000 },
        handler_timeout_ms: ms(15_000, 100),
        cors_allowed_origins: { type: 'array', items: str, default: ['*'] },
        log_requests: { type: 'boolean', default: false },
        shutdown_grace_ms: ms(10_000, 0),
      },
    },
    rate_limit: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        max: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 600 },
        window_ms: ms(60_000, 1_000),
        exempt_loopback: { type: 'boolean', default: true },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        host: { ...str, default: '127.0.0.1' },
        port: { ...port, default: 2113 },
      },
    },
    database: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: {
          type: 'string',
          pattern: '^postgres(ql)?://',
          hint: 'a postgres:// or postgresql:// URL',
          default: 'postgres://postgres@127.0.0.1:5432/staking_api',
        },
        password_file: str,
        pool_size: { type: 'integer', minimum: 1, maximum: 200, default: 10 },
        connect_timeout_ms: ms(5_000, 100),
        statement_timeout_ms: ms(10_000, 100),
        lock_timeout_ms: ms(5_000, 100),
        query_timeout_ms: ms(11_000, 100),
      },
    },
    queue: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        url: {
          type: 'string',
          pattern: '^amqps?://',
          hint: 'an amqp:// or amqps:// URL',
          default: 'amqp://guest:guest@127.0.0.1:5672',
        },
        password_file: str,
        prefix: {
          type: 'string',
          pattern: '^[A-Za-z0-9_.-]*$',
          hint: 'letters, digits, "_", "." or "-" only',
          default: '',
        },
        queue_type: { enum: ['quorum', 'classic'], default: 'quorum' },
        prefetch: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
        max_attempts: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
        retry_delay_ms: ms(1_000, 0),
        // `reference`: consume staking-queue-client's per-kind queues (events/README.md).
        topology: { enum: ['ordered', 'reference'], default: 'ordered' },
        // The reference's requeue_delay_time (5 s): how long a retried message waits in `<q>_delay`.
        requeue_delay_ms: ms(5_000, 1),
      },
    },
    params: {
      type: 'object',
      additionalProperties: false,
      required: ['global_params_file'],
      properties: { global_params_file: str, finality_providers_file: str },
    },
    bitcoin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { network: { enum: ['mainnet', 'testnet', 'signet', 'regtest'], default: 'mainnet' } },
    },
    api: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        pagination_limit: { type: 'integer', minimum: 2, maximum: 1000, default: 10 },
        stats_cache_ms: ms(1_000, 0),
        log_terms_acceptance: { type: 'boolean', default: true },
        max_staking_transaction_height: { type: 'integer', minimum: 0, maximum: 4_294_967_295, default: 0 },
      },
    },
    dashboard: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        dir: { type: 'string', default: '' },
        // http(s) only and no characters that could leave an HTML attribute: the page embeds it.
        explorer_url: { type: 'string', default: '', pattern: '^(https?://[^\\s"<>]+)?$' },
      },
    },
    log: LOG_SCHEMA,
  },
} as const;

/** @throws {CodedError} CONFIG_… codes naming the option */
export function loadApiConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return loadConfig<ApiConfig>({ file, envPrefix: 'API', schema: API_CONFIG_SCHEMA, env });
}
