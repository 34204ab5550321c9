export {
  ADAPTOR_SIGNATURE_BYTES,
  ADAPTOR_SIGNATURE_LEGACY_BYTES,
  type AdaptorSignature,
  adaptorEncSign,
  babylonDecryptionKey,
  babylonEncryptionKey,
  decryptAdaptorSignature,
  extractDecryptionKey,
  parseAdaptorSignature,
  parseEncryptionKey,
  serializeAdaptorSignature,
  verifyAdaptorSignature,
} from './adaptor.ts';
export { STAKING_ERRORS, type StakingErrorCode } from './errors.ts';
export {
  assertStakingTxInRange,
  classifyStakingTx,
  isPossibleStakingTx,
  parseStakingTx,
  type StakingClassification,
  type StakingTxData,
} from './identify.ts';
export { buildLeafSigningPsbt, type LeafSpend, leafSignatureOf } from './leafPsbt.ts';
export {
  assertDistinctKeys,
  buildSlashingLeaf,
  buildTimelockLeaf,
  buildUnbondingLeaf,
  sortKeys,
} from './leaves.ts';
export {
  buildV0OpReturn,
  decodeV0OpReturn,
  V0_OP_RETURN_SCRIPT_BYTES,
  type V0OpReturnData,
} from './opReturn.ts';
export { taprootSighashDefault } from './sighash.ts';
export {
  SIGN_TRANSACTIONS_PATH,
  SIGN_TRANSACTIONS_REQUEST_SCHEMA,
  SIGN_TRANSACTIONS_RESPONSE_SCHEMA,
  SIGN_TRANSACTIONS_RESULT_SCHEMA,
  SIGN_UNBONDING_PATH,
  SIGN_UNBONDING_REQUEST_SCHEMA,
  SIGN_UNBONDING_RESPONSE_SCHEMA,
  SIGNER_ERROR_SCHEMA,
  type SignerErrorBody,
  type SignTransactionsRequestBody,
  type SignTransactionsResponse,
  type SignUnbondingRequestBody,
  type SignUnbondingResponse,
} from './signerApi.ts';
export {
  assertSlashingTxMatchesFundingTx,
  buildSlashingChangeOutput,
  buildSlashingTx,
  type FundingOutput,
  fundingOutputOf,
  MAX_SLASHING_TX_WEIGHT,
  SLASHING_SEQUENCE,
  SLASHING_TX_VERSION,
  type SlashingChangeOutput,
  type SlashingParams,
  slashingSighash,
} from './slashing.ts';
export {
  buildTimelockWithdrawTx,
  classifyStakingOutputSpend,
  isUnbondingTimelockWithdraw,
  revealedScript,
  type StakingOutputSpend,
  scriptPathSighash,
  spendsOutpoint,
} from './spends.ts';
export {
  assertCovenantOverlap,
  assertStakeExpansionTx,
  hasCovenantOverlap,
  parseTxOut,
  type StakeExpansionExpectation,
  serializeTxOut,
  stakeExpansionSighash,
  type TxOutput,
} from './stakeExpansion.ts';
export {
  buildStakingInfo,
  buildUnbondingInfo,
  type Leaf,
  type StakingInfo,
  type StakingScriptKeys,
  type UnbondingInfo,
} from './stakingInfo.ts';
export { buildStakingOutputs, buildUnfundedStakingTx, type StakingOutputs } from './stakingTx.ts';
export {
  type BitcoinNetwork,
  controlBlock,
  isP2trScript,
  LEAF_VERSION_TAPSCRIPT,
  NUMS_INTERNAL_KEY,
  type TaggedHashTag,
  type TaprootOutput,
  taggedHash,
  tapBranchHash,
  tapLeafHash,
  taprootAddress,
  taprootOutput,
} from './taproot.ts';
export { decodeTransaction, MAX_TX_BYTES, parseTransaction, txidOf } from './transaction.ts';
export {
  assertUnbondingShape,
  assertUnbondingTx,
  buildUnbondingTx,
  expectUnbonding,
  MAX_UNBONDING_TX_WEIGHT,
  type StakingOutputFacts,
  UNBONDING_SEQUENCE,
  type UnbondingExpectation,
  unbondingSighash,
  unbondingValueOf,
  verifySchnorr,
  verifyStakerUnbondingSignature,
} from './unbonding.ts';
export {
  HASH_IN,
  UNBONDING_REQUEST_PATH,
  UNBONDING_REQUEST_SCHEMA,
  type UnbondingRequestBody,
} from './unbondingApi.ts';
export {
  assertStakingHeightUnbondable,
  assertUnbondingRequest,
  type CheckedUnbonding,
  type StakingTxPlace,
  UnbondingCheck,
  type UnbondingCheckOptions,
  type UnbondingRequest,
} from './unbondingCheck.ts';
export {
  buildSlashingWitness,
  buildTimelockWitness,
  buildUnbondingWitness,
  type CovenantSignature,
} from './witness.ts';
