import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parseXOnlyKey, type XOnlyKey } from '../common/index.ts';
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

const BACKENDS: readonly CustodyKind[] = ['pkcs11', 'bitcoind-wallet', 'file'];
/** The TOML sub-table of each backend. */
const TABLE_OF: Readonly<Record<CustodyKind, string>> = {
  pkcs11: 'pkcs11',
  'bitcoind-wallet': 'bitcoind_wallet',
  file: 'file',
};
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Table = Record<string, unknown>;

function err(code: HsmErrorCode, field: string, message: string): Error {
  return hsmError(code, `${field} ${message}`, { details: { field } });
}

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Refuses keys outside `allowed` (tmkms deny_unknown_fields): a typo must stop start-up. */
function assertKnownKeys(table: Table, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(table)) {
    if (!allowed.includes(key)) {
      throw hsmError('HSM_CONFIG_UNKNOWN_KEY', `${path}.${key} is not a custody config key`, {
        details: { field: `${path}.${key}`, allowed },
      });
    }
  }
}

function str(table: Table, path: string, key: string, opts: { maxBytes?: number } = {}): string | undefined {
  const v = table[key];
  const field = `${path}.${key}`;
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw err('HSM_CONFIG_INVALID_VALUE', field, 'must be a string');
  if (v.length === 0) throw err('HSM_CONFIG_INVALID_VALUE', field, 'must not be empty');
  if (v.includes('\0')) throw err('HSM_CONFIG_INVALID_VALUE', field, 'must not contain NUL');
  if (opts.maxBytes !== undefined && Buffer.byteLength(v, 'utf8') > opts.maxBytes) {
    throw err('HSM_CONFIG_INVALID_VALUE', field, `must be at most ${opts.maxBytes} bytes of UTF-8`);
  }
  return v;
}

function required<T>(v: T | undefined, field: string): T {
  if (v === undefined) throw err('HSM_CONFIG_MISSING_KEY', field, 'is required');
  return v;
}

function int(table: Table, path: string, key: string, min: number, max: number): number | undefined {
  const v = table[key];
  const field = `${path}.${key}`;
  if (v === undefined) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw err('HSM_CONFIG_INVALID_VALUE', field, 'must be an integer');
  }
  if (n < min || n > max) throw err('HSM_CONFIG_INVALID_VALUE', field, `must be in ${min}..${max}`);
  return n;
}

