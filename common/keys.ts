import { CodedError } from './codedError.ts';
import { isPublicKey, isXOnlyPublicKey } from './curve.ts';
import { parseHex } from './hex.ts';

declare const brand: unique symbol;
/** A 32-byte BIP340 x-only public key that is a valid x coordinate (lift_x succeeds). */
export type XOnlyKey = Uint8Array & { readonly [brand]: 'XOnlyKey' };
/** A 33-byte compressed secp256k1 public key (02/03 prefix) that is on the curve. */
export type CompressedKey = Uint8Array & { readonly [brand]: 'CompressedKey' };

/**
 * Parses a 32-byte x-only key from hex or bytes. Babylon's Go code parses keys with
 * schnorr.ParsePubKey, which refuses an x with no point on the curve; we refuse the same.
 * @throws {CodedError} with `code`, naming `field`.
 */
export function parseXOnlyKey<C extends string>(value: unknown, field: string, code: C): XOnlyKey {
  const bytes = value instanceof Uint8Array ? value : parseHex(value, field, code, { bytes: 32 });
  if (bytes.length !== 32) throw new CodedError(code, `${field} must be 32 bytes, got ${bytes.length}`);
  const key = xOnlyKeyOrUndefined(bytes);
  if (!key) throw new CodedError(code, `${field} is not a valid x-only public key`);
  return key;
}

/**
 * A copy of `bytes` as an x-only key when they are one (32 bytes, lift_x succeeds), else undefined:
 * for chain data that is skipped rather than refused. The only place bytes become an XOnlyKey.
 */
export function xOnlyKeyOrUndefined(bytes: Uint8Array): XOnlyKey | undefined {
  return bytes.length === 32 && isXOnlyPublicKey(bytes) ? (Uint8Array.from(bytes) as XOnlyKey) : undefined;
}

/**
 * Parses a 33-byte compressed key (02/03 prefix, on the curve). Uncompressed and hybrid keys are
 * refused: the x-only form is taken by dropping the prefix byte, which only works for compressed keys.
 * @throws {CodedError} with `code`, naming `field`.
 */
export function parseCompressedKey<C extends string>(value: unknown, field: string, code: C): CompressedKey {
  const bytes = value instanceof Uint8Array ? value : parseHex(value, field, code, { bytes: 33 });
  if (bytes.length !== 33 || (bytes[0] !== 0x02 && bytes[0] !== 0x03)) {
    throw new CodedError(code, `${field} must be a 33-byte compressed public key (02/03 prefix)`);
  }
  if (!isPublicKey(bytes)) throw new CodedError(code, `${field} is not a point on secp256k1`);
  return Uint8Array.from(bytes) as CompressedKey;
}

/** The x-only form of a compressed key (drops the parity byte, as Go's schnorr.SerializePubKey). */
export function xOnlyOf(key: CompressedKey): XOnlyKey {
  return key.slice(1, 33) as XOnlyKey;
}

/** A copy of a key already checked, for a holder that hands out its key and must keep its own bytes. */
export function copyXOnlyKey(key: XOnlyKey): XOnlyKey {
  return key.slice() as XOnlyKey;
}
