import type { Delegation, DelegationState, DelegationUpdate } from '../db/index.ts';
import {
  EVENT_TYPE_OF_KIND,
  type ExpiredStakingEvent,
  type UnbondingStakingEvent,
  type WithdrawStakingEvent,
} from '../events/index.ts';

/**
 * A withdraw as the reference topology carries it: the staking tx hash alone (staking-queue-client
 * client/schema.go at 8c69691), so neither the spending tx nor which output it spent is known.
 */
export type ReferenceWithdrawEvent = Omit<
  WithdrawStakingEvent,
  'withdraw_tx_hash_hex' | 'withdraw_tx_btc_height' | 'withdraw_from'
> & {
  readonly withdraw_from?: undefined;
  readonly withdraw_tx_hash_hex?: undefined;
  readonly withdraw_tx_btc_height?: undefined;
};

/** An event that changes an existing delegation. */
export type DelegationEvent =
  | UnbondingStakingEvent
  | WithdrawStakingEvent
  | ReferenceWithdrawEvent
  | ExpiredStakingEvent;

/** What an event does to a delegation, decided from its current row alone (pure). */
export type Decision =
  /** Move from one of `from` to `update.state`; `unbonded` stats when the stake left the active set. */
  | {
      readonly kind: 'apply';
      readonly from: readonly DelegationState[];
      readonly update: DelegationUpdate;
      readonly countUnbonded: boolean;
    }
  /** Nothing left to do, on purpose (see `why`); the event is recorded as processed. */
  | { readonly kind: 'superseded'; readonly why: string }
  /** The event does not fit the state: retried (another consumer may apply its predecessor), then dead-lettered. */
  | { readonly kind: 'reject'; readonly reason: string };

const short = (h: string) => `${h.slice(0, 12)}…`;

/**
 * The delegation state machine (reference §3.7, with its silent no-op on a mismatch replaced by a
 * refusal, §9):
 *
 * | event | from | to |
 * | --- | --- | --- |
 * | unbonding | active, unbonding_requested, or unbonded by staking expiry | unbonding (stats: −active unless overflow) |
 * | expired (active) | active, unbonding_requested | unbonded |
 * | expired (active) | any state with an unbonding tx | superseded: the unbonding spent the output first (only when consumers overtake each other) |
 * | expired (unbonding) | unbonding | unbonded |
 * | withdraw from staking | unbonded, no unbonding tx | withdrawn |
 * | withdraw from unbonding | unbonded, with unbonding tx | withdrawn |
 *
 * Anything else is rejected with the reason. An unbonding after a staking expiry is real (the
 * covenant path has no timelock), so `unbonded` without an unbonding tx accepts it.
 */
export function decide(d: Delegation | undefined, e: DelegationEvent): Decision {
  const id = short(e.staking_tx_hash_hex);
  if (!d)
    return { kind: 'reject', reason: `delegation ${id} not found (its active event has not been applied)` };
  const state = d.state;
  const misfit = (what: string): Decision => ({
    kind: 'reject',
    reason: `${what} does not fit delegation ${id} in state ${state}${d.unbonding ? ' (unbonding tx known)' : ''}`,
  });
  switch (e.event_type) {
    case EVENT_TYPE_OF_KIND.unbonding: {
      const fromExpired = state === 'unbonded' && d.unbonding === null && d.stakingExpired;
      if (state !== 'active' && state !== 'unbonding_requested' && !fromExpired) return misfit('unbonding');
      return {
        kind: 'apply',
        from: [state],
        update: {
          state: 'unbonding',
          unbonding: {
            txHashHex: e.unbonding_tx_hash_hex,
            txHex: e.unbonding_tx_hex,
            outputIndex: e.unbonding_output_index,
            startHeight: e.unbonding_start_height,
            startTimestamp: e.unbonding_start_timestamp,
            timelock: e.unbonding_timelock,
          },
        },
        countUnbonded: !d.isOverflow,
      };
    }
    case EVENT_TYPE_OF_KIND.expired:
      if (e.tx_type === 'active') {
        if (state === 'active' || state === 'unbonding_requested') {
          return {
            kind: 'apply',
            from: [state],
            update: { state: 'unbonded', stakingExpired: true },
            countUnbonded: false,
          };
        }
        if (d.unbonding !== null) {
          return {
            kind: 'superseded',
            why: 'staking timelock expiry applied after the unbonding that spent the staking output',
          };
        }
        return misfit('expired (active)');
      }
      if (state !== 'unbonding') return misfit('expired (unbonding)');
      return { kind: 'apply', from: ['unbonding'], update: { state: 'unbonded' }, countUnbonded: false };
    case EVENT_TYPE_OF_KIND.withdraw: {
      // Without withdraw_from (reference topology) only the state can be checked.
      const ok =
        state === 'unbonded' &&
        (e.withdraw_from === undefined ||
          (e.withdraw_from === 'unbonding' ? d.unbonding !== null : d.unbonding === null));
      if (!ok) return misfit(`withdraw from ${e.withdraw_from ?? 'an unknown output'}`);
      return {
        kind: 'apply',
        from: ['unbonded'],
        update: {
          state: 'withdrawn',
          ...(e.withdraw_tx_hash_hex !== undefined
            ? { withdrawTxHashHex: e.withdraw_tx_hash_hex, withdrawHeight: e.withdraw_tx_btc_height }
            : {}),
        },
        countUnbonded: false,
      };
    }
  }
}
