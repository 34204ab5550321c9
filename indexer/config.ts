import { assertNoCredentialsInUrl, BITCOIND_CONNECTION_PROPERTIES } from '../bitcoind/index.ts';
import {
  type ConfigOf,
  configSchema,
  LOG_SCHEMA,
  loadConfig,
  OPS_RENAMED,
  opsSchema,
} from '../runtime/index.ts';

const str = { type: 'string', minLength: 1 } as const;

export const INDEXER_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['bitcoind', 'params', 'store', 'rabbitmq'],
  properties: {
    bitcoind: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        ...BITCOIND_CONNECTION_PROPERTIES,
        timeout_ms: { type: 'integer', minimum: 100, default: 30_000 },
        poll_interval_ms: { type: 'integer', minimum: 10, default: 5_000 },
        fetch_batch_blocks: { type: 'integer', minimum: 1, maximum: 1000, default: 16 },
        fetch_concurrency: { type: 'integer', minimum: 1, maximum: 64, default: 8 },
        fetch_via: { enum: ['auto', 'rest', 'rpc'], default: 'auto' },
      },
    },
    params: { type: 'object', additionalProperties: false, required: ['file'], properties: { file: str } },
    store: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: str,
        commit_max_blocks: { type: 'integer', minimum: 1, maximum: 10_000, default: 200 },
      },
    },
    rabbitmq: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: '^amqps?://', hint: 'an amqp:// or amqps:// URL' },
        user: str,
        password_file: str,
        prefix: {
          type: 'string',
          pattern: '^[A-Za-z0-9_.-]{0,64}$',
          hint: 'at most 64 letters, digits, "_", "." or "-"',
          default: '',
        },
        queue_type: { enum: ['quorum', 'classic'], default: 'quorum' },
        reference_queues: { type: 'boolean', default: false },
        topology: { enum: ['ordered', 'reference'], default: 'ordered' },
        // The reference indexer's ExtraEventEnabled (off there too): one event per confirmed block.
        confirmed_info_events: { type: 'boolean', default: false },
        heartbeat_s: { type: 'integer', minimum: 1, maximum: 600, default: 10 },
        batch_size: { type: 'integer', minimum: 1, maximum: 10_000, default: 500 },
      },
    },
    ops: opsSchema(2114),
    log: {
      ...LOG_SCHEMA,
      properties: {
        ...LOG_SCHEMA.properties,
        // Bitcoin Core reports every block; a catch-up of a long chain needs a steadier rhythm.
        progress_interval_ms: { type: 'integer', minimum: 1, maximum: 3_600_000, default: 10_000 },
      },
    },
  },
} as const;

/** The indexer's configuration: one TOML file plus `INDEXER__SECTION__KEY` environment overrides. */
export type IndexerConfig = ConfigOf<typeof INDEXER_CONFIG_SCHEMA>;
const INDEXER_CONFIG = configSchema(INDEXER_CONFIG_SCHEMA);

/** Names this release changed; the old ones load for one more release, with a warning. */
export const INDEXER_RENAMED = [OPS_RENAMED] as const;

/**
 * @param warn where deprecation warnings go (default: Node's process warnings, on stderr)
 * @throws {CodedError} CONFIG_… codes naming the option */
export function loadIndexerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (message: string) => void,
): IndexerConfig {
  const config = loadConfig({
    file,
    envPrefix: 'INDEXER',
    schema: INDEXER_CONFIG,
    env,
    renamed: INDEXER_RENAMED,
    ...(warn ? { warn } : {}),
  });
  assertNoCredentialsInUrl(config.bitcoind);
  return config;
}
