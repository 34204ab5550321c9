import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { parseXOnlyKey, type XOnlyKey } from '../common/index.ts';
import { type ConfigOf, checkConfig, configSchema } from '../runtime/index.ts';
import type { CustodyKind } from './custody.ts';
import { type HsmErrorCode, hsmError } from './errors.ts';

/** Where a secret comes from: a file (mode 0600 or stricter) or an environment variable. Never argv. */
export type SecretSource = { readonly file: string } | { readonly env: string };

export interface Pkcs11CustodyConfig {
  readonly kind: 'pkcs11';
  /** Path of the PKCS#11 module (`library`). */
  readonly library: string;
  /** Token label (`token_label`); slot ids are not stable, labels are. */
  readonly tokenLabel: string;
  /** Label of the AES key-encryption key in the token (`kek_label`). */
  readonly kekLabel: string;
  /** Label of the CKO_DATA token object that holds the sealed covenant key (`key_label`). */
  readonly keyLabel: string;
  /** The user PIN (`pin_file` or `pin_env`). */
  readonly pin: SecretSource;
  /** Session pool size (`sessions`). */
  readonly sessions: number;
  /** Label of the audit log's HMAC key in the token (`audit_key_label`). */
  readonly auditKeyLabel: string;
  /** Label of the CKO_DATA token object holding the audit log's anchor (`audit_anchor_label`). */
  readonly auditAnchorLabel: string;
}

export type WalletAuth =
  | { readonly cookieFile: string }
  | { readonly user: string; readonly passwordFile: string };

export interface BitcoindWalletCustodyConfig {
  readonly kind: 'bitcoind-wallet';
  /** The wallet node's RPC endpoint, without credentials (`url`). */
  readonly url: string;
  /** Wallet name on that node (`wallet`). */
  readonly wallet: string;
  readonly auth: WalletAuth;
  /** Per-RPC deadline (`timeout_ms`). */
  readonly timeoutMs: number;
  /**
   * The x-only covenant key the wallet must hold (`key`). Required to open the backend; absent only
   * before `generate-key` has made one.
   */
  readonly key: XOnlyKey | undefined;
  /**
   * The signer's audit MAC key (`audit_key_file`, 64 hex digits, mode 0600; created on first start):
   * the wallet node cannot MAC for us. The anchor is kept in the wallet. Required by the signer.
   */
  readonly auditKeyFile: string | undefined;
}

export interface FileCustodyConfig {
  readonly kind: 'file';
  /** The encrypted key file (`path`). */
  readonly path: string;
  /** The key file's passphrase (`passphrase_file` or `passphrase_env`). */
  readonly passphrase: SecretSource;
  /** Must be true or the backend refuses to start (`allow_insecure_file_backend`). */
  readonly allowInsecureFileBackend: boolean;
}

/** The validated, frozen `[custody]` table: exactly one backend's settings. */
export type CustodyConfig = Pkcs11CustodyConfig | BitcoindWalletCustodyConfig | FileCustodyConfig;

export const DEFAULT_PKCS11_LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';
export const DEFAULT_KEK_LABEL = 'covenant-kek';
export const DEFAULT_KEY_LABEL = 'covenant-key';
export const DEFAULT_AUDIT_KEY_LABEL = 'covenant-audit-key';
export const DEFAULT_AUDIT_ANCHOR_LABEL = 'covenant-audit-anchor';
export const DEFAULT_SESSIONS = 2;
export const MAX_SESSIONS = 32;
export const DEFAULT_WALLET_TIMEOUT_MS = 10_000;

const BACKENDS = ['pkcs11', 'bitcoind-wallet', 'file'] as const satisfies readonly CustodyKind[];
/** The TOML sub-table of each backend. */
const TABLE_OF: Readonly<Record<CustodyKind, string>> = {
  pkcs11: 'pkcs11',
  'bitcoind-wallet': 'bitcoind_wallet',
  file: 'file',
};

