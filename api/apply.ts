import { randomInt } from 'node:crypto';
import { CodedError } from '../common/index.ts';
import {
  claimEvent,
  countActivated,
  countUnbonded,
  type Database,
  insertDelegation,
  insertStakerAddresses,
  lockDelegation,
  OVERALL_STATS_SHARDS,
  setEventOutcome,
  updateDelegation,
  upsertBtcInfo,
} from '../db/index.ts';
import { type ActiveStakingEvent, EVENT_TYPE_OF_KIND, type StakingEvent } from '../events/index.ts';
import { stakerPrograms } from './addresses.ts';
import type { ApiOperationErrorCode } from './errors.ts';
import { decide, type ReferenceWithdrawEvent } from './transitions.ts';

/** An event of either topology: the reference's withdraw lacks the spending tx. */
export type ApplicableEvent = StakingEvent | ReferenceWithdrawEvent;

/** What applying an event did. */
export type ApplyOutcome = 'applied' | 'duplicate' | 'superseded' | 'stale' | 'ignored';

/**
 * Applies one event in one database transaction: the event id is claimed first (a duplicate stops
 * there and changes nothing), then the delegation's row is locked, the transition decided, the row
 * changed, and the statistics it moves updated with atomic increments, all committed together or
 * not at all. btc-info is a snapshot, kept "latest by height" rather than deduplicated.
 * @throws {CodedError} API_EVENT_OUT_OF_ORDER, API_EVENT_CONFLICT (nothing was written); database errors
 */
export async function applyEvent(db: Database, e: ApplicableEvent): Promise<ApplyOutcome> {
  // Confirmed info repeats what btc-info carries (the confirmed TVL) at the confirmed height;
  // nothing the API serves needs it.
  if (e.event_type === EVENT_TYPE_OF_KIND['confirmed-info']) return 'ignored';
  if (e.event_type === EVENT_TYPE_OF_KIND['btc-info']) {
    const replaced = await upsertBtcInfo(db.pool, {
      height: e.height,
      sequence: e.sequence,
      confirmedTvl: e.confirmed_tvl,
      unconfirmedTvl: e.unconfirmed_tvl,
    });
    return replaced ? 'applied' : 'stale';
  }
  // Key derivation outside the transaction: no lock is held while the CPU works.
  const programs =
    e.event_type === EVENT_TYPE_OF_KIND.active ? stakerPrograms(Buffer.from(e.staker_pk_hex, 'hex')) : [];
  return db.transaction(async (c) => {
    if (!(await claimEvent(c, e.event_id, e.sequence, 'applied'))) return 'duplicate';
    if (e.event_type === EVENT_TYPE_OF_KIND.active) {
      await applyActive(c, e, programs);
      return 'applied';
    }
    const d = await lockDelegation(c, e.staking_tx_hash_hex);
    const decision = decide(d, e);
    if (decision.kind === 'reject') {
      throw new CodedError<ApiOperationErrorCode>('API_EVENT_OUT_OF_ORDER', decision.reason, {
        details: { eventId: e.event_id },
      });
    }
    if (decision.kind === 'superseded') {
      await setEventOutcome(c, e.event_id, 'superseded');
      return 'superseded';
    }
    if (!(await updateDelegation(c, e.staking_tx_hash_hex, decision.from, decision.update))) {
      throw new Error(`delegation ${e.staking_tx_hash_hex} changed under its row lock`);
    }
    if (decision.countUnbonded && d) {
      await countUnbonded(c, d, randomInt(OVERALL_STATS_SHARDS));
    }
    return 'applied';
  });
}

async function applyActive(
  c: Parameters<Parameters<Database['transaction']>[0]>[0],
  e: ActiveStakingEvent,
  programs: readonly string[],
): Promise<void> {
  const inserted = await insertDelegation(c, {
    stakingTxid: e.staking_tx_hash_hex,
    stakerPkHex: e.staker_pk_hex,
    finalityProviderPkHex: e.finality_provider_pk_hex,
    stakingValue: e.staking_value,
    isOverflow: e.is_overflow,
    stakingTxHex: e.staking_tx_hex,
    stakingOutputIndex: e.staking_output_index,
    stakingStartHeight: e.staking_start_height,
    stakingStartTimestamp: e.staking_start_timestamp,
    stakingTimelock: e.staking_timelock,
  });
  if (!inserted) {
    throw new CodedError<ApiOperationErrorCode>(
      'API_EVENT_CONFLICT',
      `delegation ${e.staking_tx_hash_hex.slice(0, 12)}… exists already, but ${e.event_id} was never applied`,
      { details: { eventId: e.event_id } },
    );
  }
  await insertStakerAddresses(c, e.staker_pk_hex, programs);
  // Overflow stakes never count in the statistics (reference §3.6).
  if (!e.is_overflow) {
    await countActivated(
      c,
      {
        stakerPkHex: e.staker_pk_hex,
        finalityProviderPkHex: e.finality_provider_pk_hex,
        stakingValue: e.staking_value,
      },
      randomInt(OVERALL_STATS_SHARDS),
    );
  }
}
