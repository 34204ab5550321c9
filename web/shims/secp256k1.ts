// common/curve.ts uses the `secp256k1` package's native addon, which a browser cannot load. The
// page gets the same functions from @bitcoinerlab/secp256k1 (JavaScript, noble-curves), the
// library that stands in for tiny-secp256k1 here too; web/build.ts points the import at this file.
// Typed as the addon's declaration, so that a function curve.ts starts using cannot be missing here.
import * as ecc from '@bitcoinerlab/secp256k1';
import type native from 'secp256k1/bindings.js';

export default {
  publicKeyVerify(pubkey: Uint8Array): boolean {
    return ecc.isPoint(pubkey);
  },
  publicKeyConvert(pubkey: Uint8Array, compressed = true): Uint8Array {
    return ecc.pointCompress(pubkey, compressed);
  },
  publicKeyTweakAdd(pubkey: Uint8Array, tweak: Uint8Array, compressed = true): Uint8Array {
    const q = ecc.pointAddScalar(pubkey, tweak, compressed);
    if (!q) throw new Error('tweak out of range or the point at infinity');
    return q;
  },
} satisfies typeof native;
