import { bytesEqual, CodedError, concatBytes, ecc, isPublicKey } from '../common/index.ts';
import { taggedHash } from './taproot.ts';

/*
 * Babylon's Schnorr adaptor signatures, the scheme of its current release (PR #671, "align adaptor
 * sig impl with Blockstream spec"; babylon v4.2.0 = e65c3a5, the version covenant-emulator pins;
 * phase2-covenant.md §6). Steps cite babylonlabs-io/babylon@a3b6540 (byte-identical to v4.2.0):
 * crypto/schnorr-adaptor-signature/sig.go, sign_utils.go, types.go, keys.go.
 *
 *  - pre-signature (65 bytes) = cbytes(R0) ‖ s, R0 = k0·G + T with its own parity (types.go:119-152);
 *  - legacy form (66 bytes) = 0x02 ‖ x(R0) ‖ s ‖ needsNegation, read as prefix 0x02 (nn = 0) or
 *    0x03 (nn = 1) (types.go:39-58); only parsed, never produced;
 *  - encryption key T: a 33-byte compressed point of either parity (the vectors use both); Babylon
 *    itself always lifts the finality provider's key to even y (keys.go:76-117), see
 *    babylonEncryptionKey.
 *
 * What is and is not constant-time. Under Node, secret scalars (the signing key, the nonce, the
 * decryption key) only pass through libsecp256k1 by common/'s `ecc` (the native addon,
 * native/secp256k1/: pointFromScalar, privateAdd, privateNegate, privateSub), whose scalar code and
 * argument range checks are constant-time, and byte-wise XOR. (A browser bundle's curve is
 * noble-curves' JavaScript, which promises no such thing; custody never signs there.)
 * Not constant-time: e·d is computed by double-and-add whose schedule follows the bits of the
 * challenge e, which is public, while the additions themselves run in libsecp256k1; the reduction
 * of the nonce hash mod n uses BigInt in the branch taken when the hash is ≥ n (probability
 * ≈ 2^-128). Secrets live in Uint8Arrays the caller owns; intermediates are not zeroed (JavaScript
 * cannot promise it). Verification, decryption's parity branch and everything on public data are
 * variable-time, as in Go (AddNonConst, ScalarMultNonConst).
 */

/** Bytes of a pre-signature in the PR #671 format: cbytes(R0) ‖ s. */
export const ADAPTOR_SIGNATURE_BYTES = 65;
/** Bytes of the older encoding Babylon still parses for stored delegations. */
export const ADAPTOR_SIGNATURE_LEGACY_BYTES = 66;

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** A parsed pre-signature: R0 as 33 compressed bytes (parity in the prefix) and s < n. */
export interface AdaptorSignature {
  readonly r0: Uint8Array;
  readonly s: Uint8Array;
}

function assertLength(bytes: Uint8Array, len: number, field: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== len) {
    throw new CodedError('STAKING_INVALID_ARGUMENT', `${field} must be ${len} bytes`);
  }
}

function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

/** A 32-byte big-endian integer below n (the BIP340 `int(x) < n` test on public data). */
function isBelowN(b: Uint8Array): boolean {
  return BigInt(`0x${Buffer.from(b).toString('hex')}`) < N;
}

/** int(h) mod n as 32 bytes (BIP340 challenge and nonce reduction); h ≥ n has probability ≈ 2^-128. */
function reduceModN(h: Uint8Array): Uint8Array {
  if (isBelowN(h)) return h;
  const r = BigInt(`0x${Buffer.from(h).toString('hex')}`) - N;
  return Uint8Array.from(Buffer.from(r.toString(16).padStart(64, '0'), 'hex'));
}

/** The point with the other y: flips the parity byte of a compressed point. */
function negatePoint(p: Uint8Array): Uint8Array {
  const q = Uint8Array.from(p);
  q[0] = p[0] === 0x02 ? 0x03 : 0x02;
  return q;
}

/**
 * e·d mod n for a public e and a secret d: double-and-add over e's bits with libsecp256k1's
 * constant-time scalar addition (the Ecc interface has no scalar multiplication). Returns undefined
 * for zero.
 */
