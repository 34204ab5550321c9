import { LOG_SCHEMA, type LogLevel, loadConfig } from '../common/index.ts';
import type { QueueType } from '../events/index.ts';
import type { BitcoinNetwork } from '../staking/index.ts';

/** The API's configuration: one TOML file plus `API__SECTION__KEY` environment overrides. */
export interface ApiConfig {
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly body_limit_bytes: number;
    readonly request_timeout_ms: number;
    readonly keep_alive_timeout_ms: number;
    /** Origins allowed by CORS (`*` for any); empty: no CORS headers. */
    readonly cors_allowed_origins: readonly string[];
    /** Log one line per request (off by default: the metrics count them). */
    readonly log_requests: boolean;
    /** Milliseconds requests in flight get at shutdown before their connections are closed. */
    readonly shutdown_grace_ms: number;
  };
  readonly metrics: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly database: {
    readonly url: string;
    readonly password_file?: string;
    readonly pool_size: number;
    readonly connect_timeout_ms: number;
    readonly statement_timeout_ms: number;
    readonly lock_timeout_ms: number;
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
  };
  readonly params: { readonly global_params_file: string; readonly finality_providers_file?: string };
  readonly bitcoin: { readonly network: BitcoinNetwork };
  readonly api: {
    /** Page size of every paginated route (reference `max-pagination-limit`, default 10). */
    readonly pagination_limit: number;
    /** How long /v1/stats may serve figures read earlier, milliseconds (0: read every time). */
    readonly stats_cache_ms: number;
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
        request_timeout_ms: ms(10_000, 100),
        keep_alive_timeout_ms: ms(72_000, 100),
        cors_allowed_origins: { type: 'array', items: str, default: ['*'] },
        log_requests: { type: 'boolean', default: false },
        shutdown_grace_ms: ms(10_000, 0),
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
          default: 'postgres://postgres@127.0.0.1:5432/staking_api',
        },
        password_file: str,
        pool_size: { type: 'integer', minimum: 1, maximum: 200, default: 10 },
        connect_timeout_ms: ms(5_000, 100),
        statement_timeout_ms: ms(10_000, 100),
        lock_timeout_ms: ms(5_000, 100),
      },
    },
    queue: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        url: { type: 'string', pattern: '^amqps?://', default: 'amqp://guest:guest@127.0.0.1:5672' },
        password_file: str,
        prefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]*$', default: '' },
        queue_type: { enum: ['quorum', 'classic'], default: 'quorum' },
        prefetch: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
        max_attempts: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
        retry_delay_ms: ms(1_000, 0),
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