// A value that reaches a C API or a file name: no NUL, never empty.
const text = { type: 'string', minLength: 1, pattern: '^[^\\u0000]*$', hint: 'text without NUL' } as const;
const envName = {
  type: 'string',
  pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
  hint: 'an environment variable name',
} as const;

/**
 * The `[custody]` table's schema, checked by the same Ajv loader as every service's config
 * (runtime/config.ts). What a schema cannot say (a label's length in UTF-8 bytes, exactly one of two
 * keys, a URL without credentials, a key on the curve) is checked after it, below.
 */
export const CUSTODY_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['backend'],
  properties: {
    backend: { enum: BACKENDS },
    pkcs11: {
      type: 'object',
      additionalProperties: false,
      required: ['token_label'],
      properties: {
        library: { ...text, default: DEFAULT_PKCS11_LIBRARY },
        token_label: text,
        kek_label: { ...text, default: DEFAULT_KEK_LABEL },
        key_label: { ...text, default: DEFAULT_KEY_LABEL },
        pin_file: text,
        pin_env: envName,
        sessions: { type: 'integer', minimum: 1, maximum: MAX_SESSIONS, default: DEFAULT_SESSIONS },
        audit_key_label: { ...text, default: DEFAULT_AUDIT_KEY_LABEL },
        audit_anchor_label: { ...text, default: DEFAULT_AUDIT_ANCHOR_LABEL },
      },
    },
    bitcoind_wallet: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'wallet'],
      properties: {
        url: text,
        wallet: text,
        cookie_file: text,
        user: text,
        password_file: text,
        timeout_ms: { type: 'integer', minimum: 100, maximum: 600_000, default: DEFAULT_WALLET_TIMEOUT_MS },
        key: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', hint: '64 hex digits (an x-only key)' },
        audit_key_file: text,
      },
    },
    file: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: text,
        passphrase_file: text,
        passphrase_env: envName,
        allow_insecure_file_backend: { type: 'boolean', default: false },
      },
    },
  },
} as const;

/** The `[custody]` table as written (defaults filled), typed by its schema. */
export type CustodyTable = ConfigOf<typeof CUSTODY_CONFIG_SCHEMA>;
const CUSTODY_CONFIG = configSchema(CUSTODY_CONFIG_SCHEMA);

function err(code: HsmErrorCode, field: string, message: string): Error {
  return hsmError(code, `${field} ${message}`, { details: { field } });
}

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** The first of Ajv's errors (outer tables before inner ones), in this module's codes and words. */
function custodyError(errors: readonly ErrorObject[]): Error {
  const depth = (e: ErrorObject) => e.instancePath.split('/').length;
  const rank = (e: ErrorObject) =>
    e.keyword === 'additionalProperties' ? 0 : e.keyword === 'required' ? 1 : 2;
  const e = [...errors].sort((a, b) => depth(a) - depth(b) || rank(a) - rank(b))[0]!;
  const at = ['custody', ...e.instancePath.split('/').slice(1)].join('.');
  if (e.keyword === 'additionalProperties') {
    const field = `${at}.${String(e.params.additionalProperty)}`;
    const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    return hsmError('HSM_CONFIG_UNKNOWN_KEY', `${field} is not a custody config key`, {
      details: { field, allowed },
    });
  }
  if (e.keyword === 'required') {
    return err('HSM_CONFIG_MISSING_KEY', `${at}.${String(e.params.missingProperty)}`, 'is required');
  }
  const schema = e.parentSchema as { hint?: string; minimum?: number; maximum?: number } | undefined;
  const why =
    e.keyword === 'type'
      ? `must be ${{ string: 'a string', integer: 'an integer', boolean: 'true or false', object: 'a table' }[String(e.params.type)] ?? String(e.params.type)}`
      : e.keyword === 'enum'
        ? `must be one of ${BACKENDS.map((b) => `"${b}"`).join(', ')}`
        : e.keyword === 'minimum' || e.keyword === 'maximum'
          ? `must be in ${schema?.minimum}..${schema?.maximum}`
          : e.keyword === 'minLength'
            ? 'must not be empty'
            : e.keyword === 'pattern' && schema?.hint
              ? `must be ${schema.hint}`
              : (e.message ?? 'is invalid');
  return err('HSM_CONFIG_INVALID_VALUE', at, why);
}

