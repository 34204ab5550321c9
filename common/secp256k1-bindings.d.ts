// secp256k1 (cryptocoinjs) ships no types; this covers what common/curve.ts uses of its native half.
declare module 'secp256k1/bindings.js' {
  interface Secp256k1Native {
    publicKeyVerify(pubkey: Uint8Array): boolean;
    publicKeyConvert(pubkey: Uint8Array, compressed?: boolean): Uint8Array;
    publicKeyTweakAdd(pubkey: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array;
  }
  const secp256k1: Secp256k1Native;
  export default secp256k1;
}
