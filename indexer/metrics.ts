import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { EVENT_TYPE_OF_KIND, type EventKind, kindOf, type StakingEvent } from '../events/index.ts';
import type { BlockResult, Rejection } from './blockResult.ts';

/** The reference indexer's tx_type labels of si_invalid_txs_counter, pre-registered so 0 is visible. */
export const INVALID_TX_TYPES = [
  'confirmed_staking_transaction',
  'confirmed_unbonding_transactions',
  'confirmed_withdraw_staking_transactions',
  'confirmed_withdraw_unbonding_transactions',
  'unconfirmed_staking_transaction',
  'unconfirmed_unbonding_transactions',
  'unconfirmed_unknown_transaction',
] as const;

/**
 * The indexer's metrics, on their own registry. The `si_*` series are the reference's
 * (backend-services.md §1.9), with the same names, types and labels; every labelled one is
 * pre-registered so that a zero shows as 0 rather than as an absent series. `indexer_*` are ours.
 */
export function createIndexerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const r = [registry];
  const m = {
    registry,
    startHeight: new Gauge({
      name: 'si_start_btc_height',
      help: 'First height the indexer processes',
      registers: r,
    }),
    lastProcessedHeight: new Gauge({
      name: 'si_last_processed_btc_height',
      help: 'Last confirmed height processed',
      registers: r,
    }),
    lastCalculatedTvl: new Gauge({
      name: 'si_last_calculated_active_tvl',
      help: 'Unconfirmed TVL of the last btc-info (the reference name says active; the value is the unconfirmed total)',
      registers: r,
    }),
    lastFoundStakingHeight: new Gauge({
      name: 'si_last_found_staking_tx_height',
      help: 'Height of the last valid staking tx',
      registers: r,
    }),
    lastFoundUnbondingHeight: new Gauge({
      name: 'si_last_found_unbonding_tx_height',
      help: 'Height of the last unbonding tx',
      registers: r,
    }),
    lastFoundWithdrawStakingHeight: new Gauge({
      name: 'si_last_found_withdraw_tx_from_staking_height',
      help: 'Height of the last withdraw from a staking output',
      registers: r,
    }),
    lastFoundWithdrawUnbondingHeight: new Gauge({
      name: 'si_last_found_withdraw_tx_from_unbonding_height',
      help: 'Height of the last withdraw from an unbonding output',
      registers: r,
    }),
    totalStaking: new Counter({
      name: 'si_total_staking_txs',
      help: 'Valid staking txs, by tx_type active or overflow',
      labelNames: ['tx_type'] as const,
      registers: r,
    }),
    totalUnbonding: new Counter({
      name: 'si_total_unbonding_txs',
      help: 'Valid unbonding txs',
      registers: r,
    }),
    totalWithdrawStaking: new Counter({
      name: 'si_total_withdraw_txs_from_staking',
      help: 'Withdraws from staking outputs',
      registers: r,
    }),
    totalWithdrawUnbonding: new Counter({
      name: 'si_total_withdraw_txs_from_unbonding',
      help: 'Withdraws from unbonding outputs',
      registers: r,
    }),
    failedStaking: new Counter({
      name: 'si_failed_processing_staking_txs_counter',
      help: 'Staking txs that failed processing',
      registers: r,
    }),
    failedUnconfirmed: new Counter({
      name: 'si_failed_processing_unconfirmed_block_counter',
      help: 'Failures while processing the unconfirmed window',
      registers: r,
    }),
    invalidTxs: new Counter({
      name: 'si_invalid_txs_counter',
      help: 'Invalid transactions, by tx_type',
      labelNames: ['tx_type'] as const,
      registers: r,
    }),
    failedCheckingUnbonding: new Counter({
      name: 'si_failed_checking_unbonding_txs_counter',
      help: 'Failures while checking a spend for unbonding',
      registers: r,
    }),
    failedUnbonding: new Counter({
      name: 'si_failed_processing_unbonding_txs_counter',
      help: 'Unbonding txs that failed processing',
      registers: r,
    }),
    failedWithdrawStaking: new Counter({
      name: 'si_failed_processing_withdraw_txs_from_staking_counter',
      help: 'Withdraws from staking that failed processing',
      registers: r,
    }),
    failedWithdrawUnbonding: new Counter({
      name: 'si_failed_processing_withdraw_txs_from_unbonding_counter',
      help: 'Withdraws from unbonding that failed processing',
      registers: r,
    }),
    majorReorgs: new Counter({
      name: 'si_major_reorgs_counter',
      help: 'Re-organisations deeper than the confirmation depth (the indexer stops)',
      registers: r,
    }),
    // ---- ours ----
    invalidByReason: new Counter({
      name: 'indexer_invalid_txs_by_reason_total',
      help: 'Invalid transactions by tx_type and reason code (STAKING_… or UNKNOWN_SPEND)',
      labelNames: ['tx_type', 'reason'] as const,
      registers: r,
    }),
    expired: new Counter({
      name: 'indexer_expired_total',
      help: 'expired events by tx_type',
      labelNames: ['tx_type'] as const,
      registers: r,
    }),
    nodeTip: new Gauge({
      name: 'indexer_node_tip_height',
      help: 'The node’s tip at the last poll',
      registers: r,
    }),
    syncLag: new Gauge({
      name: 'indexer_sync_lag_blocks',
      help: 'Confirmed blocks the indexer has not processed yet (node tip − depth + 1 − last processed)',
      registers: r,
    }),
    outboxDepth: new Gauge({
      name: 'indexer_outbox_depth',
      help: 'Events recorded but not yet confirmed by the broker',
      registers: r,
    }),
    published: new Counter({
      name: 'indexer_events_published_total',
      help: 'Events confirmed by the broker, by kind',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    relayErrors: new Counter({
      name: 'indexer_relay_errors_total',
      help: 'Failed publish attempts (broker down, nack, channel closed)',
      registers: r,
    }),
    brokerConnected: new Gauge({
      name: 'indexer_broker_connected',
      help: '1 while the relay holds a confirm channel to the broker',
      registers: r,
    }),
    pollErrors: new Counter({
      name: 'indexer_poll_errors_total',
      help: 'Polls that failed (node unreachable, RPC errors); retried',
      registers: r,
    }),
    blocksProcessed: new Counter({
      name: 'indexer_blocks_processed_total',
      help: 'Confirmed blocks processed',
      registers: r,
    }),
    txsSeen: new Counter({
      name: 'indexer_txs_seen_total',
      help: 'Transactions in processed blocks, by whether they were fully decoded',
      labelNames: ['decoded'] as const,
      registers: r,
    }),
    commitSeconds: new Histogram({
      name: 'indexer_commit_duration_seconds',
      help: 'Time to decide and commit one batch of blocks',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: r,
    }),
    fetchVia: new Gauge({
      name: 'indexer_fetch_via',
      help: '1 for the interface raw blocks are fetched over (rest or rpc), 0 for the other',
      labelNames: ['via'] as const,
      registers: r,
    }),
    stopped: new Gauge({
      name: 'indexer_stopped',
      help: '1 when the indexer stopped following the chain after a fatal error, by code',
      labelNames: ['code'] as const,
      registers: r,
    }),
  };
  m.totalStaking.inc({ tx_type: 'active' }, 0);
  m.totalStaking.inc({ tx_type: 'overflow' }, 0);
  for (const t of INVALID_TX_TYPES) m.invalidTxs.inc({ tx_type: t }, 0);
  m.expired.inc({ tx_type: 'active' }, 0);
  m.expired.inc({ tx_type: 'unbonding' }, 0);
  return m;
}

export type IndexerMetrics = ReturnType<typeof createIndexerMetrics>;

/**
 * The metrics of one commit's blocks, summed first: one update per series per commit rather than
 * per block (a sync commits up to `commit_max_blocks` blocks at once, and prom-client hashes the
 * labels at every update). A scrape never sees the middle of a commit, so the values it sees are
 * the same.
 */
export function recordBlocks(
  m: IndexerMetrics,
  blocks: readonly { height: number; result: BlockResult }[],
): void {
  const last = blocks.at(-1);
  if (!last) return;
  let decoded = 0;
  let skipped = 0;
  let active = 0;
  let overflow = 0;
  let unbonding = 0;
  let withdrawStaking = 0;
  let withdrawUnbonding = 0;
  let failures = 0;
  const expired = { active: 0, unbonding: 0 };
  const lastFound = { staking: 0, unbonding: 0, withdrawStaking: 0, withdrawUnbonding: 0 };
  const rejections: Rejection[] = [];
  for (const { height, result } of blocks) {
    const s = result.stats;
    decoded += s.decoded;
    skipped += Math.max(0, s.txCount - s.decoded);
    active += s.staking.active;
    overflow += s.staking.overflow;
    unbonding += s.unbonding;
    withdrawStaking += s.withdrawFromStaking;
    withdrawUnbonding += s.withdrawFromUnbonding;
    failures += s.failures;
    if (s.staking.active + s.staking.overflow > 0) lastFound.staking = height;
    if (s.unbonding) lastFound.unbonding = height;
    if (s.withdrawFromStaking) lastFound.withdrawStaking = height;
    if (s.withdrawFromUnbonding) lastFound.withdrawUnbonding = height;
    for (const e of result.events) if (e.event_type === EVENT_TYPE_OF_KIND.expired) expired[e.tx_type]++;
    for (const j of s.rejections) rejections.push(j);
  }
  recordRejections(m, rejections);
  m.blocksProcessed.inc(blocks.length);
  m.lastProcessedHeight.set(last.height);
  m.txsSeen.inc({ decoded: 'yes' }, decoded);
  m.txsSeen.inc({ decoded: 'no' }, skipped);
  if (active) m.totalStaking.inc({ tx_type: 'active' }, active);
  if (overflow) m.totalStaking.inc({ tx_type: 'overflow' }, overflow);
  if (unbonding) m.totalUnbonding.inc(unbonding);
  if (withdrawStaking) m.totalWithdrawStaking.inc(withdrawStaking);
  if (withdrawUnbonding) m.totalWithdrawUnbonding.inc(withdrawUnbonding);
  if (failures) m.failedStaking.inc(failures);
  if (lastFound.staking) m.lastFoundStakingHeight.set(lastFound.staking);
  if (lastFound.unbonding) m.lastFoundUnbondingHeight.set(lastFound.unbonding);
  if (lastFound.withdrawStaking) m.lastFoundWithdrawStakingHeight.set(lastFound.withdrawStaking);
  if (lastFound.withdrawUnbonding) m.lastFoundWithdrawUnbondingHeight.set(lastFound.withdrawUnbonding);
  for (const type of ['active', 'unbonding'] as const) {
    if (expired[type]) m.expired.inc({ tx_type: type }, expired[type]);
  }
}

/** Counts rejected transactions by tx_type, and by tx_type and reason: one increment per series. */
export function recordRejections(m: IndexerMetrics, rejections: readonly Rejection[]): void {
  const byType = new Map<Rejection['txType'], number>();
  const byReason = new Map<string, { txType: Rejection['txType']; reason: string; n: number }>();
  for (const j of rejections) {
    byType.set(j.txType, (byType.get(j.txType) ?? 0) + 1);
    const key = `${j.txType} ${j.reason}`;
    const r = byReason.get(key);
    if (r) r.n++;
    else byReason.set(key, { txType: j.txType, reason: j.reason, n: 1 });
  }
  for (const [txType, n] of byType) m.invalidTxs.inc({ tx_type: txType }, n);
  for (const r of byReason.values()) m.invalidByReason.inc({ tx_type: r.txType, reason: r.reason }, r.n);
}

/** A batch's events counted by kind (the relay's thread counts; `recordPublished` adds them up). */
export function countByKind(events: readonly StakingEvent[]): Array<[EventKind, number]> {
  const byKind = new Map<EventKind, number>();
  for (const e of events) {
    const kind = kindOf(e);
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  return [...byKind];
}

/** Counts events the broker confirmed, by kind: one increment per kind present in the batch. */
export function recordPublished(
  m: IndexerMetrics,
  byKind: ReadonlyArray<readonly [EventKind, number]>,
): void {
  for (const [kind, n] of byKind) m.published.inc({ kind }, n);
}