function mulPublicBySecret(e: Uint8Array, d: Uint8Array): Uint8Array | undefined {
  let acc: Uint8Array | undefined;
  let addend: Uint8Array | undefined = d;
  for (let byte = 31; byte >= 0; byte--) {
    for (let bit = 0; bit < 8; bit++) {
      if (addend === undefined) return acc;
      if ((e[byte]! >> bit) & 1)
        acc = acc === undefined ? addend : (ecc.privateAdd(acc, addend) ?? undefined);
      // 2·addend is never 0 mod the prime n for a non-zero addend.
      addend = byte === 0 && bit === 7 ? undefined : (ecc.privateAdd(addend, addend) ?? undefined);
    }
  }
  return acc;
}

/**
 * Parses a pre-signature: 65 bytes `cbytes(R0) ‖ s`, or the 66-byte legacy form
 * `0x02 ‖ x(R0) ‖ s ‖ needsNegation` that Babylon converts on read (types.go:39-92,
 * TestOldFormatCompat). R0 must be a point on the curve (not infinity) and s < n.
 * @throws {CodedError} STAKING_ADAPTOR_SIG_MALFORMED
 */
export function parseAdaptorSignature(bytes: Uint8Array): AdaptorSignature {
  if (!(bytes instanceof Uint8Array)) {
    throw new CodedError('STAKING_ADAPTOR_SIG_MALFORMED', 'an adaptor signature must be bytes');
  }
  let r0: Uint8Array;
  if (bytes.length === ADAPTOR_SIGNATURE_LEGACY_BYTES) {
    if (bytes[0] !== 0x02) {
      throw new CodedError(
        'STAKING_ADAPTOR_SIG_MALFORMED',
        'a 66-byte adaptor signature must start with 0x02',
      );
    }
    const nn = bytes[65];
    if (nn !== 0x00 && nn !== 0x01) {
      throw new CodedError(
        'STAKING_ADAPTOR_SIG_MALFORMED',
        'the needsNegation byte of a 66-byte adaptor signature must be 0x00 or 0x01',
      );
    }
    r0 = concatBytes(Uint8Array.of(nn === 0x00 ? 0x02 : 0x03), bytes.subarray(1, 33));
  } else if (bytes.length === ADAPTOR_SIGNATURE_BYTES) {
    r0 = bytes.slice(0, 33);
  } else {
    throw new CodedError(
      'STAKING_ADAPTOR_SIG_MALFORMED',
      `an adaptor signature must be 65 or 66 bytes, got ${bytes.length}`,
    );
  }
  if ((r0[0] !== 0x02 && r0[0] !== 0x03) || !isPublicKey(r0)) {
    throw new CodedError('STAKING_ADAPTOR_SIG_MALFORMED', 'the R0 of an adaptor signature is not a point');
  }
  const s = bytes.slice(33, 65);
  if (!isBelowN(s)) {
    throw new CodedError('STAKING_ADAPTOR_SIG_MALFORMED', 'the s of an adaptor signature is not below n');
  }
  return Object.freeze({ r0, s });
}

/** The 65-byte PR #671 encoding `cbytes(R0) ‖ s` (types.go Marshal). */
export function serializeAdaptorSignature(sig: AdaptorSignature): Uint8Array {
  return concatBytes(sig.r0, sig.s);
}

/**
 * Parses a 33-byte compressed encryption key (adaptor point T), keeping its parity.
 * @throws {CodedError} STAKING_ADAPTOR_ENC_KEY_INVALID
 */
export function parseEncryptionKey(bytes: Uint8Array): Uint8Array {
  if (
    !(bytes instanceof Uint8Array) ||
    bytes.length !== 33 ||
    (bytes[0] !== 0x02 && bytes[0] !== 0x03) ||
    !isPublicKey(bytes)
  ) {
    throw new CodedError(
      'STAKING_ADAPTOR_ENC_KEY_INVALID',
      'an encryption key must be a 33-byte compressed secp256k1 point',
    );
  }
  return Uint8Array.from(bytes);
}

/**
 * The encryption key Babylon uses for a finality provider: its key lifted to even y, 33 bytes
 * `02 ‖ x` (NewEncryptionKeyFromBTCPK / NewEncryptionKeyFromBytes force even y, keys.go:76-117;
 * phase2-covenant.md §6.2). Takes the 32-byte x-only key or any 33-byte compressed key: a `03…`
 * key from a request signs for the same even point, as the reference signer does.
 * @throws {CodedError} STAKING_ADAPTOR_ENC_KEY_INVALID
 */
