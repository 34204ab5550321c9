/**
 * db/: the PostgreSQL store of the staking API and the unbonding pipeline: connection pool,
 * migrations (applied under an advisory lock), and the queries both services share.
 */
export {
  Database,
  type DatabaseOptions,
  DEFAULT_DATABASE_URL,
  isTransientDbError,
  type Queryable,
  safeInt,
} from './database.ts';
export {
  DELEGATION_STATES,
  type Delegation,
  type DelegationCursor,
  type DelegationState,
  type DelegationUpdate,
  getDelegation,
  hasActiveDelegationForProgram,
  insertDelegation,
  insertStakerAddresses,
  listStakerDelegations,
  listStakersFirstPages,
  lockDelegation,
  type NewDelegation,
  stakerPksByPrograms,
  updateDelegation,
} from './delegations.ts';
export { DB_ERRORS, type DbErrorCode } from './errors.ts';
export {
  type BtcInfo,
  claimEvent,
  type DeadLetter,
  isEventProcessed,
  listDeadLetters,
  markDeadLettersReplayed,
  readBtcInfo,
  recordDeadLetter,
  setEventOutcome,
  upsertBtcInfo,
} from './events.ts';
export {
  MIGRATION_LOCK_KEY,
  MIGRATIONS_DIR,
  type Migration,
  type MigrationResult,
  migrate,
  readMigrations,
} from './migrate.ts';
export { createScratchDatabase, type ScratchDatabase } from './scratch.ts';
export {
  countActivated,
  countUnbonded,
  finalityProvidersWithStats,
  getFinalityProviderStats,
  getStakerStats,
  listFinalityProviderStats,
  listStakerStats,
  OVERALL_STATS_SHARDS,
  type OverallStats,
  type PartyStats,
  readOverallStats,
  type StatsCursor,
  type StatsSubject,
} from './stats.ts';
export { recordTermsAcceptance } from './terms.ts';
export {
  claimUnbondingRequests,
  countUnbondingRequests,
  getUnbondingRequest,
  insertUnbondingRequest,
  type NewUnbondingRequest,
  RETRYABLE_UNBONDING_STATES,
  recordUnbondingAttempt,
  type SignerResult,
  UNBONDING_REQUEST_STATES,
  type UnbondingRequest,
  type UnbondingRequestState,
} from './unbonding.ts';
