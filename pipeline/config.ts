import { assertNoCredentialsInUrl, BITCOIND_CONNECTION_PROPERTIES } from '../bitcoind/index.ts';
import { CodedError } from '../common/index.ts';
import {
  type ConfigOf,
  configSchema,
  LOG_SCHEMA,
  loadConfig,
  OPS_RENAMED,
  opsSchema,
} from '../runtime/index.ts';

const str = { type: 'string', minLength: 1 } as const;

export const PIPELINE_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['database', 'bitcoind', 'params', 'signers'],
  properties: {
    pipeline: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        worker_id: {
          type: 'string',
          pattern: '^[A-Za-z0-9_.:-]{1,64}$',
          hint: '1 to 64 letters, digits, or _ . : -',
        },
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
        required: ['name', 'url', 'public_key'],
        properties: {
          name: {
            type: 'string',
            pattern: '^[A-Za-z0-9_.-]{1,64}$',
            hint: '1 to 64 letters, digits, or _ . -',
          },
          url: {
            type: 'string',
            pattern: '^https?://',
            hint: 'an https:// URL, or http:// to a TLS sidecar on a loopback address',
          },
          public_key: {
            type: 'string',
            pattern: '^0[23][0-9a-fA-F]{64}$',
            hint: 'a 33-byte compressed public key in hex (66 digits starting 02 or 03)',
          },
          ca_file: str,
          timeout_ms: { type: 'integer', minimum: 100, default: 5_000 },
        },
      },
    },
    ops: opsSchema(2115),
    log: LOG_SCHEMA,
  },
} as const;

/** The pipeline's configuration: one TOML file plus `PIPELINE__SECTION__KEY` environment overrides. */
export type PipelineConfig = ConfigOf<typeof PIPELINE_CONFIG_SCHEMA>;
const PIPELINE_CONFIG = configSchema(PIPELINE_CONFIG_SCHEMA);

/** Names this release changed; the old ones load for one more release, with a warning. */
export const PIPELINE_RENAMED = [OPS_RENAMED] as const;

/**
 * @param warn where deprecation warnings go (default: Node's process warnings, on stderr)
 * @throws {CodedError} CONFIG_… codes naming the option; PIPELINE_CONFIG_INVALID for a signer's transport */
export function loadPipelineConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (message: string) => void,
): PipelineConfig {
  const config = loadConfig({
    file,
    envPrefix: 'PIPELINE',
    schema: PIPELINE_CONFIG,
    env,
    renamed: PIPELINE_RENAMED,
    ...(warn ? { warn } : {}),
  });
  assertNoCredentialsInUrl(config.bitcoind);
  for (const s of config.signers) checkSignerTransport(s, config.tls !== undefined);
  return config;
}

/**
 * A signer is reached over mutual TLS, or, for reference-style signers that speak plain HTTP, through
 * a TLS-terminating sidecar on this host (deploy/sidecar/): plain http:// never leaves the machine.
 */
function checkSignerTransport(s: PipelineConfig['signers'][number], haveClientCert: boolean): void {
  const invalid = (why: string) =>
    new CodedError('PIPELINE_CONFIG_INVALID', `signer ${s.name}: ${why}`, { details: { signer: s.name } });
  let url: URL;
  try {
    url = new URL(s.url);
  } catch {
    throw invalid(`url ${JSON.stringify(s.url)} is not a URL`);
  }
  if (url.username || url.password) throw invalid('the url must not carry a user name or password');
  if (url.protocol === 'http:') {
    if (!isLoopbackHost(url.hostname)) {
      throw invalid(
        `plain http:// is allowed only to a loopback address (a TLS sidecar on this host, deploy/sidecar/); ${url.hostname} is not one: use https:// with ca_file`,
      );
    }
    return;
  }
  if (!s.ca_file) throw invalid('an https:// signer needs ca_file, the CA of its server certificate');
  if (!haveClientCert) {
    throw invalid('an https:// signer needs the [tls] client_cert_file and client_key_file');
  }
}

/** 127.0.0.0/8, ::1 and localhost: the addresses that cannot leave this host. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return v4?.slice(1).every((o) => Number(o) <= 255) ?? false;
}