export function babylonEncryptionKey(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || (key.length !== 32 && key.length !== 33)) {
    throw new CodedError(
      'STAKING_ADAPTOR_ENC_KEY_INVALID',
      'a finality-provider key must be 32 (x-only) or 33 (compressed) bytes',
    );
  }
  const x = key.length === 33 ? parseEncryptionKey(key).subarray(1) : key;
  return parseEncryptionKey(concatBytes(Uint8Array.of(0x02), x));
}

/**
 * The decryption key that opens pre-signatures encrypted to babylonEncryptionKey(d·G): d itself when
 * d·G has even y, else n − d, because Babylon lifts the provider's key to even y before encrypting
 * (Babylon's NewDecryptionKeyFromBTCSK negates d the same way, crypto/schnorr-adaptor-signature/keys.go).
 * Decrypting with the raw d of an odd-y key gives a signature that does not verify.
 * @throws {CodedError} STAKING_ADAPTOR_SECRET_INVALID
 */
export function babylonDecryptionKey(secretKey: Uint8Array): Uint8Array {
  const d = parseScalar(secretKey, 'the finality-provider secret key');
  const point = ecc.pointFromScalar(d, true);
  if (!point) throw new CodedError('STAKING_ADAPTOR_SECRET_INVALID', 'the secret key is not a scalar');
  return point[0] === 0x02 ? Uint8Array.from(d) : ecc.privateNegate(d);
}

/**
 * EncSign with a given nonce k0 (sign_utils.go:18-82, steps 9-16). Exported for the tests of its
 * failure branches only; callers use adaptorEncSign.
 * @throws {CodedError} STAKING_ADAPTOR_SIGN_FAILED
 */
export function encSignWithNonce(
  d: Uint8Array,
  pubKeyXOnly: Uint8Array,
  k0: Uint8Array,
  message: Uint8Array,
  encryptionKey: Uint8Array,
): Uint8Array {
  // Step 9: R = k0·G.
  const r = ecc.pointFromScalar(k0, true);
  // Step 10: R0 = R + T, not infinity.
  const r0 = r && ecc.pointAdd(r, encryptionKey, true);
  if (!r0) throw new CodedError('STAKING_ADAPTOR_SIGN_FAILED', 'R0 = k0·G + T is the point at infinity');
  // k = k0 if R0 has even y, else n − k0 (so that s·G − e·P = ±k0·G matches R0's parity on verify).
  const k = r0[0] === 0x03 ? ecc.privateNegate(k0) : k0;
  // e = int(tagged_hash("BIP0340/challenge", x(R0) ‖ x(P) ‖ m)) mod n.
  const e = reduceModN(taggedHash('BIP0340/challenge', r0.subarray(1), pubKeyXOnly, message));
  // s = k + e·d mod n.
  const ed = mulPublicBySecret(e, d);
  const s = ed === undefined ? k : ecc.privateAdd(k, ed);
  if (!s) throw new CodedError('STAKING_ADAPTOR_SIGN_FAILED', 'the pre-signature scalar s is zero');
  const presig = concatBytes(r0, s);
  // Sign, then check (sign_utils.go:76-79; noble's schnorrSign does the same).
  if (!verifyAdaptorSignature(pubKeyXOnly, message, encryptionKey, presig)) {
    throw new CodedError('STAKING_ADAPTOR_SIGN_FAILED', 'the new pre-signature does not verify');
  }
  return presig;
}

/**
 * Which public-key bytes enter the nonce hash. Babylon v4.2.0 passes the 33-byte compressed P of
 * the secret key as given, before the even-y negation (sig.go:112-128); the Python reference of
 * the vectors passes x(P). Only the nonce differs; both verify the same way (phase2-covenant.md
 * §6.1, question 6). Exported for the byte-exact vector test; production uses 'babylon-go'.
 */
export type NonceKeyEncoding = 'babylon-go' | 'python-reference';

/**
 * EncSignWithAuxData (sig.go:87-162) with the nonce key encoding as a parameter. Exported for the
 * vector test; callers use adaptorEncSign.
 */
