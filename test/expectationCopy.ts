import type { UnbondingExpectation } from '../staking/index.ts';

/**
 * `exp` with another staking value, for tests that need an expectation the chain does not give:
 * copied field by field, because an expectation's taproot parts are getters, which a spread would
 * not copy.
 */
export function withStakingValue(exp: UnbondingExpectation, stakingValueSat: bigint): UnbondingExpectation {
  return {
    stakingTxid: exp.stakingTxid,
    stakingOutputIndex: exp.stakingOutputIndex,
    stakingValueSat,
    stakingPkScript: exp.stakingPkScript,
    unbondingLeafScript: exp.unbondingLeafScript,
    unbondingLeafHash: exp.unbondingLeafHash,
    unbondingInfo: exp.unbondingInfo,
    unbondingValueSat: exp.unbondingValueSat,
    unbondingFeeSat: exp.unbondingFeeSat,
  };
}
