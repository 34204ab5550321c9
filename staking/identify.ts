import type { Transaction } from 'bitcoinjs-lib';
import { bytesEqual, CodedError, isCodedError, type XOnlyKey } from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import type { StakingErrorCode } from './errors.ts';
import { decodeV0OpReturn, isV0OpReturnWithTag } from './opReturn.ts';
import { buildStakingInfo, type StakingInfo } from './stakingInfo.ts';

/** What a phase-1 staking transaction says, once identified. */
export interface StakingTxData {
  readonly stakerKey: XOnlyKey;
  readonly fpKey: XOnlyKey;
  readonly stakingTime: number;
  readonly valueSat: bigint;
  readonly stakingOutputIndex: number;
  readonly opReturnIndex: number;
  /** The params version it was identified under. */
  readonly paramsVersion: number;
  readonly stakingInfo: StakingInfo;
}

export type StakingClassification =
  /** The cheap pre-filter failed: no single v0 OP_RETURN with the tag. Not Babylon's business. */
  | { readonly kind: 'not-staking' }
  /** It carries the tag but does not parse as a staking tx (§4.3). */
  | { readonly kind: 'malformed'; readonly code: StakingErrorCode; readonly reason: string }
  /** It parses, but value or time are outside the params (§4.4): not stored, not tracked. */
  | {
      readonly kind: 'invalid';
      readonly code: StakingErrorCode;
      readonly reason: string;
      readonly data: StakingTxData;
    }
  | { readonly kind: 'valid'; readonly data: StakingTxData };

/**
 * IsPossibleV0StakingTx: at least 2 outputs and exactly one output that is a 73-byte null-data
 * script whose payload starts with the tag and version 0. Two such outputs → not staking.
 */
export function isPossibleStakingTx(tx: Transaction, tag: Uint8Array): boolean {
  if (tx.outs.length < 2) return false;
  let found = false;
  for (const o of tx.outs) {
    if (!isV0OpReturnWithTag(o.script, tag)) continue;
    if (found) return false;
    found = true;
  }
  return found;
}

/**
 * ParseV0StakingTx (staking-protocol.md §4.3) against one params version: exactly one output
 * decodes as a v0 OP_RETURN (any tag), its tag is the params tag, and exactly one output pays the
 * staking script rebuilt from the OP_RETURN keys and time and the params covenant set.
 * Value and time ranges are not checked here (see assertStakingTxInRange).
 * @throws {CodedError} STAKING_NOT_ENOUGH_OUTPUTS, STAKING_MULTIPLE_OP_RETURN, STAKING_NO_OP_RETURN,
 *   STAKING_WRONG_TAG, STAKING_DUPLICATE_KEYS, STAKING_NO_STAKING_OUTPUT, STAKING_MULTIPLE_STAKING_OUTPUTS
 */
export function parseStakingTx(tx: Transaction, params: ParamsVersion): StakingTxData {
  if (tx.outs.length < 2) {
    throw new CodedError(
      'STAKING_NOT_ENOUGH_OUTPUTS',
      `a staking tx needs at least 2 outputs, got ${tx.outs.length}`,
    );
  }
  let op: ReturnType<typeof decodeV0OpReturn>;
  let opIndex = -1;
  tx.outs.forEach((o, i) => {
    const d = decodeV0OpReturn(o.script);
    if (!d) return;
    if (op)
      throw new CodedError(
        'STAKING_MULTIPLE_OP_RETURN',
        `outputs ${opIndex} and ${i} are both v0 OP_RETURN outputs`,
      );
    op = d;
    opIndex = i;
  });
  if (!op) throw new CodedError('STAKING_NO_OP_RETURN', 'no output is a valid v0 OP_RETURN');
  if (!bytesEqual(op.tag, params.tag)) {
    throw new CodedError(
      'STAKING_WRONG_TAG',
      `the OP_RETURN tag is not the params version ${params.version} tag`,
    );
  }
  const info = buildStakingInfo(
    {
      stakerKey: op.stakerKey,
      fpKeys: [op.fpKey],
      covenantKeys: params.covenantKeys,
      covenantQuorum: params.covenantQuorum,
    },
    op.stakingTime,
    // Go builds a leaf for a time of 0 too; the range check then calls the tx invalid.
    { allowZeroTimelock: true },
  );
  let stakingIndex = -1;
  tx.outs.forEach((o, i) => {
    if (!bytesEqual(o.script, info.pkScript)) return;
    if (stakingIndex >= 0) {
      throw new CodedError(
        'STAKING_MULTIPLE_STAKING_OUTPUTS',
        `outputs ${stakingIndex} and ${i} both pay the staking script`,
      );
    }
    stakingIndex = i;
  });
  if (stakingIndex < 0) {
    throw new CodedError(
      'STAKING_NO_STAKING_OUTPUT',
      'no output pays the staking script of the OP_RETURN data',
    );
  }
  return {
    stakerKey: op.stakerKey,
    fpKey: op.fpKey,
    stakingTime: op.stakingTime,
    valueSat: tx.outs[stakingIndex]!.value,
    stakingOutputIndex: stakingIndex,
    opReturnIndex: opIndex,
    paramsVersion: params.version,
    stakingInfo: info,
  };
}

/**
 * validateStakingTx (§4.4): min ≤ value ≤ max and min ≤ time ≤ max, inclusive.
 * @throws {CodedError} STAKING_VALUE_OUT_OF_RANGE, STAKING_TIME_OUT_OF_RANGE
 */
export function assertStakingTxInRange(data: StakingTxData, params: ParamsVersion): void {
  if (data.valueSat < params.minStakingAmountSat || data.valueSat > params.maxStakingAmountSat) {
    throw new CodedError(
      'STAKING_VALUE_OUT_OF_RANGE',
      `staking value ${data.valueSat} sat is outside [${params.minStakingAmountSat}, ${params.maxStakingAmountSat}] of params version ${params.version}`,
    );
  }
  if (data.stakingTime < params.minStakingTime || data.stakingTime > params.maxStakingTime) {
    throw new CodedError(
      'STAKING_TIME_OUT_OF_RANGE',
      `staking time ${data.stakingTime} blocks is outside [${params.minStakingTime}, ${params.maxStakingTime}] of params version ${params.version}`,
    );
  }
}

/**
 * Classifies a transaction confirmed at `inclusionHeight` the way the reference indexer does: params
 * by inclusion height (none before the first activation → not staking), the pre-filter, the full
 * parse, then the ranges. Never throws on chain data.
 */
export function classifyStakingTx(
  tx: Transaction,
  params: GlobalParams,
  inclusionHeight: number,
): StakingClassification {
  const version = selectParamsForHeight(params, inclusionHeight);
  if (!version || !isPossibleStakingTx(tx, version.tag)) return { kind: 'not-staking' };
  let data: StakingTxData;
  try {
    data = parseStakingTx(tx, version);
  } catch (e) {
    if (isCodedError(e)) return { kind: 'malformed', code: e.code as StakingErrorCode, reason: e.message };
    throw e;
  }
  try {
    assertStakingTxInRange(data, version);
  } catch (e) {
    if (isCodedError(e))
      return { kind: 'invalid', code: e.code as StakingErrorCode, reason: e.message, data };
    throw e;
  }
  return { kind: 'valid', data };
}
