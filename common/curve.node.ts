import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CodedError } from './codedError.ts';
import type { Ecc } from './ecc.ts';

/**
 * The curve for the Node services (package.json `imports` maps `#curve` here under `node`): Bitcoin
 * Core's libsecp256k1, the system library, through the project's own N-API addon
 * (native/secp256k1/). It implements tiny-secp256k1's interface with tiny-secp256k1's argument
 * checks and messages, so it is a drop-in `Ecc`; BIP340 signing and verification, the taproot
 * tweaks and key checks run about 4–5× faster than tiny-secp256k1's WebAssembly build of the same
 * library (native/secp256k1/README.md has the figures).
 *
 * No fallback: when the addon is missing, loading this module throws CURVE_NATIVE_UNAVAILABLE
 * with how to build it, rather than a service running silently at a fraction of its speed.
 */

/** Where native/secp256k1/build.sh puts the addon. */
export const NATIVE_CURVE_BINARY = fileURLToPath(
  new URL('../native/secp256k1/build/Release/secp256k1_native.node', import.meta.url),
);

/** The addon's exports, checked at load (a binary from older sources would lack one). */
const ECC_FUNCTIONS = [
  'isPoint',
  'isXOnlyPoint',
  'isPrivate',
  'pointAdd',
  'pointAddScalar',
  'pointCompress',
  'pointFromScalar',
  'pointMultiply',
  'privateAdd',
  'privateSub',
  'privateNegate',
  'xOnlyPointAddTweak',
  'xOnlyPointFromScalar',
  'xOnlyPointFromPoint',
  'sign',
  'signSchnorr',
  'verify',
  'verifySchnorr',
] as const satisfies readonly (keyof Ecc)[];

/**
 * Loads the addon at `path` and checks it has every function of the interface.
 * @throws {CodedError} CURVE_NATIVE_UNAVAILABLE
 */
export function loadNativeCurve(path: string): Ecc {
  let addon: Record<string, unknown>;
  try {
    addon = createRequire(import.meta.url)(path) as Record<string, unknown>;
  } catch (err) {
    throw unavailable(path, err instanceof Error ? err.message.split('\n')[0]! : String(err), err);
  }
  const missing = ECC_FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
  if (missing.length > 0)
    throw unavailable(path, `it lacks ${missing.join(', ')} (built from older sources?)`);
  return addon as unknown as Ecc;
}

function unavailable(path: string, why: string, cause?: unknown): CodedError {
  return new CodedError(
    'CURVE_NATIVE_UNAVAILABLE',
    `the native libsecp256k1 addon cannot be loaded from ${path}: ${why}. Build it with ` +
      '`bash test/infra/provision.sh` (installs libsecp256k1-dev, then builds) or, with ' +
      'libsecp256k1-dev installed, `npm run build:native`',
    { cause, details: { path } },
  );
}

/** tiny-secp256k1's interface on native libsecp256k1. */
export const ecc: Ecc = loadNativeCurve(NATIVE_CURVE_BINARY);

/** Is `x` (32 bytes) the x coordinate of a point on the curve (BIP340 lift_x succeeds)? */
export function isXOnlyPublicKey(x: Uint8Array): boolean {
  if (x.length !== 32) return false;
  return remembered(x, (k) => ecc.isXOnlyPoint(k));
}

// The answers for the last keys checked, by their bytes, the oldest dropped first. A check is a
// square root (about 5 µs here), and the same keys come back: a finality provider's key in nearly
// every staking OP_RETURN, a staker's key in each of the API's queries about them, a covenant key
// in every request to its signer. x-only and compressed keys share it: their lengths differ, so
// their bytes never name the same entry.
const CHECKED_MAX = 50_000;
const checked = new Map<string, boolean>();

function remembered(key: Uint8Array, check: (key: Uint8Array) => boolean): boolean {
  const id = Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
  let valid = checked.get(id);
  if (valid === undefined) {
    valid = check(key);
    if (checked.size >= CHECKED_MAX) checked.delete(checked.keys().next().value!);
    checked.set(id, valid);
  }
  return valid;
}

/** Is `key` a valid 33-byte compressed or 65-byte uncompressed point (hybrid encodings refused)? */
export function isPublicKey(key: Uint8Array): boolean {
  if (key.length === 33 ? key[0] !== 0x02 && key[0] !== 0x03 : key.length !== 65 || key[0] !== 0x04) {
    return false;
  }
  return key.length === 33 ? remembered(key, (k) => ecc.isPoint(k)) : ecc.isPoint(key);
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
  let q: ReturnType<Ecc['xOnlyPointAddTweak']>;
  try {
    q = ecc.xOnlyPointAddTweak(x, tweak);
  } catch {
    // x off the curve or t ≥ n: the addon's TypeError (tiny-secp256k1's answer too).
    return undefined;
  }
  return q === null ? undefined : { xOnly: q.xOnlyPubkey, parity: q.parity };
}
