import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { bytesEqual, ecc, parseCompressedKey, toHex } from '../common/index.ts';
import { type HsmErrorCode, hsmError } from './errors.ts';
import { keyInfoOf } from './privateKey.ts';

/**
 * A private key encrypted under a passphrase: scrypt derives a 256-bit key, AES-256-GCM encrypts the
 * 32-byte scalar. Versioned JSON with the KDF parameters inside, so a later version can raise them
 * and still read old files. Every header field is bound as GCM associated data, so changing the
 * recorded public key, the KDF parameters or the format makes decryption fail.
 *
 * Two formats share it: the file backend's key file (development only) and the sealed backup of a
 * covenant key made by `export-backup`.
 */
export type EnvelopeFormat = 'babylon-covenant-dev-key-file' | 'babylon-covenant-key-backup';

export interface ScryptParams {
  readonly name: 'scrypt';
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Uint8Array;
}

export interface KeyEnvelope {
  readonly format: EnvelopeFormat;
  readonly version: 1;
  /** The key's compressed public key, hex; an import checks the decrypted key against it. */
  readonly publicKey: string;
  readonly kdf: ScryptParams;
  readonly cipher: { readonly name: 'aes-256-gcm'; readonly iv: Uint8Array; readonly tag: Uint8Array };
  readonly ciphertext: Uint8Array;
  readonly createdAt: string;
}

/** Codes of one format: a malformed file, and a failed decryption. */
export interface EnvelopeCodes {
  readonly invalid: HsmErrorCode;
  readonly decrypt: HsmErrorCode;
}
export const KEY_FILE_CODES: EnvelopeCodes = {
  invalid: 'HSM_KEY_FILE_INVALID',
  decrypt: 'HSM_KEY_FILE_DECRYPT_FAILED',
};
export const BACKUP_CODES: EnvelopeCodes = {
  invalid: 'HSM_BACKUP_INVALID',
  decrypt: 'HSM_BACKUP_DECRYPT_FAILED',
};

/** 2^17, r 8, p 1: 128 MiB and a few hundred milliseconds per derivation (OWASP's scrypt floor). */
export const DEFAULT_SCRYPT = { N: 2 ** 17, r: 8, p: 1 } as const;
/** What a file may ask for: at most 512 MiB of scrypt memory, so a crafted file cannot exhaust the host. */
const MAX_SCRYPT_MEMORY = 512 * 1024 * 1024;

/** Fresh scrypt parameters with a random 32-byte salt. */
export function newScryptParams(): ScryptParams {
  return { name: 'scrypt', ...DEFAULT_SCRYPT, salt: randomBytes(32) };
}

/**
 * Derives the envelope key from a passphrase. Async: scrypt runs on libuv's thread pool, off the
 * event loop. Returns a Buffer the caller wipes.
 */
export function deriveEnvelopeKey(passphrase: string, kdf: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      kdf.salt,
      32,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 128 * kdf.N * kdf.r + 1024 * 1024 },
      (e, key) => (e ? reject(e) : resolve(key)),
    );
  });
}

function aad(e: Omit<KeyEnvelope, 'cipher' | 'ciphertext'>): Buffer {
  return Buffer.from(
    JSON.stringify([
      e.format,
      e.version,
      e.publicKey,
      e.kdf.name,
      e.kdf.N,
      e.kdf.r,
      e.kdf.p,
      toHex(e.kdf.salt),
      'aes-256-gcm',
      e.createdAt,
    ]),
    'utf8',
  );
}

/** Encrypts a private key (synchronous, so no await separates the key from its wiping by the caller). */
export function sealEnvelope(
  format: EnvelopeFormat,
  privateKey: Uint8Array,
  envelopeKey: Uint8Array,
  kdf: ScryptParams,
): KeyEnvelope {
  const head = {
    format,
    version: 1 as const,
    publicKey: keyInfoOf(privateKey).compressed,
    kdf,
    createdAt: new Date().toISOString(),
  };
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', envelopeKey, iv);
  c.setAAD(aad(head));
  const ciphertext = Buffer.concat([c.update(privateKey), c.final()]);
  return { ...head, cipher: { name: 'aes-256-gcm', iv, tag: c.getAuthTag() }, ciphertext };
}

/**
 * Decrypts the private key (synchronous). Returns a Uint8Array the caller wipes.
 * @throws {CodedError} `codes.decrypt` for a wrong passphrase or altered file, `codes.invalid` when the
 *   plaintext is not the recorded key
 */
