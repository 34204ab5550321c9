import type { Transaction } from 'bitcoinjs-lib';
import {
  type ActiveStakingEvent,
  EVENT_TYPE_OF_KIND,
  type ExpiredStakingEvent,
  type UnbondingStakingEvent,
  type WithdrawStakingEvent,
} from '../events/index.ts';
import type { ValidStake } from './stakeVerdict.ts';
import type { Delegation, ExpiryType } from './state.ts';

/**
 * The events a decided block emits, one builder per kind, in the queue contract's shapes
 * (events/). Each id is the staking txid and the kind, so a consumer applies each at most once.
 */

type Unsequenced<E> = Omit<E, 'sequence'>;

/** A stake accepted at height `h` (block time `time`), active or overflow. */
export function activeEvent(
  c: ValidStake,
  h: number,
  time: number,
  stakingTxHex: string,
  isOverflow: boolean,
): Unsequenced<ActiveStakingEvent> {
  return {
    event_type: EVENT_TYPE_OF_KIND.active,
    event_id: `${c.txid}:active`,
    staking_tx_hash_hex: c.txid,
    staker_pk_hex: c.stakerKeyHex,
    finality_provider_pk_hex: c.fpKeyHex,
    staking_value: c.valueSat,
    staking_start_height: h,
    staking_start_timestamp: time,
    staking_timelock: c.stakingTime,
    staking_output_index: c.stakingOutputIndex,
    staking_tx_hex: stakingTxHex,
    is_overflow: isOverflow,
  };
}

/** The stake `stakingTxid` unbonded at height `h` by the tx `unbondingTxid`. */
export function unbondingEvent(
  stakingTxid: string,
  h: number,
  time: number,
  unbondingTime: number,
  unbondingTxHex: string,
  unbondingTxid: string,
): Unsequenced<UnbondingStakingEvent> {
  return {
    event_type: EVENT_TYPE_OF_KIND.unbonding,
    event_id: `${stakingTxid}:unbonding`,
    staking_tx_hash_hex: stakingTxid,
    unbonding_start_height: h,
    unbonding_start_timestamp: time,
    unbonding_timelock: unbondingTime,
    unbonding_output_index: 0,
    unbonding_tx_hex: unbondingTxHex,
    unbonding_tx_hash_hex: unbondingTxid,
  };
}

/** Delegation `d` withdrawn at height `h` by tx `txid`, from its staking or its unbonding output. */
export function withdrawEvent(
  d: Delegation,
  h: number,
  txid: string,
  from: 'staking' | 'unbonding',
): Unsequenced<WithdrawStakingEvent> {
  return {
    event_type: EVENT_TYPE_OF_KIND.withdraw,
    event_id: `${d.stakingTxid}:withdraw`,
    staking_tx_hash_hex: d.stakingTxid,
    withdraw_tx_hash_hex: txid,
    withdraw_tx_btc_height: h,
    withdraw_from: from,
  };
}

/** Delegation `d`'s `type` timelock reached at height `h`. */
export function expiredEvent(d: Delegation, type: ExpiryType, h: number): Unsequenced<ExpiredStakingEvent> {
  return {
    event_type: EVENT_TYPE_OF_KIND.expired,
    event_id: `${d.stakingTxid}:expired:${type}`,
    staking_tx_hash_hex: d.stakingTxid,
    tx_type: type,
    expire_height: h,
  };
}

/** The tx's hex: from its bytes in the block when it has them, else re-serialized. */
export function txHex(bytes: Uint8Array | undefined, tx: () => Transaction): string {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') : tx().toHex();
}
