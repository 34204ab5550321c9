export { btcToSat, MAX_MONEY_SAT, satToBtc } from './amount.ts';
export {
  assertNoCredentialsInUrl,
  BITCOIND_CONNECTION_PROPERTIES,
  type BitcoindConnectionConfig,
  restClientFromConfig,
  rpcClientFromConfig,
} from './config.ts';
export { BITCOIND_ERRORS, type BitcoindErrorCode } from './errors.ts';
export {
  DEFAULT_BITCOIND_BIN,
  freePort,
  fundedWallet,
  type RegtestNode,
  type RegtestNodeOptions,
  startRegtestNode,
} from './regtest.ts';
export { BlockMemory, RestClient, type RestClientOptions } from './restClient.ts';
export {
  type BatchEntry,
  type RpcCall,
  RpcClient,
  type RpcClientOptions,
  type RpcParams,
} from './rpcClient.ts';
export type {
  AddressInfo,
  AddressType,
  BlockchainInfo,
  BlockHeader,
  BlockVerbose,
  CreateWalletOptions,
  DescriptorInfo,
  FundRawTransactionResult,
  GenerateBlockResult,
  ImportDescriptorRequest,
  ImportDescriptorResult,
  MempoolAcceptResult,
  NetworkInfo,
  RawTransactionVerbose,
  ScriptPubKey,
  SignRawTransactionResult,
  TxIn,
  TxOutInfo,
  TxOutVerbose,
  UnspentOutput,
  WalletLoadResult,
  WalletProcessPsbtResult,
  ZmqNotification,
} from './types.ts';
