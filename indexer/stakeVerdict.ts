import type { Transaction } from 'bitcoinjs-lib';
import { toHex } from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import { classifyStakingTx } from '../staking/index.ts';
import type { StakesSeen } from './spendRules.ts';
import type { Delegation } from './state.ts';

/**
 * What the staking rules say of a transaction, before any state is known: the whole staking
 * check (parse, staking output rebuilt and compared, ranges) is a function of the transaction, the
 * params and the height alone. Only what the processor needs, so that it crosses threads cheaply.
 */
export type StakeVerdict =
  | {
      readonly kind: 'valid';
      readonly txid: string;
      readonly valueSat: number;
      readonly stakingOutputIndex: number;
      readonly stakerKeyHex: string;
      readonly fpKeyHex: string;
      readonly stakingTime: number;
    }
  | { readonly kind: 'rejected'; readonly txid: string; readonly code: string }
  | { readonly kind: 'not-staking' };

/** A stake the rules accept. */
export type ValidStake = Extract<StakeVerdict, { kind: 'valid' }>;

export function stakeVerdict(
  tx: Transaction,
  params: GlobalParams,
  height: number,
  txid: () => string,
  seen?: Pick<StakesSeen, 'remember'>,
): StakeVerdict {
  const c = classifyStakingTx(tx, params, height);
  switch (c.kind) {
    case 'valid': {
      const id = txid();
      const v = seen && selectParamsForHeight(params, height);
      if (seen && v) seen.remember(id, c.data, height, v);
      return {
        kind: 'valid',
        txid: id,
        valueSat: Number(c.data.valueSat),
        stakingOutputIndex: c.data.stakingOutputIndex,
        stakerKeyHex: toHex(c.data.stakerKey),
        fpKeyHex: toHex(c.data.fpKey),
        stakingTime: c.data.stakingTime,
      };
    }
    case 'invalid':
    case 'malformed':
      return { kind: 'rejected', txid: txid(), code: c.code };
    case 'not-staking':
      return c;
  }
}

/** The active delegation a valid stake at `height` creates. */
export function delegationOf(
  c: ValidStake,
  height: number,
  version: ParamsVersion,
  isOverflow: boolean,
): Delegation {
  return {
    stakingTxid: c.txid,
    stakingOutputIndex: c.stakingOutputIndex,
    valueSat: c.valueSat,
    stakerKeyHex: c.stakerKeyHex,
    fpKeyHex: c.fpKeyHex,
    stakingTime: c.stakingTime,
    inclusionHeight: height,
    paramsVersion: version.version,
    isOverflow,
    state: 'active',
  };
}
