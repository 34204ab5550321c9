import { hkdfSync, webcrypto } from 'node:crypto';
import { access } from 'node:fs/promises';
import { copyXOnlyKey, ecc, parseCompressedKey, toHex, type XOnlyKey, xOnlyOf } from '../common/index.ts';
import { fileAnchorStore, keyAuditCustody } from './auditFiles.ts';
import type { FileCustodyConfig } from './config.ts';
import type {
  AdaptorSignRequest,
  AuditCustody,
  CustodyBackend,
  CustodyHealth,
  UnbondingSignRequest,
} from './custody.ts';
import {
  deriveEnvelopeKey,
  KEY_FILE_CODES,
  type KeyEnvelope,
  newScryptParams,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  serializeEnvelope,
} from './envelope.ts';
import { hsmError } from './errors.ts';
import type { CustodyLogger } from './logger.ts';
import { type KeyInfo, keyInfoOf } from './privateKey.ts';
import { readPassphrase, readPrivateFile, readSecret, writeNewPrivateFile } from './secrets.ts';
import {
  adaptorSignAll,
  assertAdaptorSignRequest,
  assertSignRequest,
  SignQueue,
  schnorrSign,
} from './signing.ts';

/*
 * Development only (tmkms's softsign: "mainly intended for testing/CI"). The covenant key sits in a
 * file on this host, encrypted under a passphrase (scrypt + AES-256-GCM, envelope.ts). Anyone who
 * reads the file and the passphrase has the key. It refuses to start without
 * allow_insecure_file_backend = true and warns at every open.
 */

const FORMAT = 'babylon-covenant-dev-key-file';
type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

function assertAllowed(config: FileCustodyConfig, logger: CustodyLogger | undefined): void {
  if (!config.allowInsecureFileBackend) {
    throw hsmError(
      'HSM_FILE_BACKEND_NOT_ALLOWED',
      'custody.file.allow_insecure_file_backend must be true: the file backend keeps the covenant key in a file on this host and is for development only',
      { details: { field: 'custody.file.allow_insecure_file_backend' } },
    );
  }
  logger?.warn(
    { custody: 'file', path: config.path },
    'INSECURE CUSTODY: the file backend keeps the covenant key in a passphrase-encrypted file on this host. Development and tests only; never use it for a real covenant key.',
  );
}

/** HKDF info of the audit MAC key: binds it to its one use, so it is no other key derived from the same secret. */
const AUDIT_KEY_INFO = 'babylon-covenant-signer/audit-mac/v1';

/** The audit anchor sits beside the key file it belongs to (`<path>.audit-anchor`). */
export function fileAuditAnchorPath(keyPath: string): string {
  return `${keyPath}.audit-anchor`;
}

/** The audit MAC key: HKDF-SHA256 of the covenant key, so whoever lacks the key file and passphrase cannot MAC. */
function deriveAuditKey(covenantKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', covenantKey, new Uint8Array(0), AUDIT_KEY_INFO, 32));
}

async function readKeyFile(path: string): Promise<KeyEnvelope> {
  const bytes = await readPrivateFile(path, 'the key file', 'HSM_KEY_FILE_INVALID');
  return parseEnvelope(bytes.toString('utf8'), FORMAT, KEY_FILE_CODES, path);
}

class FileCustody implements CustodyBackend {
  readonly kind = 'file' as const;
  readonly #envelope: KeyEnvelope;
  /** The scrypt-derived file key (not the covenant key): kept so a signature costs no scrypt run; wiped by lock(). */
  #fileKey: Buffer;
  #locked = false;
  readonly #xOnly: XOnlyKey;
  readonly #path: string;
  readonly #queue = new SignQueue();
  readonly #audit: ReturnType<typeof keyAuditCustody>;
  #closed = false;