function bool(table: Table, path: string, key: string): boolean | undefined {
  const v = table[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean')
    throw err('HSM_CONFIG_INVALID_VALUE', `${path}.${key}`, 'must be true or false');
  return v;
}

function filePath(table: Table, path: string, key: string, baseDir: string): string | undefined {
  const v = str(table, path, key);
  return v === undefined ? undefined : isAbsolute(v) ? v : resolve(baseDir, v);
}

function envName(table: Table, path: string, key: string): string | undefined {
  const v = str(table, path, key);
  if (v !== undefined && !ENV_NAME_RE.test(v)) {
    throw err('HSM_CONFIG_INVALID_VALUE', `${path}.${key}`, 'must be an environment variable name');
  }
  return v;
}

/** Exactly one of `<name>_file` and `<name>_env`: secrets come from files or the environment, never argv. */
function secretSource(table: Table, path: string, name: string, baseDir: string): SecretSource {
  const file = filePath(table, path, `${name}_file`, baseDir);
  const env = envName(table, path, `${name}_env`);
  if (file !== undefined && env !== undefined) {
    throw err('HSM_CONFIG_CONFLICT', `${path}.${name}_file`, `and ${path}.${name}_env exclude each other`);
  }
  if (file === undefined && env === undefined) {
    throw err('HSM_CONFIG_CONFLICT', `${path}.${name}_file`, `or ${path}.${name}_env is required`);
  }
  return file !== undefined ? { file } : { env: env! };
}

function parsePkcs11(t: Table, path: string, baseDir: string): Pkcs11CustodyConfig {
  assertKnownKeys(t, path, [
    'library',
    'token_label',
    'kek_label',
    'key_label',
    'pin_file',
    'pin_env',
    'sessions',
    'audit_key_label',
    'audit_anchor_label',
  ]);
  return {
    kind: 'pkcs11',
    library: filePath(t, path, 'library', baseDir) ?? DEFAULT_PKCS11_LIBRARY,
    // CK_TOKEN_INFO.label is 32 bytes, blank padded.
    tokenLabel: required(str(t, path, 'token_label', { maxBytes: 32 }), `${path}.token_label`),
    kekLabel: str(t, path, 'kek_label', { maxBytes: 128 }) ?? DEFAULT_KEK_LABEL,
    keyLabel: str(t, path, 'key_label', { maxBytes: 128 }) ?? DEFAULT_KEY_LABEL,
    pin: secretSource(t, path, 'pin', baseDir),
    sessions: int(t, path, 'sessions', 1, MAX_SESSIONS) ?? DEFAULT_SESSIONS,
    auditKeyLabel: str(t, path, 'audit_key_label', { maxBytes: 128 }) ?? DEFAULT_AUDIT_KEY_LABEL,
    auditAnchorLabel: str(t, path, 'audit_anchor_label', { maxBytes: 128 }) ?? DEFAULT_AUDIT_ANCHOR_LABEL,
  };
}

function parseWallet(t: Table, path: string, baseDir: string): BitcoindWalletCustodyConfig {
  assertKnownKeys(t, path, [
    'url',
    'wallet',
    'cookie_file',
    'user',
    'password_file',
    'timeout_ms',
    'key',
    'audit_key_file',
  ]);
  const rawUrl = required(str(t, path, 'url'), `${path}.url`);
  let url: URL;
  try {
    url = new URL(rawUrl);
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
  const cookieFile = filePath(t, path, 'cookie_file', baseDir);
  const user = str(t, path, 'user');
  const passwordFile = filePath(t, path, 'password_file', baseDir);
  let auth: WalletAuth;
  if (cookieFile !== undefined) {
    if (user !== undefined || passwordFile !== undefined) {
      throw err(
        'HSM_CONFIG_CONFLICT',
        `${path}.cookie_file`,
        `and ${path}.user/password_file exclude each other`,
      );
    }
    auth = { cookieFile };
  } else if (user !== undefined && passwordFile !== undefined) {
    auth = { user, passwordFile };
  } else {
    throw err(
      'HSM_CONFIG_CONFLICT',
      `${path}.cookie_file`,
      `or ${path}.user with ${path}.password_file is required`,
    );
  }
  const keyHex = str(t, path, 'key');
  return {
    kind: 'bitcoind-wallet',
    url: url.origin,
    wallet: required(str(t, path, 'wallet'), `${path}.wallet`),
    auth,
    timeoutMs: int(t, path, 'timeout_ms', 100, 600_000) ?? DEFAULT_WALLET_TIMEOUT_MS,
    key: keyHex === undefined ? undefined : parseXOnlyKey(keyHex, `${path}.key`, 'HSM_CONFIG_INVALID_VALUE'),
    auditKeyFile: filePath(t, path, 'audit_key_file', baseDir),
  };
}

function parseFile(t: Table, path: string, baseDir: string): FileCustodyConfig {
  assertKnownKeys(t, path, ['path', 'passphrase_file', 'passphrase_env', 'allow_insecure_file_backend']);
  return {
    kind: 'file',
    path: required(filePath(t, path, 'path', baseDir), `${path}.path`),
    passphrase: secretSource(t, path, 'passphrase', baseDir),
    allowInsecureFileBackend: bool(t, path, 'allow_insecure_file_backend') ?? false,
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
 * directory).
 * @throws {CodedError} HSM_CONFIG_UNKNOWN_KEY, HSM_CONFIG_MISSING_KEY, HSM_CONFIG_INVALID_VALUE,
 *   HSM_CONFIG_CONFLICT, each naming the key (`custody.pkcs11.pin_file`).
 * @example
 * const config = parseCustodyConfig(toml.custody, { baseDir: '/etc/covenant-signer' });
 */
export function parseCustodyConfig(raw: unknown, opts: { baseDir?: string } = {}): CustodyConfig {
  const baseDir = opts.baseDir ?? process.cwd();
  if (raw === undefined) throw err('HSM_CONFIG_MISSING_KEY', 'custody', 'table is required');
  if (!isTable(raw)) throw err('HSM_CONFIG_INVALID_VALUE', 'custody', 'must be a table');
  assertKnownKeys(raw, 'custody', ['backend', ...Object.values(TABLE_OF)]);
  const backend = required(str(raw, 'custody', 'backend'), 'custody.backend');
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw err(
      'HSM_CONFIG_INVALID_VALUE',
      'custody.backend',
      `must be one of ${BACKENDS.map((b) => `"${b}"`).join(', ')}`,
    );
  }
  const parsers: Record<CustodyKind, (t: Table, path: string) => CustodyConfig> = {
    pkcs11: (t, p) => parsePkcs11(t, p, baseDir),
    'bitcoind-wallet': (t, p) => parseWallet(t, p, baseDir),
    file: (t, p) => parseFile(t, p, baseDir),
  };
  let selected: CustodyConfig | undefined;
  for (const kind of BACKENDS) {
    const path = `custody.${TABLE_OF[kind]}`;
    const table = raw[TABLE_OF[kind]];
    if (table === undefined) continue;
    if (!isTable(table)) throw err('HSM_CONFIG_INVALID_VALUE', path, 'must be a table');
    const parsed = parsers[kind](table, path);
    if (kind === backend) selected = parsed;
  }
  if (selected === undefined) {
    throw err(
      'HSM_CONFIG_MISSING_KEY',
      `custody.${TABLE_OF[backend as CustodyKind]}`,
      `table is required for backend "${backend}"`,
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
  return parseCustodyConfig((doc as Table).custody, { baseDir: dirname(resolve(file)) });
}
