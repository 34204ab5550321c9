import { parseXOnlyKey } from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import {
  buildStakingInfo,
  buildTimelockLeaf,
  buildUnbondingInfo,
  buildUnbondingLeaf,
  type Leaf,
  type StakingInfo,
  type StakingScriptKeys,
  type UnbondingExpectation,
  type UnbondingInfo,
} from '../staking/index.ts';
import type { Delegation } from './state.ts';

/** What recognising spends of a stored delegation needs, rebuilt under the params of its staking height. */
export interface SpendRules {
  readonly exp: UnbondingExpectation;
  readonly stakingTimelockLeaf: Leaf;
  readonly unbondingTimelockLeaf: Leaf;
}

/**
 * The unbonding expectation and the two timelock leaves of a stored delegation, under the params
 * of its staking height, from the staking/ builders. Lazily: the leaf scripts (all that recognising
 * a withdraw or the unbonding leaf needs) cost no EC operation; the taproot outputs (one EC tweak
 * each) are built only when a check reads them — the unbonding output only for a tx that reveals
 * the unbonding leaf. Undefined when no version applies or the value cannot pay the unbonding fee.
 */
export function expectationOf(d: Delegation, params: GlobalParams): SpendRules | undefined {
  const v = selectParamsForHeight(params, d.inclusionHeight);
  if (!v) return undefined;
  const valueSat = BigInt(d.valueSat);
  if (valueSat - v.unbondingFeeSat <= 0n) return undefined;
  // Checked when the stake was identified; again here, from the store, at a cached lookup's cost.
  const stakerKey = parseXOnlyKey(d.stakerKeyHex, 'stakerKey', 'INDEXER_STORE_UNAVAILABLE');
  const fpKey = parseXOnlyKey(d.fpKeyHex, 'fpKey', 'INDEXER_STORE_UNAVAILABLE');
  const keys: StakingScriptKeys = {
    stakerKey,
    fpKeys: [fpKey],
    covenantKeys: v.covenantKeys,
    covenantQuorum: v.covenantQuorum,
  };
  const lazy = new LazyInfos(d, v, keys);
  const exp: UnbondingExpectation = {
    stakingTxid: d.stakingTxid,
    stakingOutputIndex: d.stakingOutputIndex,
    stakingValueSat: valueSat,
    unbondingLeafScript: buildUnbondingLeaf(stakerKey, v.covenantKeys, v.covenantQuorum),
    unbondingValueSat: valueSat - v.unbondingFeeSat,
    unbondingFeeSat: v.unbondingFeeSat,
    get stakingPkScript() {
      return lazy.staking().pkScript;
    },
    get unbondingLeafHash() {
      return lazy.staking().unbonding.leafHash;
    },
    get unbondingInfo() {
      return lazy.unbonding();
    },
  };
  return {
    exp,
    stakingTimelockLeaf: lazyLeaf(
      buildTimelockLeaf(stakerKey, d.stakingTime, true),
      () => lazy.staking().timelock,
    ),
    unbondingTimelockLeaf: lazyLeaf(
      buildTimelockLeaf(stakerKey, v.unbondingTime),
      () => lazy.unbonding().timelock,
    ),
  };
}

/**
 * The costly parts of a delegation's spend rules, each built on first use. A class rather than
 * closures in `expectationOf`: the services run under tsx, whose transform names every closure
 * assigned to a variable with a defineProperty call, per call.
 */
class LazyInfos {
  #staking: StakingInfo | undefined;
  #unbonding: UnbondingInfo | undefined;
  readonly #d: Delegation;
  readonly #v: ParamsVersion;
  readonly #keys: StakingScriptKeys;

  constructor(d: Delegation, v: ParamsVersion, keys: StakingScriptKeys) {
    this.#d = d;
    this.#v = v;
    this.#keys = keys;
  }
  staking(): StakingInfo {
    this.#staking ??= buildStakingInfo(this.#keys, this.#d.stakingTime, { allowZeroTimelock: true });
    return this.#staking;
  }
  unbonding(): UnbondingInfo {
    this.#unbonding ??= buildUnbondingInfo(this.#keys, this.#v.unbondingTime);
    return this.#unbonding;
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
