import type { Queryable } from './database.ts';
import { safeInt } from './database.ts';

/**
 * States of an unbonding request (the reference's INSERTED, SEND, FAILED,
 * FAILED_TO_GET_COVENANT_SIGNATURES, INPUT_ALREADY_SPENT, §5.4, in our words). `pending`,
 * `failed` and `no_quorum` are retried when `next_attempt_at` comes; `sent` and `input_spent`
 * are final.
 */
export const UNBONDING_REQUEST_STATES = ['pending', 'sent', 'failed', 'no_quorum', 'input_spent'] as const;
export type UnbondingRequestState = (typeof UNBONDING_REQUEST_STATES)[number];
export const RETRYABLE_UNBONDING_STATES: readonly UnbondingRequestState[] = [
  'pending',
  'failed',
  'no_quorum',
];

/** One covenant signer's answer in the last attempt. */
export interface SignerResult {
  readonly covenant_pk_hex: string;
  readonly signature_hex: string | null;
  readonly error: string | null;
  readonly at: string;
}

export interface NewUnbondingRequest {
  readonly stakingTxid: string;
  readonly unbondingTxHashHex: string;
  readonly unbondingTxHex: string;
  readonly stakerSignatureHex: string;
  readonly stakerPkHex: string;
  readonly finalityProviderPkHex: string;
  readonly stakingTxHex: string;
  readonly stakingOutputIndex: number;
  readonly stakingValue: number;
  readonly stakingTimelock: number;
  readonly stakingStartHeight: number;
  readonly paramsVersion: number;
}

export interface UnbondingRequest extends NewUnbondingRequest {
  readonly id: number;
  readonly state: UnbondingRequestState;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly claimedBy: string | null;
  readonly claimedUntil: Date | null;
  readonly signerResults: readonly SignerResult[];
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly sentAt: Date | null;
}

const COLUMNS = `id, staking_tx_hash_hex, unbonding_tx_hash_hex, unbonding_tx_hex, staker_signature_hex, staker_pk_hex,
  finality_provider_pk_hex, staking_tx_hex, staking_output_index, staking_value, staking_timelock, staking_start_height,
  params_version, state, attempts, next_attempt_at, claimed_by, claimed_until, signer_results, last_error, created_at, sent_at`;

// biome-ignore lint/suspicious/noExplicitAny: a pg row
function fromRow(r: any): UnbondingRequest {
  return {
    id: safeInt(r.id),
    stakingTxid: r.staking_tx_hash_hex,
    unbondingTxHashHex: r.unbonding_tx_hash_hex,
    unbondingTxHex: r.unbonding_tx_hex,
    stakerSignatureHex: r.staker_signature_hex,
    stakerPkHex: r.staker_pk_hex,
    finalityProviderPkHex: r.finality_provider_pk_hex,
    stakingTxHex: r.staking_tx_hex,
    stakingOutputIndex: r.staking_output_index,
    stakingValue: safeInt(r.staking_value),
    stakingTimelock: r.staking_timelock,
    stakingStartHeight: safeInt(r.staking_start_height),
    paramsVersion: r.params_version,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    claimedBy: r.claimed_by,
    claimedUntil: r.claimed_until,
    signerResults: r.signer_results,
    lastError: r.last_error,
    createdAt: r.created_at,
    sentAt: r.sent_at,
  };
}

/**
 * Stores a new request in state `pending`. Returns false when the delegation already has one, or
 * the unbonding tx is already requested (both unique).
 */
export async function insertUnbondingRequest(q: Queryable, r: NewUnbondingRequest): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO unbonding_requests (staking_tx_hash_hex, unbonding_tx_hash_hex, unbonding_tx_hex, staker_signature_hex,
       staker_pk_hex, finality_provider_pk_hex, staking_tx_hex, staking_output_index, staking_value, staking_timelock,
       staking_start_height, params_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
    [
      r.stakingTxid,
      r.unbondingTxHashHex,
      r.unbondingTxHex,
      r.stakerSignatureHex,
      r.stakerPkHex,
      r.finalityProviderPkHex,
      r.stakingTxHex,
      r.stakingOutputIndex,
      r.stakingValue,
      r.stakingTimelock,
      r.stakingStartHeight,
      r.paramsVersion,
    ],
  );
  return res.rowCount === 1;
}