export function adaptorEncSignWith(
  secretKey: Uint8Array,
  message: Uint8Array,
  encryptionKey: Uint8Array,
  auxRand: Uint8Array,
  nonceKey: NonceKeyEncoding,
): Uint8Array {
  assertLength(message, 32, 'the message');
  assertLength(auxRand, 32, 'the auxiliary randomness');
  const t = parseEncryptionKey(encryptionKey);
  // Steps 1-2: d' = int(sk), 0 < d' < n.
  if (!(secretKey instanceof Uint8Array) || !ecc.isPrivate(secretKey)) {
    throw new CodedError('STAKING_ADAPTOR_SECRET_INVALID', 'the signing key is not a scalar in [1, n-1]');
  }
  // Step 3: P = d'·G.
  const p = ecc.pointFromScalar(secretKey, true)!;
  // Step 4: d = d' if P has even y, else n − d'.
  const d = p[0] === 0x03 ? ecc.privateNegate(secretKey) : secretKey;
  // Step 5: t = bytes(d) XOR tagged_hash("SchnorrAdaptor/aux", a).
  const auxHash = taggedHash('SchnorrAdaptor/aux', auxRand);
  const masked = new Uint8Array(32);
  for (let i = 0; i < 32; i++) masked[i] = d[i]! ^ auxHash[i]!;
  // Step 6: rand = tagged_hash("SchnorrAdaptor/nonce", t ‖ cbytes(T) ‖ P ‖ m).
  const pBytes = nonceKey === 'babylon-go' ? p : p.subarray(1);
  const rand = taggedHash('SchnorrAdaptor/nonce', masked, t, pBytes, message);
  masked.fill(0);
  // Steps 7-8: k0 = int(rand) mod n, not zero.
  const k0 = reduceModN(rand);
  if (isZero(k0)) throw new CodedError('STAKING_ADAPTOR_SIGN_FAILED', 'the nonce is zero');
  try {
    return encSignWithNonce(d, p.subarray(1), k0, message, t);
  } finally {
    rand.fill(0);
    k0.fill(0);
  }
}

/**
 * Babylon's EncSign: a 65-byte pre-signature of a 32-byte message (the BIP341 sighash) with the
 * covenant's secret key, encrypted to `encryptionKey` (33 bytes, either parity; for Babylon pass
 * babylonEncryptionKey(fpKey)). The nonce is derived as Babylon v4.2.0 does from `auxRand`, which
 * must be 32 fresh random bytes for each signature (the reference draws them itself, sig.go:79-82);
 * a pure function cannot, so the caller passes them. The result is verified before it is returned.
 * @throws {CodedError} STAKING_INVALID_ARGUMENT (message or auxRand not 32 bytes),
 *   STAKING_ADAPTOR_ENC_KEY_INVALID, STAKING_ADAPTOR_SECRET_INVALID, STAKING_ADAPTOR_SIGN_FAILED
 * @example
 * // The covenant signer, per finality provider of a delegation:
 * const msg = slashingSighash(slashingTx, stakingTx, stakingOutputIdx, stakingInfo.slashing);
 * const presig = adaptorEncSign(covenantKey, msg, babylonEncryptionKey(fpKey), randomBytes(32));
 */
export function adaptorEncSign(
  secretKey: Uint8Array,
  message: Uint8Array,
  encryptionKey: Uint8Array,
  auxRand: Uint8Array,
): Uint8Array {
  return adaptorEncSignWith(secretKey, message, encryptionKey, auxRand, 'babylon-go');
}

/**
 * EncVerify (sign_utils.go:84-164): whether `presig` (65 bytes, or the 66-byte legacy form) is a
 * pre-signature of `message` by the x-only `publicKey` encrypted to `encryptionKey` (the exact
 * 33-byte point, parity included). Never throws: malformed input is false.
 */
