export { PARAMS_ERRORS, type ParamsErrorCode } from './errors.ts';
export {
  type FinalityProvider,
  type FinalityProviderDescription,
  parseFinalityProviders,
} from './finalityProviders.ts';
export {
  assertParamsForHeight,
  type GlobalParams,
  indexerConfirmationDepth,
  isConfirmed,
  MIN_UNBONDING_OUTPUT_SAT,
  type ParamsVersion,
  type ParseParamsOptions,
  paramsVersionToJson,
  parseGlobalParams,
  selectParamsForHeight,
  versionsListingKey,
} from './globalParams.ts';
export {
  assertNewVersionsActivateAboveTip,
  assertParamsAppendOnly,
  assertParamsGrewFrom,
  type ParamsInForce,
  paramsVersionIdentity,
} from './growth.ts';
export { isOverflow } from './overflow.ts';
export {
  assertPhase2ParamsAppendOnly,
  assertPhase2Version,
  type ParsePhase2Options,
  type Phase2Params,
  type Phase2ParamsVersion,
  parsePhase2ParamsVersion,
  parsePhase2ParamsVersions,
  phase2ParamsVersionToJson,
  phase2VersionByNumber,
  selectPhase2Version,
} from './phase2Params.ts';
export {
  decimalAtto,
  isDustOutput,
  isOpReturnScript,
  parseSlashingRate,
  type SlashingRate,
  slashingAmountSat,
} from './phase2Rules.ts';
