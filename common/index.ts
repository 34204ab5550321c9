export { CodedError, isCodedError } from './codedError.ts';
export { bytesEqual, compareBytes, concatBytes, hashToTxid, parseHex, toHex, txidToHash } from './hex.ts';
export type { CompressedKey, XOnlyKey } from './keys.ts';
export { parseCompressedKey, parseXOnlyKey, xOnlyOf } from './keys.ts';
export { type LoadConfigOptions, loadConfig, readSecretFile } from './config.ts';