/** CK_TOKEN_INFO.label is 32 bytes, blank padded; object labels are kept to 128. */
function assertMaxBytes(value: string, field: string, maxBytes: number): void {
  if (Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw err('HSM_CONFIG_INVALID_VALUE', field, `must be at most ${maxBytes} bytes of UTF-8`);
  }
}

const resolver = (baseDir: string) => (v: string) => (isAbsolute(v) ? v : resolve(baseDir, v));

/** Exactly one of `<name>_file` and `<name>_env`: secrets come from files or the environment, never argv. */
function secretSource(
  file: string | undefined,
  env: string | undefined,
  path: string,
  name: string,
  abs: (v: string) => string,
): SecretSource {
  if (file !== undefined && env !== undefined) {
    throw err('HSM_CONFIG_CONFLICT', `${path}.${name}_file`, `and ${path}.${name}_env exclude each other`);
  }
  if (file === undefined && env === undefined) {
    throw err('HSM_CONFIG_CONFLICT', `${path}.${name}_file`, `or ${path}.${name}_env is required`);
  }
  return file !== undefined ? { file: abs(file) } : { env: env! };
}

function pkcs11Of(t: NonNullable<CustodyTable['pkcs11']>, abs: (v: string) => string): Pkcs11CustodyConfig {
  const path = 'custody.pkcs11';
  assertMaxBytes(t.token_label, `${path}.token_label`, 32);
  for (const k of ['kek_label', 'key_label', 'audit_key_label', 'audit_anchor_label'] as const) {
    assertMaxBytes(t[k], `${path}.${k}`, 128);
  }
  return {
    kind: 'pkcs11',
    library: abs(t.library),
    tokenLabel: t.token_label,
    kekLabel: t.kek_label,
    keyLabel: t.key_label,
    pin: secretSource(t.pin_file, t.pin_env, path, 'pin', abs),
    sessions: t.sessions,
    auditKeyLabel: t.audit_key_label,
    auditAnchorLabel: t.audit_anchor_label,
  };
}

