import type { UnsequencedEvent } from '../events/index.ts';
import type { GlobalParams } from '../params/index.ts';
import type { Overlay } from './overlay.ts';
import type { StateWrite } from './state.ts';

/** What deciding a block yields (state changes, events, counts), and what the deciding carries. */

/** Why a transaction was not accepted, for metrics (`tx_type` as the reference's si_invalid_txs_counter). */
export interface Rejection {
  readonly txType:
    | 'confirmed_staking_transaction'
    | 'confirmed_unbonding_transactions'
    | 'confirmed_withdraw_staking_transactions'
    | 'confirmed_withdraw_unbonding_transactions'
    | 'unconfirmed_staking_transaction'
    | 'unconfirmed_unbonding_transactions';
  /** A STAKING_… code, or `UNKNOWN_SPEND`. */
  readonly reason: string;
  readonly txid: string;
  /** The block it was found in (unconfirmed window only). */
  readonly blockHash?: string;
}

export interface BlockStats {
  /** Transactions in the block, and how many were fully decoded. */
  txCount: number;
  decoded: number;
  staking: { active: number; overflow: number };
  unbonding: number;
  withdrawFromStaking: number;
  withdrawFromUnbonding: number;
  expired: number;
  rejections: Rejection[];
  /** Transactions whose processing threw unexpectedly (a bug): skipped, counted, never fatal. */
  failures: number;
}

export interface BlockResult {
  readonly writes: readonly StateWrite[];
  readonly events: readonly UnsequencedEvent[];
  readonly stats: BlockStats;
  /** Confirmed TVL after the block. */
  readonly tvl: number;
}

/** A block's stats before any transaction is counted. */
export function emptyStats(): BlockStats {
  return {
    txCount: 0,
    decoded: 0,
    staking: { active: 0, overflow: 0 },
    unbonding: 0,
    withdrawFromStaking: 0,
    withdrawFromUnbonding: 0,
    expired: 0,
    rejections: [],
    failures: 0,
  };
}

/** What deciding one block carries from transaction to transaction. */
export interface BlockDecision {
  readonly params: GlobalParams;
  /** The state, with the block's own changes so far on top. */
  readonly st: Overlay;
  readonly height: number;
  /** Header time, unix seconds. */
  readonly time: number;
  readonly events: UnsequencedEvent[];
  readonly stats: BlockStats;
}
