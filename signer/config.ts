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
const port = { type: 'integer', minimum: 0, maximum: 65535 } as const;

export const SIGNER_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'params', 'bitcoind', 'audit', 'custody'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      required: ['tls_cert_file', 'tls_key_file', 'client_ca_file', 'clients'],
      properties: {
        host: { ...str, default: '127.0.0.1' },
        port: { ...port, default: 9791 },
        tls_cert_file: str,
        tls_key_file: str,
        // The CA that issues the staking providers' client certificates.
        client_ca_file: str,
        // Allowed client certificates by SHA-256 fingerprint, each with the name logs and the audit log use.
        clients: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'fingerprint_sha256'],
            properties: {
              name: {
                type: 'string',
                pattern: '^[A-Za-z0-9_.-]{1,64}$',
                hint: '1 to 64 letters, digits, "_", "." or "-"',
              },
              // Accepts Node's "AB:CD:…" form or plain hex, any case.
              fingerprint_sha256: {
                type: 'string',
                pattern: '^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$',
                hint: 'a SHA-256 fingerprint: 64 hex digits, plain or as 32 pairs separated by ":" (AB:CD:…)',
              },
            },
          },
        },
        body_limit_bytes: { type: 'integer', minimum: 512, maximum: 1_048_576, default: 16_384 },
        rate_limit_per_minute: { type: 'integer', minimum: 1, default: 60_000 },
        max_concurrent_requests: { type: 'integer', minimum: 1, default: 256 },
        headers_timeout_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: 10_000 },
        request_timeout_ms: { type: 'integer', minimum: 100, default: 15_000 },
        keep_alive_timeout_ms: { type: 'integer', minimum: 100, default: 120_000 },
        max_connections: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1024 },
        refusal_log_lines_per_minute: { type: 'integer', minimum: 1, maximum: 100_000, default: 60 },
      },
    },
    ops: opsSchema(2112),
    params: { type: 'object', additionalProperties: false, required: ['file'], properties: { file: str } },
    bitcoind: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'network'],
      properties: {
        ...BITCOIND_CONNECTION_PROPERTIES,
        network: { enum: ['mainnet', 'testnet', 'signet', 'regtest'] },
      },
    },
    audit: { type: 'object', additionalProperties: false, required: ['file'], properties: { file: str } },
    // Signing rules beyond the params, off by default. max_staking_transaction_height: the labs
    // signer's `max-staking-transaction-height`, stakes included above it are refused; 0 is off.
    policy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        max_staking_transaction_height: { type: 'integer', minimum: 0, maximum: 4_294_967_295, default: 0 },
      },
    },
    log: LOG_SCHEMA,
    // The custody backend's table; its schema belongs to hsm/ (parseCustodyConfig).
    custody: { type: 'object' },
    // Phase-2 covenant duties (POST /v1/sign-transactions), off by default; `hmac`: X-Covenant-HMAC on
    // the phase-2 routes, in addition to mutual TLS (signer/hmac.ts).
    phase2: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        params_file: { type: 'string', default: '' },
        hmac: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            key_file: { type: 'string', default: '' },
            allow_body_only_hmac: { type: 'boolean', default: false },
            window_seconds: { type: 'integer', minimum: 1, maximum: 3600, default: 300 },
            max_nonces: { type: 'integer', minimum: 100, maximum: 10_000_000, default: 1_000_000 },
          },
        },
      },
    },
  },
} as const;

/** The signer's configuration: one TOML file plus `SIGNER__SECTION__KEY` environment overrides. */
export type SignerConfig = ConfigOf<typeof SIGNER_CONFIG_SCHEMA>;
const SIGNER_CONFIG = configSchema(SIGNER_CONFIG_SCHEMA);

/** Names this release changed; the old ones load for one more release, with a warning. */
export const SIGNER_RENAMED = [OPS_RENAMED] as const;

/**
 * @param warn where deprecation warnings go (default: Node's process warnings, on stderr)
 * @throws {CodedError} CONFIG_… codes naming the option
 */
export function loadSignerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn?: (message: string) => void,
): SignerConfig {
  const config = loadConfig({
    file,
    envPrefix: 'SIGNER',
    schema: SIGNER_CONFIG,
    env,
    renamed: SIGNER_RENAMED,
    ...(warn ? { warn } : {}),
  });
  assertNoCredentialsInUrl(config.bitcoind);
  // The offline wallet's table belongs to hsm/, but the rule is the same and this is the load.
  const wallet = config.custody.bitcoind_wallet;
  if (typeof wallet === 'object' && wallet !== null && 'url' in wallet && typeof wallet.url === 'string')
    assertNoCredentialsInUrl({ url: wallet.url }, 'custody.bitcoind_wallet');
  return config;
}

/** Normalises a fingerprint to Node's `AB:CD:…` uppercase form. */
export function normaliseFingerprint(fp: string): string {
  const hex = fp.replaceAll(':', '').toUpperCase();
  return hex.match(/../g)!.join(':');
}
