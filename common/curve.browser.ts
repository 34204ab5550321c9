import * as noble from '@bitcoinerlab/secp256k1';
import type { Ecc } from './ecc.ts';

/**
 * The curve in a browser bundle (package.json `imports` maps `#curve` here when the `node`
 * condition is absent): @bitcoinerlab/secp256k1, tiny-secp256k1's interface in JavaScript on
 * noble-curves. The native addon and tiny-secp256k1's WebAssembly cannot load in a page whose CSP
 * has no wasm-unsafe-eval. Same functions, same answers as curve.node.ts (curve.test.ts).
 */
export const ecc: Ecc = noble;

/** Is `x` (32 bytes) the x coordinate of a point on the curve (BIP340 lift_x succeeds)? */
export function isXOnlyPublicKey(x: Uint8Array): boolean {
  return x.length === 32 && noble.isXOnlyPoint(x);
}

/** Is `key` a valid 33-byte compressed or 65-byte uncompressed point? */
export function isPublicKey(key: Uint8Array): boolean {
  if (key.length === 33 ? key[0] !== 0x02 && key[0] !== 0x03 : key.length !== 65 || key[0] !== 0x04) {
    return false;
  }
  return noble.isPoint(key);
}

/** Q = lift_x(x) + t·G (BIP341's taproot_tweak_pubkey): the x-only Q and its y parity. */
export function xOnlyTweakAdd(
  x: Uint8Array,
  tweak: Uint8Array,
): { readonly xOnly: Uint8Array; readonly parity: 0 | 1 } | undefined {
  if (x.length !== 32 || tweak.length !== 32 || !noble.isXOnlyPoint(x)) return undefined;
  const q = noble.xOnlyPointAddTweak(x, tweak);
  return q === null ? undefined : { xOnly: q.xOnlyPubkey, parity: q.parity };
}