  constructor(path: string, envelope: KeyEnvelope, fileKey: Buffer, auditKey: Buffer) {
    this.#path = path;
    this.#envelope = envelope;
    this.#fileKey = fileKey;
    this.#xOnly = xOnlyOf(
      parseCompressedKey(envelope.publicKey, 'the key file’s publicKey', 'HSM_KEY_FILE_INVALID'),
    );
    this.#audit = keyAuditCustody(
      auditKey,
      fileAnchorStore(fileAuditAnchorPath(path)),
      `file backend (development only): audit MAC key derived from the key file ${path}, anchor in ${fileAuditAnchorPath(path)}; whoever can read the key file and its passphrase, or replace both the log and the anchor file, defeats it`,
    );
  }

  get audit(): AuditCustody {
    return this.#audit;
  }

  #assertOpen(): void {
    if (this.#closed) throw hsmError('HSM_CLOSED', 'the file custody backend is closed');
  }

  async publicKeys(): Promise<readonly XOnlyKey[]> {
    this.#assertOpen();
    return [copyXOnlyKey(this.#xOnly)];
  }

  get locked(): boolean {
    return this.#locked;
  }

  async lock(): Promise<void> {
    this.#assertOpen();
    this.#locked = true;
    this.#fileKey.fill(0);
  }

  async unlock(passphrase: string): Promise<void> {
    this.#assertOpen();
    const fileKey = await deriveEnvelopeKey(passphrase, this.#envelope.kdf);
    try {
      // Opening the envelope is the passphrase check (AES-GCM's tag).
      openEnvelope(this.#envelope, fileKey, KEY_FILE_CODES).fill(0);
    } catch (e) {
      fileKey.fill(0);
      throw e;
    }
    this.#fileKey = fileKey;
    this.#locked = false;
  }

  #assertUnlocked(): void {
    if (this.#locked) throw hsmError('HSM_LOCKED', 'the file custody backend is locked');
  }

  async sign(req: UnbondingSignRequest): Promise<Uint8Array> {
    this.#assertOpen();
    this.#assertUnlocked();
    assertSignRequest(req, [this.#xOnly]);
    // Not verified here: the signer verifies every signature custody returns, once (CustodyBackend.sign).
    return this.#queue.run(() => {
      const key = openEnvelope(this.#envelope, this.#fileKey, KEY_FILE_CODES);
      try {
        return schnorrSign(req.sighash, key);
      } finally {
        key.fill(0);
      }
    });
  }

  async adaptorSign(req: AdaptorSignRequest): Promise<Uint8Array[]> {
    this.#assertOpen();
    this.#assertUnlocked();
    assertAdaptorSignRequest(req, [this.#xOnly]);
    const presigs = await this.#queue.run(() => {
      const key = openEnvelope(this.#envelope, this.#fileKey, KEY_FILE_CODES);
      try {
        return adaptorSignAll(req, key);
      } finally {
        key.fill(0);
      }
    });
    return presigs;
  }

  async health(): Promise<CustodyHealth> {
    if (this.#closed) return { ok: false, detail: 'the file custody backend is closed' };
    if (this.#locked) return { ok: false, detail: 'the file custody backend is locked (POST /v1/unlock)' };
    try {
      const current = await readKeyFile(this.#path);
      if (toHex(current.ciphertext) !== toHex(this.#envelope.ciphertext)) {
        return { ok: false, detail: `the key file ${this.#path} changed since start-up; restart to use it` };
      }
      openEnvelope(this.#envelope, this.#fileKey, KEY_FILE_CODES).fill(0);
    } catch (e) {
      return { ok: false, detail: e instanceof Error ? e.message : String(e) };
    }
    return {
      ok: true,
      detail: `INSECURE development key file ${this.#path} decrypts to ${toHex(this.#xOnly)}`,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fileKey.fill(0);
    this.#audit.close();
  }
}

/**
 * Opens the development file backend: refuses without allow_insecure_file_backend, warns, reads the
 * key file (mode 0600), derives the file key from the passphrase and decrypts once to check.
 * @throws {CodedError} HSM_FILE_BACKEND_NOT_ALLOWED, HSM_SECRET_FILE_INSECURE, HSM_KEY_FILE_INVALID,
 *   HSM_SECRET_UNAVAILABLE, HSM_KEY_FILE_DECRYPT_FAILED
 */
export async function openFileCustody(
  config: FileCustodyConfig,
  opts: { logger?: CustodyLogger } = {},
): Promise<CustodyBackend> {
  assertAllowed(config, opts.logger);
  const envelope = await readKeyFile(config.path);
  const fileKey = await deriveEnvelopeKey(
    await readSecret(config.passphrase, 'key file passphrase'),
    envelope.kdf,
  );
  let auditKey: Buffer;
  try {
    const key = openEnvelope(envelope, fileKey, KEY_FILE_CODES);
    try {
      auditKey = deriveAuditKey(key);
    } finally {
      key.fill(0);
    }
  } catch (e) {
    fileKey.fill(0);
    throw e;
  }
  return new FileCustody(config.path, envelope, fileKey, auditKey);
}

// ---- ceremonies ----

async function assertNoFile(path: string): Promise<void> {
  try {
    await access(path);
  } catch {
    return;
  }
  throw hsmError('HSM_KEY_EXISTS', `the key file ${path} already exists; refusing to overwrite it`, {
    details: { file: path },
  });
}

function randomPrivateKey(): Uint8Array {
  for (;;) {
    const key = webcrypto.getRandomValues(new Uint8Array(32));
    if (ecc.isPrivate(key)) return key;
    key.fill(0);
  }
}

/**
 * Writes a new key file (mode 0600, never over an existing file) holding the key `produce` returns,
 * or a fresh random key when `produce` is undefined. `produce` is called once, synchronously, after
 * the slow scrypt derivation; its bytes are wiped here.
 * @throws {CodedError} HSM_FILE_BACKEND_NOT_ALLOWED, HSM_KEY_EXISTS, HSM_PASSPHRASE_TOO_SHORT, HSM_SECRET_…
 */
export async function createFileKey(
  config: FileCustodyConfig,
  produce: (() => Uint8Array) | undefined,
  opts: { logger?: CustodyLogger } = {},
): Promise<KeyInfo> {
  assertAllowed(config, opts.logger);
  await assertNoFile(config.path);
  const kdf = newScryptParams();
  const fileKey = await deriveEnvelopeKey(
    await readPassphrase(config.passphrase, 'key file passphrase'),
    kdf,
  );
  let envelope: KeyEnvelope;
  let info: KeyInfo;
  try {
    const key = produce ? produce() : randomPrivateKey();
    try {
      info = keyInfoOf(key);
      envelope = sealEnvelope(FORMAT, key, fileKey, kdf);
    } finally {
      key.fill(0);
    }
  } finally {
    fileKey.fill(0);
  }
  await writeNewPrivateFile(config.path, serializeEnvelope(envelope), 'HSM_KEY_EXISTS');
  return info;
}

/** Decrypts the key file and passes the key to a synchronous `use` (export-backup); wiped afterwards. */
export async function withFileKey<T>(
  config: FileCustodyConfig,
  use: (privateKey: Uint8Array, info: KeyInfo) => NotPromise<T>,
  opts: { logger?: CustodyLogger } = {},
): Promise<NotPromise<T>> {
  assertAllowed(config, opts.logger);
  const envelope = await readKeyFile(config.path);
  const fileKey = await deriveEnvelopeKey(
    await readSecret(config.passphrase, 'key file passphrase'),
    envelope.kdf,
  );
  try {
    const key = openEnvelope(envelope, fileKey, KEY_FILE_CODES);
    try {
      return use(key, keyInfoOf(key));
    } finally {
      key.fill(0);
    }
  } finally {
    fileKey.fill(0);
  }
}