export function openEnvelope(env: KeyEnvelope, envelopeKey: Uint8Array, codes: EnvelopeCodes): Uint8Array {
  const d = createDecipheriv('aes-256-gcm', envelopeKey, env.cipher.iv);
  d.setAAD(aad(env));
  d.setAuthTag(env.cipher.tag);
  let head: Buffer | undefined;
  let tail: Buffer | undefined;
  try {
    head = d.update(env.ciphertext);
    tail = d.final();
  } catch (cause) {
    head?.fill(0);
    throw hsmError(
      codes.decrypt,
      `the ${describe(env.format)} cannot be decrypted: wrong passphrase, or the file was altered`,
      {
        cause,
      },
    );
  }
  const key = new Uint8Array(32);
  key.set(head.subarray(0, 32));
  head.fill(0);
  tail.fill(0);
  if (!ecc.isPrivate(key) || keyInfoOf(key).compressed !== env.publicKey) {
    key.fill(0);
    throw hsmError(codes.invalid, `the ${describe(env.format)} does not hold the key its public key names`);
  }
  return key;
}

function describe(format: EnvelopeFormat): string {
  return format === 'babylon-covenant-key-backup' ? 'backup' : 'key file';
}

export function serializeEnvelope(e: KeyEnvelope): string {
  return `${JSON.stringify(
    {
      format: e.format,
      version: e.version,
      publicKey: e.publicKey,
      kdf: { name: e.kdf.name, N: e.kdf.N, r: e.kdf.r, p: e.kdf.p, salt: toHex(e.kdf.salt) },
      cipher: { name: e.cipher.name, iv: toHex(e.cipher.iv), tag: toHex(e.cipher.tag) },
      ciphertext: toHex(e.ciphertext),
      createdAt: e.createdAt,
    },
    null,
    2,
  )}\n`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses an envelope strictly: the expected format, version 1, exactly the known fields, hex of the
 * right lengths, scrypt parameters in bounds.
 * @throws {CodedError} `codes.invalid`
 */
export function parseEnvelope(
  text: string,
  format: EnvelopeFormat,
  codes: EnvelopeCodes,
  file: string,
): KeyEnvelope {
  const bad = (why: string) =>
    hsmError(codes.invalid, `${file} is not a ${describe(format)} of this version: ${why}`, {
      details: { file },
    });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (!isRecord(doc)) throw bad('not a JSON object');
  const keys = ['format', 'version', 'publicKey', 'kdf', 'cipher', 'ciphertext', 'createdAt'];
  if (Object.keys(doc).some((k) => !keys.includes(k))) throw bad('unknown field');
  if (doc.format !== format) throw bad(`format is not "${format}"`);
  if (doc.version !== 1) throw bad('version is not 1');
  const hex = (v: unknown, bytes: number, what: string): Uint8Array => {
    if (typeof v !== 'string' || !/^[0-9a-f]*$/.test(v) || v.length !== 2 * bytes)
      throw bad(`${what} is not ${bytes} bytes of lowercase hex`);
    return Uint8Array.from(Buffer.from(v, 'hex'));
  };
  if (typeof doc.publicKey !== 'string') throw bad('publicKey is missing');
  try {
    parseCompressedKey(doc.publicKey, 'publicKey', codes.invalid);
  } catch {
    throw bad('publicKey is not a compressed public key');
  }
  const kdf = doc.kdf;
  if (!isRecord(kdf) || Object.keys(kdf).some((k) => !['name', 'N', 'r', 'p', 'salt'].includes(k)))
    throw bad('kdf is malformed');
  if (kdf.name !== 'scrypt') throw bad('kdf is not scrypt');
  const { N, r, p } = kdf;
  if (typeof N !== 'number' || !Number.isInteger(N) || N < 2 ** 14 || N > 2 ** 20 || (N & (N - 1)) !== 0)
    throw bad('kdf.N is out of range');
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > 32) throw bad('kdf.r is out of range');
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 16) throw bad('kdf.p is out of range');
  if (128 * N * r > MAX_SCRYPT_MEMORY) throw bad('kdf asks for too much memory');
  const salt = hex(kdf.salt, 32, 'kdf.salt');
  const cipher = doc.cipher;
  if (!isRecord(cipher) || Object.keys(cipher).some((k) => !['name', 'iv', 'tag'].includes(k)))
    throw bad('cipher is malformed');
  if (cipher.name !== 'aes-256-gcm') throw bad('cipher is not aes-256-gcm');
  if (typeof doc.createdAt !== 'string' || doc.createdAt.length > 64) throw bad('createdAt is malformed');
  return {
    format,
    version: 1,
    publicKey: doc.publicKey,
    kdf: { name: 'scrypt', N, r, p, salt },
    cipher: {
      name: 'aes-256-gcm',
      iv: hex(cipher.iv, 12, 'cipher.iv'),
      tag: hex(cipher.tag, 16, 'cipher.tag'),
    },
    ciphertext: hex(doc.ciphertext, 32, 'ciphertext'),
    createdAt: doc.createdAt,
  };
}

/** Whether two envelopes name the same public key. */
export function samePublicKey(a: KeyEnvelope, xOnly: Uint8Array): boolean {
  return bytesEqual(Buffer.from(a.publicKey, 'hex').subarray(1), xOnly);
}
