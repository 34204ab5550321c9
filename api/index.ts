/**
 * api/: the staking API service: reference-compatible REST routes, the consumer of the indexer's
 * events, and the statistics they move (store: db/).
 */
export { programOfAddress, stakerPrograms, stakerTaprootAddress } from './addresses.ts';
export { type RunningApi, type StartApiDeps, startApi } from './app.ts';
export { type ApplyOutcome, applyEvent } from './apply.ts';
export { API_CONFIG_SCHEMA, type ApiConfig, loadApiConfig } from './config.ts';
export { type ConsumerOptions, type ConsumerStatus, EventConsumerService } from './consumer.ts';
export { DASHBOARD_CSP, defaultDashboardDir, registerDashboard } from './dashboard.ts';
export {
  API_ERRORS,
  API_OPERATION_ERRORS,
  type ApiErrorCode,
  type ApiOperationErrorCode,
  statusOf,
} from './errors.ts';
export { type ApiMetrics, createApiMetrics } from './metrics.ts';
export { type ReplayOptions, type ReplayResult, replayDeadLetters } from './replay.ts';
export type { RouteSpec } from './routeTable.ts';
export { buildApiServer } from './server.ts';
export type { ApiServerOptions } from './serverOptions.ts';
export { type Decision, type DelegationEvent, decide } from './transitions.ts';
export {
  submitUnbonding,
  unbondingRefusal,
  verifyUnbondingRequest,
} from './unbonding.ts';
