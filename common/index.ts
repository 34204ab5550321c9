export { answerStandardCommand, runMain, untilStopSignal } from './cli.ts';
export { CodedError, isCodedError } from './codedError.ts';
export { LOG_SCHEMA, type LoadConfigOptions, type LogLevel, loadConfig, metricsSchema } from './config.ts';
export { isPublicKey, isXOnlyPublicKey, xOnlyTweakAdd } from './curve.ts';
export { bytesEqual, compareBytes, concatBytes, hashToTxid, parseHex, toHex, txidToHash } from './hex.ts';
export type { CompressedKey, XOnlyKey } from './keys.ts';
export { parseCompressedKey, parseXOnlyKey, xOnlyOf } from './keys.ts';
export {
  capConnections,
  type ListenerLimits,
  listenerOptions,
  serverTimeoutOptions,
} from './listenerLimits.ts';
export { createOpsServer, listenOps, type OpsEndpoints } from './opsServer.ts';
export {
  readOptionalSecretText,
  readPrivateFile,
  readSecretText,
  redactUrlPassword,
  type SecretFileCodes,
  urlWithPasswordFile,
} from './secrets.ts';
export { sha256 } from './sha256.ts';
export { startTsWorker } from './tsWorker.ts';
