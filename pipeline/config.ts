import {
  assertNoCredentialsInUrl,
  BITCOIND_CONNECTION_PROPERTIES,
  type BitcoindConnectionConfig,
} from '../bitcoind/index.ts';
import { LOG_SCHEMA, type LogLevel, loadConfig, metricsSchema } from '../common/index.ts';

/** The pipeline's configuration: one TOML file plus `PIPELINE__SECTION__KEY` environment overrides. */
export interface PipelineConfig {
  readonly pipeline: {
    /** Name of this instance in claims and logs (default: hostname-pid). */
    readonly worker_id?: string;
    readonly interval_ms: number;
    readonly batch_size: number;
    /** Requests processed at once by this instance. */
    readonly concurrency: number;
    /** How long a claim holds a request; a crashed instance's requests are due again after it. */
    readonly lease_ms: number;
    readonly backoff_base_ms: number;
    readonly backoff_max_ms: number;
  };
  readonly database: {
    readonly url: string;
    /** Overrides the URL's password; the file must be readable only by its owner. */
    readonly password_file?: string;
  };
  readonly bitcoind: BitcoindConnectionConfig;
  readonly params: { readonly file: string };
  /** The pipeline's client certificate for every signer. */
  readonly tls: { readonly client_cert_file: string; readonly client_key_file: string };
  readonly signers: ReadonlyArray<{
    readonly name: string;
    readonly url: string;
    /** The covenant key this signer holds, 33-byte compressed hex as in the params. */
    readonly public_key: string;
    /** The CA that issued this signer's server certificate. */
    readonly ca_file: string;
    readonly timeout_ms: number;
  }>;
  readonly metrics: { readonly host: string; readonly port: number };
  readonly log: { readonly level: LogLevel };
}

const str = { type: 'string', minLength: 1 } as const;

export const PIPELINE_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['database', 'bitcoind', 'params', 'tls', 'signers'],
  properties: {
    pipeline: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        worker_id: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$' },
        interval_ms: { type: 'integer', minimum: 100, default: 10_000 },
        batch_size: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
        concurrency: { type: 'integer', minimum: 1, maximum: 256, default: 8 },
        lease_ms: { type: 'integer', minimum: 1000, default: 120_000 },
        backoff_base_ms: { type: 'integer', minimum: 100, default: 30_000 },
        backoff_max_ms: { type: 'integer', minimum: 100, default: 3_600_000 },
      },
    },
    database: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { ...str, default: 'postgres://postgres@127.0.0.1:5432/staking_api' },
        password_file: str,
      },
    },
    bitcoind: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: BITCOIND_CONNECTION_PROPERTIES,
    },
    params: { type: 'object', additionalProperties: false, required: ['file'], properties: { file: str } },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['client_cert_file', 'client_key_file'],
      properties: { client_cert_file: str, client_key_file: str },
    },
    signers: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url', 'public_key', 'ca_file'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          url: { type: 'string', pattern: '^https://' },
          public_key: { type: 'string', pattern: '^0[23][0-9a-fA-F]{64}$' },
          ca_file: str,
          timeout_ms: { type: 'integer', minimum: 100, default: 5_000 },
        },
      },
    },
    metrics: metricsSchema(2115),
    log: LOG_SCHEMA,
  },
} as const;

/** @throws {CodedError} CONFIG_… codes naming the option */
export function loadPipelineConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): PipelineConfig {
  const config = loadConfig<PipelineConfig>({
    file,
    envPrefix: 'PIPELINE',
    schema: PIPELINE_CONFIG_SCHEMA,
    env,
  });
  assertNoCredentialsInUrl(config.bitcoind);
  return config;
}