function walletOf(
  t: NonNullable<CustodyTable['bitcoind_wallet']>,
  abs: (v: string) => string,
): BitcoindWalletCustodyConfig {
  const path = 'custody.bitcoind_wallet';
  let url: URL;
  try {
    url = new URL(t.url);
  } catch {
    // The raw value may carry credentials, so it is not repeated.
    throw err('HSM_CONFIG_INVALID_VALUE', `${path}.url`, 'is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw err('HSM_CONFIG_INVALID_VALUE', `${path}.url`, 'must be http or https');
  }
  if (url.username || url.password) {
    throw err(
      'HSM_CONFIG_INVALID_VALUE',
      `${path}.url`,
      'must not carry credentials; use cookie_file, or user and password_file',
    );
  }
  if (url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw err(
      'HSM_CONFIG_INVALID_VALUE',
      `${path}.url`,
      'must be scheme://host:port only; set the wallet with `wallet`',
    );
  }
  let auth: WalletAuth;
  if (t.cookie_file !== undefined) {
    if (t.user !== undefined || t.password_file !== undefined) {
      throw err(
        'HSM_CONFIG_CONFLICT',
        `${path}.cookie_file`,
        `and ${path}.user/password_file exclude each other`,
      );
    }
    auth = { cookieFile: abs(t.cookie_file) };
  } else if (t.user !== undefined && t.password_file !== undefined) {
    auth = { user: t.user, passwordFile: abs(t.password_file) };
  } else {
    throw err(
      'HSM_CONFIG_CONFLICT',
      `${path}.cookie_file`,
      `or ${path}.user with ${path}.password_file is required`,
    );
  }
  return {
    kind: 'bitcoind-wallet',
    url: url.origin,
    wallet: t.wallet,
    auth,
    timeoutMs: t.timeout_ms,
    key: t.key === undefined ? undefined : parseXOnlyKey(t.key, `${path}.key`, 'HSM_CONFIG_INVALID_VALUE'),
    auditKeyFile: t.audit_key_file === undefined ? undefined : abs(t.audit_key_file),
  };
}

function fileOf(t: NonNullable<CustodyTable['file']>, abs: (v: string) => string): FileCustodyConfig {
  return {
    kind: 'file',
    path: abs(t.path),
    passphrase: secretSource(t.passphrase_file, t.passphrase_env, 'custody.file', 'passphrase', abs),
    allowInsecureFileBackend: t.allow_insecure_file_backend,
  };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/**
 * Validates the `[custody]` table of a service's TOML config and returns it frozen. `backend`
 * selects one backend; its sub-table (`[custody.pkcs11]`, `[custody.bitcoind_wallet]`,
 * `[custody.file]`) is validated, and so is any other backend's sub-table that is present (a typo
 * there is still a typo), though only the selected one is returned. Unknown keys are errors. Relative
 * paths are resolved against `opts.baseDir` (the config file's directory; default the working
 * directory). `raw` itself is left as it is (a service's loaded config is frozen).
 * @throws {CodedError} HSM_CONFIG_UNKNOWN_KEY, HSM_CONFIG_MISSING_KEY, HSM_CONFIG_INVALID_VALUE,
 *   HSM_CONFIG_CONFLICT, each naming the key (`custody.pkcs11.pin_file`).
 * @example
 * const config = parseCustodyConfig(toml.custody, { baseDir: '/etc/covenant-signer' });
 */
export function parseCustodyConfig(raw: unknown, opts: { baseDir?: string } = {}): CustodyConfig {
  if (raw === undefined) throw err('HSM_CONFIG_MISSING_KEY', 'custody', 'table is required');
  if (!isTable(raw)) throw err('HSM_CONFIG_INVALID_VALUE', 'custody', 'must be a table');
  // Ajv fills defaults in place: work on a copy.
  const checked = checkConfig(CUSTODY_CONFIG, structuredClone(raw));
  if (checked.errors) throw custodyError(checked.errors);
  const t = checked.value;
  const abs = resolver(opts.baseDir ?? process.cwd());
  // Every table present is checked beyond its schema too, the selected one last but returned.
  const parsed: Partial<Record<CustodyKind, CustodyConfig>> = {
    ...(t.pkcs11 ? { pkcs11: pkcs11Of(t.pkcs11, abs) } : {}),
    ...(t.bitcoind_wallet ? { 'bitcoind-wallet': walletOf(t.bitcoind_wallet, abs) } : {}),
    ...(t.file ? { file: fileOf(t.file, abs) } : {}),
  };
  const selected = parsed[t.backend];
  if (selected === undefined) {
    throw err(
      'HSM_CONFIG_MISSING_KEY',
      `custody.${TABLE_OF[t.backend]}`,
      `table is required for backend "${t.backend}"`,
    );
  }
  return deepFreeze(selected);
}

/**
 * Reads a service's TOML config file and parses its `[custody]` table (other tables belong to the
 * service and are ignored). Relative paths are resolved against the file's directory.
 * @throws {CodedError} HSM_FILE_UNREADABLE, and the codes of parseCustodyConfig
 */
export async function loadCustodyConfigFile(file: string): Promise<CustodyConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw hsmError('HSM_FILE_UNREADABLE', `cannot read the config file ${file}`, {
      cause,
      details: { file },
    });
  }
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (cause) {
    throw hsmError('HSM_FILE_UNREADABLE', `the config file ${file} is not valid TOML`, {
      cause,
      details: { file },
    });
  }
  return parseCustodyConfig(isTable(doc) ? doc.custody : undefined, { baseDir: dirname(resolve(file)) });
}
