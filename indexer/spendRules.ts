import { isCodedError, parseXOnlyKey, type XOnlyKey } from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import {
  buildStakingInfo,
  buildTimelockLeaf,
  expectUnbonding,
  type Leaf,
  type StakingInfo,
  type StakingOutputFacts,
  type UnbondingExpectation,
} from '../staking/index.ts';
import type { Delegation } from './state.ts';

/** What recognising spends of a stored delegation needs, rebuilt under the params of its staking height. */
export interface SpendRules {
  readonly exp: UnbondingExpectation;
  readonly stakingTimelockLeaf: Leaf;
  readonly unbondingTimelockLeaf: Leaf;
}

/**
 * The unbonding expectation (staking/'s `expectUnbonding`, as every service builds it) and the two
 * timelock leaves of a stored delegation, under the params of its staking height. Lazily: the leaf
 * scripts (all that recognising a withdraw or the unbonding leaf needs) cost no EC operation; the
 * taproot outputs (one EC tweak each) are built only when a check reads them — the unbonding
 * output only for a tx that reveals the unbonding leaf. Undefined when no version applies or the
 * value cannot pay the unbonding fee.
 */
export function expectationOf(d: Delegation, params: GlobalParams): SpendRules | undefined {
  const v = selectParamsForHeight(params, d.inclusionHeight);
  if (!v) return undefined;
  const stake = new StoredStake(d, v);
  let exp: UnbondingExpectation;
  try {
    exp = expectUnbonding(d.stakingTxid, stake, v);
  } catch (e) {
    // The fee-cover rule: a stake that cannot pay its unbonding fee has no unbonding to recognise.
    if (isCodedError(e, 'STAKING_UNBONDING_VALUE_TOO_LOW')) return undefined;
    throw e;
  }
  return {
    exp,
    stakingTimelockLeaf: lazyLeaf(
      buildTimelockLeaf(stake.stakerKey, d.stakingTime, true),
      () => stake.stakingInfo.timelock,
    ),
    unbondingTimelockLeaf: lazyLeaf(
      buildTimelockLeaf(stake.stakerKey, v.unbondingTime),
      () => exp.unbondingInfo.timelock,
    ),
  };
}

/**
 * A stored delegation's staking output, its taproot tree built on first read. A class rather than
 * closures: the services run under tsx, whose transform names every closure assigned to a
 * variable with a defineProperty call, per call.
 */
class StoredStake implements StakingOutputFacts {
  readonly stakerKey: XOnlyKey;
  readonly fpKey: XOnlyKey;
  readonly stakingTime: number;
  readonly valueSat: bigint;
  readonly stakingOutputIndex: number;
  #info: StakingInfo | undefined;
  readonly #v: ParamsVersion;

  constructor(d: Delegation, v: ParamsVersion) {
    // Checked when the stake was identified; again here, from the store, at a cached lookup's cost.
    this.stakerKey = parseXOnlyKey(d.stakerKeyHex, 'stakerKey', 'INDEXER_STORE_UNAVAILABLE');
    this.fpKey = parseXOnlyKey(d.fpKeyHex, 'fpKey', 'INDEXER_STORE_UNAVAILABLE');
    this.stakingTime = d.stakingTime;
    this.valueSat = BigInt(d.valueSat);
    this.stakingOutputIndex = d.stakingOutputIndex;
    this.#v = v;
  }
  get stakingInfo(): StakingInfo {
    this.#info ??= buildStakingInfo(
      {
        stakerKey: this.stakerKey,
        fpKeys: [this.fpKey],
        covenantKeys: this.#v.covenantKeys,
        covenantQuorum: this.#v.covenantQuorum,
      },
      this.stakingTime,
      { allowZeroTimelock: true },
    );
    return this.#info;
  }
}

/** A leaf whose script is known now and whose hash and control block come from `leaf` on first read. */
function lazyLeaf(script: Uint8Array, leaf: () => Leaf): Leaf {
  return {
    script,
    get leafHash() {
      return leaf().leafHash;
    },
    get controlBlock() {
      return leaf().controlBlock;
    },
  };
}
