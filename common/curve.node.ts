import secp256k1 from 'secp256k1/bindings.js';
import * as tiny from 'tiny-secp256k1';
import type { Ecc } from './ecc.ts';
import { bytesEqual } from './hex.ts';

/** The curve for the Node services (package.json `imports` maps `#curve` here under `node`). */
export const ecc: Ecc = tiny;

/**
 * Public-key arithmetic on secp256k1 with native libsecp256k1 (the `secp256k1` package's prebuilt
 * addon). Only public data ever passes here: x-only key checks and the BIP341 taproot tweak, which
 * every staking, unbonding and withdraw decision repeats (indexer, signer, API). Native, a tweak
 * costs about 50 µs against tiny-secp256k1's 210 µs in WebAssembly, and a key check 6 µs against
 * 35 µs (measured on a 2-core machine of the project's kind). Signing and signature checks stay on
 * tiny-secp256k1. The import names the native binding, not the package's entry
 * point, which would fall back to a JavaScript curve without a word if the addon failed to load.
 */

const EVEN_PREFIX = 0x02;

/** lift_x(x) with the even y, as 33 compressed bytes (BIP340's reading of an x-only key). */
function evenPoint(x: Uint8Array): Uint8Array {
  const p = new Uint8Array(33);
  p[0] = EVEN_PREFIX;
  p.set(x, 1);
  return p;
}

/** Is `x` (32 bytes) the x coordinate of a point on the curve (BIP340 lift_x succeeds)? */
export function isXOnlyPublicKey(x: Uint8Array): boolean {
  if (x.length !== 32) return false;
  const id = Buffer.from(x.buffer, x.byteOffset, 32).toString('latin1');
  let valid = checked.get(id);
  if (valid === undefined) {
    valid = secp256k1.publicKeyVerify(evenPoint(x));
    if (checked.size >= CHECKED_MAX) checked.delete(checked.keys().next().value!);
    checked.set(id, valid);
  }
  return valid;
}

// The answers for the last keys checked, by their bytes, the oldest dropped first. A check is a
// square root (about 6 µs), and the same keys come back: a finality provider's key in nearly every
// staking OP_RETURN, a staker's key in each of the API's queries about them.
const CHECKED_MAX = 50_000;
const checked = new Map<string, boolean>();

/** Is `key` a valid 33-byte compressed or 65-byte uncompressed point? */
export function isPublicKey(key: Uint8Array): boolean {
  if (key.length === 33 ? key[0] !== 0x02 && key[0] !== 0x03 : key.length !== 65 || key[0] !== 0x04) {
    return false;
  }
  return secp256k1.publicKeyVerify(key);
}

/**
 * Q = lift_x(x) + t·G, as BIP341's taproot_tweak_pubkey: the x-only Q and the parity of its y.
 * Undefined when t ≥ n or Q is the point at infinity (negligible for a hash), or `x` is no key.
 */
export function xOnlyTweakAdd(
  x: Uint8Array,
  tweak: Uint8Array,
): { readonly xOnly: Uint8Array; readonly parity: 0 | 1 } | undefined {
  if (x.length !== 32 || tweak.length !== 32) return undefined;
  let q: Uint8Array;
  try {
    q = secp256k1.publicKeyTweakAdd(liftedUncompressed(x), tweak, true);
  } catch {
    return undefined;
  }
  return { xOnly: q.subarray(1), parity: q[0] === 0x03 ? 1 : 0 };
}

// The key tweaked is nearly always the same one (the staking scripts' unspendable internal key).
// Its lift, kept uncompressed, spares libsecp256k1 a square root at every tweak (45 µs → 38 µs).
let lastX: Uint8Array | undefined;
let lastLift: Uint8Array | undefined;

/** lift_x(x) as 65 uncompressed bytes. @throws when x is not on the curve */
function liftedUncompressed(x: Uint8Array): Uint8Array {
  if (lastX !== undefined && lastLift !== undefined && bytesEqual(lastX, x)) return lastLift;
  const lift = secp256k1.publicKeyConvert(evenPoint(x), false);
  lastX = Uint8Array.from(x);
  lastLift = lift;
  return lift;
}
