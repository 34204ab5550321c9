// secp256k1 (cryptocoinjs) ships no types; this covers what common/curve.ts uses of its native half.
declare module 'secp256k1/bindings.js' {
  interface Secp256k1Native {
    publicKeyVerify(pubkey: Uint8Array): boolean;
    publicKeyConvert(pubkey: Uint8Array, compressed?: boolean): Uint8Array;
    publicKeyTweakAdd(pubkey: Uint8Array, tweak: Uint8Array, compressed?: boolean): Uint8Array;
    // test/infra/bulkTxs.ts signs bench traffic with these.
    publicKeyCreate(seckey: Uint8Array, compressed?: boolean): Uint8Array;
    ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  }
  const secp256k1: Secp256k1Native;
  export default secp256k1;
}
