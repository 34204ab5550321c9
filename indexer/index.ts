export {
  brokerFromConfig,
  type IndexerStatus,
  loadParamsFile,
  type RunningIndexer,
  rebuildFromHeight,
  type StartIndexerDeps,
  startIndexer,
} from './app.ts';
export { INDEXER_CONFIG_SCHEMA, type IndexerConfig, loadIndexerConfig } from './config.ts';
export { INDEXER_ERRORS, type IndexerErrorCode } from './errors.ts';
export { type BlockFetcher, type FetchedBlock, fetchAhead } from './fetchAhead.ts';
export { FetchThread } from './fetchThread.ts';
export { ChainFollower, type FollowerHooks, type FollowerOptions, type PollResult } from './follower.ts';
export { createIndexerMetrics, type IndexerMetrics } from './metrics.ts';
export {
  type BlockInput,
  type BlockResult,
  type BlockStats,
  computeUnconfirmedTvl,
  expectationOf,
  isOverflow,
  processBlock,
  type Rejection,
  type SpendRules,
  type WindowResult,
} from './processor.ts';
export {
  type BlockHeaderInfo,
  type CandidateTx,
  readHeader,
  type ScanFilter,
  scanBlock,
} from './rawBlock.ts';
export { OutboxRelay, type RelayOptions } from './relay.ts';
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
