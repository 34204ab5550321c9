import { Transaction } from 'bitcoinjs-lib';
import { CodedError, type XOnlyKey } from '../common/index.ts';
import type { ParamsVersion } from '../params/index.ts';
import { buildV0OpReturn } from './opReturn.ts';
import { buildStakingInfo, type StakingInfo } from './stakingInfo.ts';

export interface StakingOutputs {
  readonly stakingInfo: StakingInfo;
  readonly stakingOutput: { readonly script: Uint8Array; readonly valueSat: bigint };
  readonly opReturnOutput: { readonly script: Uint8Array; readonly valueSat: 0n };
}

/**
 * The two outputs that make a phase-1 staking tx under a params version (§4.1, §4.2): the staking
 * P2TR output and the v0 OP_RETURN. Amount and time are checked against the version, so the tx
 * built from them is valid when it confirms while that version is in force.
 * @throws {CodedError} STAKING_VALUE_OUT_OF_RANGE, STAKING_TIME_OUT_OF_RANGE, STAKING_DUPLICATE_KEYS
 */
export function buildStakingOutputs(args: {
  readonly params: ParamsVersion;
  readonly stakerKey: XOnlyKey;
  readonly fpKey: XOnlyKey;
  readonly stakingTime: number;
  readonly valueSat: bigint;
}): StakingOutputs {
  const { params } = args;
  if (args.valueSat < params.minStakingAmountSat || args.valueSat > params.maxStakingAmountSat) {
    throw new CodedError(
      'STAKING_VALUE_OUT_OF_RANGE',
      `staking value ${args.valueSat} sat is outside [${params.minStakingAmountSat}, ${params.maxStakingAmountSat}]`,
    );
  }
  if (args.stakingTime < params.minStakingTime || args.stakingTime > params.maxStakingTime) {
    throw new CodedError(
      'STAKING_TIME_OUT_OF_RANGE',
      `staking time ${args.stakingTime} is outside [${params.minStakingTime}, ${params.maxStakingTime}]`,
    );
  }
  const stakingInfo = buildStakingInfo(
    {
      stakerKey: args.stakerKey,
      fpKeys: [args.fpKey],
      covenantKeys: params.covenantKeys,
      covenantQuorum: params.covenantQuorum,
    },
    args.stakingTime,
  );
  return {
    stakingInfo,
    stakingOutput: { script: stakingInfo.pkScript, valueSat: args.valueSat },
    opReturnOutput: {
      script: buildV0OpReturn({
        tag: params.tag,
        stakerKey: args.stakerKey,
        fpKey: args.fpKey,
        stakingTime: args.stakingTime,
      }),
      valueSat: 0n,
    },
  };
}

/**
 * An unfunded staking tx, version 2, outputs `[staking, op_return]` (Go's
 * BuildV0IdentifiableStakingOutputsAndTx), for a wallet to add inputs and change to.
 * `lockHeight` sets nLockTime (the dApp uses the version's activation height − 1).
 */
export function buildUnfundedStakingTx(outputs: StakingOutputs, lockHeight = 0): Transaction {
  const tx = new Transaction();
  tx.version = 2;
  tx.locktime = lockHeight;
  tx.addOutput(outputs.stakingOutput.script, outputs.stakingOutput.valueSat);
  tx.addOutput(outputs.opReturnOutput.script, 0n);
  return tx;
}