export function verifyAdaptorSignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  encryptionKey: Uint8Array,
  presig: Uint8Array,
): boolean {
  try {
    if (!(message instanceof Uint8Array) || message.length !== 32) return false;
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    const t = parseEncryptionKey(encryptionKey);
    // Step 1: P = lift_x(pk).
    const p = concatBytes(Uint8Array.of(0x02), publicKey);
    if (!isPublicKey(p)) return false;
    // Steps 2-3: s < n and s ≠ 0; R0 a point.
    const sig = parseAdaptorSignature(presig);
    if (isZero(sig.s)) return false;
    // Step 4: e = H_challenge(x(R0) ‖ x(P) ‖ m) mod n.
    const e = reduceModN(taggedHash('BIP0340/challenge', sig.r0.subarray(1), publicKey, message));
    // Step 5: R = s·G − e·P, not infinity.
    const sG = ecc.pointFromScalar(sig.s, true);
    if (!sG) return false;
    const r = isZero(e) ? sG : ecc.pointAdd(sG, ecc.pointMultiply(p, ecc.privateNegate(e), true)!, true);
    if (!r) return false;
    // Step 6: T' = R0 − R if R0 has even y, else R0 + R; not infinity.
    const tPrime = ecc.pointAdd(sig.r0, sig.r0[0] === 0x02 ? negatePoint(r) : r, true);
    if (!tPrime) return false;
    // Step 7: T' equals the encryption key, both coordinates.
    return bytesEqual(tPrime, t);
  } catch {
    return false;
  }
}

function parseScalar(bytes: Uint8Array, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32 || !ecc.isPrivate(bytes)) {
    throw new CodedError('STAKING_ADAPTOR_SECRET_INVALID', `${what} is not a scalar in [1, n-1]`);
  }
  return bytes;
}

/**
 * Decrypt (sign_utils.go:166-209): the BIP340 signature x(R0) ‖ s with s = s0 + t if R0 has even
 * y, else s0 − t. It verifies under the signer's key iff the pre-signature did and t·G = T.
 * @throws {CodedError} STAKING_ADAPTOR_SIG_MALFORMED, STAKING_ADAPTOR_SECRET_INVALID (t not in
 *   [1, n−1]), STAKING_ADAPTOR_ZERO_SCALAR (s0 or the result is zero)
 */
export function decryptAdaptorSignature(presig: Uint8Array, decryptionKey: Uint8Array): Uint8Array {
  const sig = parseAdaptorSignature(presig);
  const t = parseScalar(decryptionKey, 'the decryption key');
  if (isZero(sig.s)) {
    throw new CodedError('STAKING_ADAPTOR_ZERO_SCALAR', 'the s of the pre-signature is zero');
  }
  const s = sig.r0[0] === 0x02 ? ecc.privateAdd(sig.s, t) : ecc.privateSub(sig.s, t);
  if (!s) throw new CodedError('STAKING_ADAPTOR_ZERO_SCALAR', 'the decrypted signature scalar is zero');
  return concatBytes(sig.r0.subarray(1), s);
}

/**
 * Extract (sign_utils.go:211-258): the decryption key t from a pre-signature and the BIP340
 * signature decrypted from it: t = s − s0 if R0 has even y, else s0 − s. The result is the key
 * only if `signature` really is that decryption; callers that must know check t·G = T.
 * @throws {CodedError} STAKING_ADAPTOR_SIG_MALFORMED, STAKING_INVALID_SIGNATURE (not 64 bytes or
 *   s ≥ n), STAKING_ADAPTOR_ZERO_SCALAR (a zero s, or s = s0)
 */
export function extractDecryptionKey(presig: Uint8Array, signature: Uint8Array): Uint8Array {
  const sig = parseAdaptorSignature(presig);
  if (!(signature instanceof Uint8Array) || signature.length !== 64 || !isBelowN(signature.subarray(32))) {
    throw new CodedError('STAKING_INVALID_SIGNATURE', 'a BIP340 signature must be 64 bytes with s below n');
  }
  const s = signature.slice(32);
  if (isZero(sig.s) || isZero(s)) {
    throw new CodedError('STAKING_ADAPTOR_ZERO_SCALAR', 'the s of the signature or pre-signature is zero');
  }
  const t = sig.r0[0] === 0x02 ? ecc.privateSub(s, sig.s) : ecc.privateSub(sig.s, s);
  if (!t) throw new CodedError('STAKING_ADAPTOR_ZERO_SCALAR', 'the extracted decryption key is zero');
  return t;
}