export async function getUnbondingRequest(
  q: Queryable,
  stakingTxid: string,
): Promise<UnbondingRequest | undefined> {
  const r = await q.query(`SELECT ${COLUMNS} FROM unbonding_requests WHERE staking_tx_hash_hex = $1`, [
    stakingTxid,
  ]);
  return r.rows[0] ? fromRow(r.rows[0]) : undefined;
}

/**
 * Claims up to `limit` due requests for `worker`: retryable state, `next_attempt_at` reached, not
 * under another worker's lease. Rows are picked with `FOR UPDATE SKIP LOCKED`, so concurrent
 * workers never claim the same request and never wait for one another; each claim increments
 * `attempts` and holds a lease of `leaseMs`, after which a request whose worker died is due again.
 */
export async function claimUnbondingRequests(
  q: Queryable,
  args: { readonly worker: string; readonly limit: number; readonly leaseMs: number },
): Promise<UnbondingRequest[]> {
  const r = await q.query(
    `UPDATE unbonding_requests SET claimed_by = $1, claimed_until = now() + $3 * interval '1 millisecond',
       attempts = attempts + 1, updated_at = now()
     WHERE id IN (
       SELECT id FROM unbonding_requests
       WHERE state IN ('pending', 'failed', 'no_quorum') AND next_attempt_at <= now()
         AND (claimed_until IS NULL OR claimed_until < now())
       ORDER BY next_attempt_at, id LIMIT $2
       FOR UPDATE SKIP LOCKED)
     RETURNING ${COLUMNS}`,
    [args.worker, args.limit, args.leaseMs],
  );
  return r.rows.map(fromRow).sort((a, b) => a.id - b.id);
}

/**
 * Records the outcome of an attempt by the worker holding the lease, and releases it. A retryable
 * outcome is due again after `retryAfterMs` (default now). Returns false if the worker no longer
 * holds the lease (it expired and another worker claimed the request).
 */
export async function recordUnbondingAttempt(
  q: Queryable,
  args: {
    readonly id: number;
    readonly worker: string;
    readonly state: UnbondingRequestState;
    readonly signerResults?: readonly SignerResult[];
    readonly error?: string | null;
    readonly retryAfterMs?: number;
  },
): Promise<boolean> {
  const r = await q.query(
    `UPDATE unbonding_requests SET state = $3, signer_results = coalesce($4::jsonb, signer_results), last_error = $5,
       next_attempt_at = now() + $6 * interval '1 millisecond', claimed_by = NULL, claimed_until = NULL,
       sent_at = CASE WHEN $3 = 'sent' THEN now() ELSE sent_at END, updated_at = now()
     WHERE id = $1 AND claimed_by = $2 AND state IN ('pending', 'failed', 'no_quorum')`,
    [
      args.id,
      args.worker,
      args.state,
      args.signerResults ? JSON.stringify(args.signerResults) : null,
      args.error ?? null,
      args.retryAfterMs ?? 0,
    ],
  );
  return r.rowCount === 1;
}

/** Requests by state (operations, metrics). */
export async function countUnbondingRequests(q: Queryable): Promise<Record<UnbondingRequestState, number>> {
  const r = await q.query<{ state: UnbondingRequestState; n: string }>(
    'SELECT state, count(*) AS n FROM unbonding_requests GROUP BY state',
  );
  const out = Object.fromEntries(UNBONDING_REQUEST_STATES.map((s) => [s, 0])) as Record<
    UnbondingRequestState,
    number
  >;
  for (const x of r.rows) out[x.state] = safeInt(x.n);
  return out;
}
