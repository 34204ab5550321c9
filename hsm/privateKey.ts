import { bytesEqual, ecc, parseXOnlyKey, sha256, toHex, type XOnlyKey } from '../common/index.ts';
import { hsmError } from './errors.ts';

/** A covenant key's public forms; what ceremonies print. Never the private key. */
export interface KeyInfo {
  /** BIP340 x-only public key, hex (what the staking scripts hold). */
  readonly xOnly: string;
  /** 33-byte compressed public key, hex (the params file's `covenant_pks` form). */
  readonly compressed: string;
}

/** The public forms of a private key (32 bytes, already checked with ecc.isPrivate). */
export function keyInfoOf(privateKey: Uint8Array): KeyInfo {
  const pub = ecc.pointFromScalar(privateKey, true);
  if (!pub) throw hsmError('HSM_PRIVATE_KEY_INVALID', 'the private key is not a valid secp256k1 scalar');
  return { xOnly: toHex(pub.subarray(1)), compressed: toHex(pub) };
}

/** The x-only key of a KeyInfo as bytes. */
export function xOnlyOfInfo(info: KeyInfo): XOnlyKey {
  return parseXOnlyKey(info.xOnly, 'the key’s x-only form', 'HSM_PRIVATE_KEY_INVALID');
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const B58_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B58.length; i++) B58_INDEX[B58.charCodeAt(i)] = i;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** The WIF checksum's hash: SHA-256 twice. */
function sha256d(data: Uint8Array): Uint8Array {
  return sha256(sha256(data));
}

/**
 * Base58 decoding into bytes with byte arithmetic (no bigint: a bigint holding a key could not be
 * wiped). Returns undefined on a non-base58 character.
 */
function base58Decode(chars: Uint8Array): Uint8Array | undefined {
  let zeros = 0;
  while (zeros < chars.length && chars[zeros] === 0x31) zeros++;
  const size = Math.ceil((chars.length * 733) / 1000) + 1; // log(58)/log(256) ≈ 0.733
  const b = new Uint8Array(size);
  let length = 0;
  try {
    for (let i = zeros; i < chars.length; i++) {
      const c = chars[i]!;
      let carry = c < 128 ? B58_INDEX[c]! : -1;
      if (carry < 0) return undefined;
      let k = 0;
      for (let j = size - 1; (carry !== 0 || k < length) && j >= 0; j--, k++) {
        carry += 58 * b[j]!;
        b[j] = carry & 0xff;
        carry >>= 8;
      }
      length = k;
    }
    let start = size - length;
    while (start < size && b[start] === 0) start++;
    const out = new Uint8Array(zeros + (size - start));
    out.set(b.subarray(start), zeros);
    return out;
  } finally {
    b.fill(0);
  }
}

function base58Encode(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  const size = Math.ceil(((bytes.length - zeros) * 138) / 100) + 1; // log(256)/log(58) ≈ 1.38
  const d = new Uint8Array(size);
  let length = 0;
  try {
    for (let i = zeros; i < bytes.length; i++) {
      let carry = bytes[i]!;
      let k = 0;
      for (let j = size - 1; (carry !== 0 || k < length) && j >= 0; j--, k++) {
        carry += 256 * d[j]!;
        d[j] = carry % 58;
        carry = Math.floor(carry / 58);
      }
      length = k;
    }
    let start = size - length;
    while (start < size && d[start] === 0) start++;
    let out = '1'.repeat(zeros);
    for (let i = start; i < size; i++) out += B58[d[i]!];
    return out;
  } finally {
    d.fill(0);
  }
}

/** WIF version bytes: mainnet, and testnet/signet/regtest. */
const WIF_VERSIONS = [0x80, 0xef] as const;

/**
 * Encodes a private key as a compressed-key WIF. Only for the wallet backend's import, where
 * bitcoind's importdescriptors takes the key as text; the string cannot be wiped.
 */
export function encodeWif(privateKey: Uint8Array, network: 'mainnet' | 'test'): string {
  const payload = new Uint8Array(34);
  const full = new Uint8Array(38);
  try {
    payload[0] = network === 'mainnet' ? 0x80 : 0xef;
    payload.set(privateKey, 1);
    payload[33] = 0x01;
    full.set(payload);
    full.set(sha256d(payload).subarray(0, 4), 34);
    return base58Encode(full);
  } finally {
    payload.fill(0);
    full.fill(0);
  }
}

function hexNibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Parses a private key given as 64 hex digits or as a WIF (mainnet or test networks, compressed or
 * not), surrounded by optional whitespace, from bytes (standard input) or a string. Works on bytes
 * throughout so that the key exists only in Uint8Arrays the caller can wipe; the input is not
 * modified. The message never repeats the input.
 * @throws {CodedError} HSM_PRIVATE_KEY_INVALID
 */
export function parsePrivateKey(input: Uint8Array | string): Uint8Array {
  const raw = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  try {
    let start = 0;
    let end = raw.length;
    while (start < end && isSpace(raw[start]!)) start++;
    while (end > start && isSpace(raw[end - 1]!)) end--;
    const text = raw.subarray(start, end);
    let key: Uint8Array | undefined;
    if (text.length === 64 && text.every((c) => hexNibble(c) >= 0)) {
      key = new Uint8Array(32);
      for (let i = 0; i < 32; i++) key[i] = (hexNibble(text[2 * i]!) << 4) | hexNibble(text[2 * i + 1]!);
    } else {
      key = parseWif(text);
    }
    if (!key || !ecc.isPrivate(key)) {
      key?.fill(0);
      throw hsmError(
        'HSM_PRIVATE_KEY_INVALID',
        'the private key must be 64 hex digits or a WIF of a valid secp256k1 private key',
      );
    }
    return key;
  } finally {
    if (typeof input === 'string') raw.fill(0);
  }
}

function parseWif(text: Uint8Array): Uint8Array | undefined {
  if (text.length < 50 || text.length > 53) return undefined;
  const decoded = base58Decode(text);
  if (!decoded) return undefined;
  try {
    const n = decoded.length;
    if (n !== 37 && n !== 38) return undefined;
    const payload = decoded.subarray(0, n - 4);
    const check = sha256d(payload).subarray(0, 4);
    if (!bytesEqual(check, decoded.subarray(n - 4))) return undefined;
    if (!(WIF_VERSIONS as readonly number[]).includes(payload[0]!)) return undefined;
    if (n === 38 && payload[33] !== 0x01) return undefined;
    return Uint8Array.from(payload.subarray(1, 33));
  } finally {
    decoded.fill(0);
  }
}
