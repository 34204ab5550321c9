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
export { assertNewVersionsActivateAboveTip, assertParamsAppendOnly } from './growth.ts';
