export { sha256 } from '#sha256';
export { CodedError, isCodedError } from './codedError.ts';
export { ecc, isPublicKey, isXOnlyPublicKey, xOnlyTweakAdd } from './curve.ts';
export type { Ecc } from './ecc.ts';
export { bytesEqual, compareBytes, concatBytes, hashToTxid, parseHex, toHex, txidToHash } from './hex.ts';
export type { DeepReadonly, SchemaType } from './jsonSchema.ts';
export type { CompressedKey, XOnlyKey } from './keys.ts';
export { copyXOnlyKey, parseCompressedKey, parseXOnlyKey, xOnlyKeyOrUndefined, xOnlyOf } from './keys.ts';
