export {
  brokerFromConfig,
  type IndexerStatus,
  loadParamsFile,
  type RunningIndexer,
  rebuildFromHeight,
  type StartIndexerDeps,
  startIndexer,
} from './app.ts';
export type { BlockResult, BlockStats, Rejection } from './blockResult.ts';
export type { BlockInput } from './blockTxs.ts';
export { INDEXER_CONFIG_SCHEMA, type IndexerConfig, loadIndexerConfig } from './config.ts';
export { INDEXER_ERRORS, type IndexerErrorCode } from './errors.ts';
export { type BlockFetcher, type FetchedBlock, fetchAhead } from './fetchAhead.ts';
export { FetchThread } from './fetchThread.ts';
export { ChainFollower, type FollowerHooks, type FollowerOptions, type PollResult } from './follower.ts';
export { createIndexerMetrics, type IndexerMetrics } from './metrics.ts';
export { processBlock } from './processor.ts';
export {
  type BlockHeaderInfo,
  type CandidateTx,
  readHeader,
  type ScanFilter,
  scanBlock,
} from './rawBlock.ts';
export { OutboxRelay, type RelayOptions } from './relay.ts';
export { expectationOf, type SpendRules } from './spendRules.ts';
export {
  type Delegation,
  type DelegationState,
  type Expiry,
  type ExpiryType,
  MemoryState,
  type StateReader,
  type StateWrite,
} from './state.ts';
export { IndexerStore, type LastBlock } from './store.ts';
export { computeUnconfirmedTvl, type WindowResult } from './unconfirmedTvl.ts';
