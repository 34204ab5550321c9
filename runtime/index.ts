export { answerStandardCommand, runMain, takeSighup, untilStopSignal } from './cli.ts';
export {
  type CheckedConfig,
  type ConfigOf,
  type ConfigSchema,
  checkConfig,
  configSchema,
  deepFreeze,
  LOG_SCHEMA,
  type LoadConfigOptions,
  type LogLevel,
  loadConfig,
  OPS_RENAMED,
  opsSchema,
  type RenamedOption,
  readTomlFile,
  type TypedConfigSchema,
} from './config.ts';
export {
  capConnections,
  type ListenerLimits,
  listenerOptions,
  serverTimeoutOptions,
} from './listenerLimits.ts';
export { createOpsServer, listenOps, type OpsEndpoints } from './opsServer.ts';
export { loadParamsFile, type ParamsFile, type ParamsReload, reloadParamsFile } from './paramsFile.ts';
export {
  readOptionalSecretText,
  readPrivateFile,
  readSecretText,
  redactUrlPassword,
  type SecretFileCodes,
  urlWithPasswordFile,
} from './secrets.ts';
export { startTsWorker } from './tsWorker.ts';
