import {
  assertNoCredentialsInUrl,
  BITCOIND_CONNECTION_PROPERTIES,
  type BitcoindConnectionConfig,
} from '../bitcoind/index.ts';
import type { QueueType } from '../events/index.ts';
import { LOG_SCHEMA, type LogLevel, loadConfig, metricsSchema } from '../runtime/index.ts';
import type { FetchVia } from './fetchThread.ts';

/** The indexer's configuration: one TOML file plus `INDEXER__SECTION__KEY` environment overrides. */
export interface IndexerConfig {
  readonly bitcoind: BitcoindConnectionConfig & {
    readonly poll_interval_ms: number;
    readonly fetch_batch_blocks: number;
    readonly fetch_concurrency: number;
    readonly fetch_via: FetchVia;
  };
  readonly params: { readonly file: string };
  readonly store: { readonly path: string; readonly commit_max_blocks: number };
  readonly rabbitmq: {
    readonly url: string;
    readonly user?: string;
    readonly password_file?: string;
    readonly prefix: string;
    readonly queue_type: QueueType;
    readonly reference_queues: boolean;
    readonly topology: 'ordered' | 'reference';
    readonly confirmed_info_events: boolean;
    readonly heartbeat_s: number;
    readonly batch_size: number;
  };
  readonly metrics: { readonly host: string; readonly port: number };
  readonly log: { readonly level: LogLevel; readonly progress_interval_ms: number };
}

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
    metrics: metricsSchema(2114),
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

/** @throws {CodedError} CONFIG_… codes naming the option */
export function loadIndexerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): IndexerConfig {
  const config = loadConfig<IndexerConfig>({
    file,
    envPrefix: 'INDEXER',
    schema: INDEXER_CONFIG_SCHEMA,
    env,
  });
  assertNoCredentialsInUrl(config.bitcoind);
  return config;
}
