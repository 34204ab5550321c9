import {
  type ConfigOf,
  configSchema,
  LOG_SCHEMA,
  loadConfig,
  OPS_RENAMED,
  type RenamedOption,
} from '../runtime/index.ts';

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
        // Origins allowed by CORS (`*` for any); empty: no CORS headers.
        cors_allowed_origins: { type: 'array', items: str, default: ['*'] },
        log_requests: { type: 'boolean', default: false },
        shutdown_grace_ms: ms(10_000, 0),
      },
    },
    // @fastify/rate-limit per client address on the REST listener; loopback clients (a proxy on this
    // host, local tools) are exempt by default.
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
    ops: {
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
        // Client-side bound on one query's answer (the server may be unreachable).
        query_timeout_ms: ms(11_000, 100),
      },
    },
    rabbitmq: {
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
      required: ['file'],
      properties: { file: str, finality_providers_file: str },
    },
    bitcoind: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: { network: { enum: ['mainnet', 'testnet', 'signet', 'regtest'], default: 'mainnet' } },
    },
    // pagination_limit: the reference's `max-pagination-limit`; stats_cache_ms: how long /v1/stats may
    // serve figures read earlier (0: read every time); log_terms_acceptance: serve POST
    // /log-terms-acceptance; max_staking_transaction_height: the labs setting, 0 is off.
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
    // The staking dashboard (web/) at `/`; dir empty: the repository's `web/dist`; explorer_url empty: no links.
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

/** The API's configuration: one TOML file plus `API__SECTION__KEY` environment overrides. */
export type ApiConfig = ConfigOf<typeof API_CONFIG_SCHEMA>;
const API_CONFIG = configSchema(API_CONFIG_SCHEMA);

/**
 * Names this release changed to match the other services; the old ones load for one more release,
 * with a warning.
 */
export const API_RENAMED: readonly RenamedOption[] = [
  OPS_RENAMED,
  { from: 'queue', to: 'rabbitmq' },
  { from: 'bitcoin', to: 'bitcoind' },
  { from: 'params.global_params_file', to: 'params.file' },
];

/**
 * @param warn where deprecation warnings go (default: Node's process warnings, on stderr)
 * @throws {CodedError} CONFIG_… codes naming the option
 */
export function loadApiConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (message: string) => void,
): ApiConfig {
  return loadConfig({
    file,
    envPrefix: 'API',
    schema: API_CONFIG,
    env,
    renamed: API_RENAMED,
    ...(warn ? { warn } : {}),
  });
}
