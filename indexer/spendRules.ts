import { isCodedError, parseHex, parseXOnlyKey, type XOnlyKey } from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import {
  buildStakingInfo,
  buildTimelockLeaf,
  expectUnbonding,
  type Leaf,
  type StakingInfo,
  type StakingOutputFacts,
  type StakingTxData,
  tapBranchHash,
  tapLeafHash,
  taprootOutput,
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
 * The unbonding expectation (staking/'s `expectUnbonding`, as every service builds it) and the two
 * timelock leaves of a stored delegation, under the params of its staking height. Lazily: the leaf
 * scripts (all that recognising a withdraw or the unbonding leaf needs) cost no EC operation; the
 * taproot outputs (one EC tweak each) are built only when a check reads them — the unbonding
 * output only for a tx that reveals the unbonding leaf. Undefined when no version applies or the
 * value cannot pay the unbonding fee.
 */
export function expectationOf(
  d: Delegation,
  params: GlobalParams,
  ahead?: UnbondingMadeAhead,
): SpendRules | undefined {
  const v = selectParamsForHeight(params, d.inclusionHeight);
  if (!v) return undefined;
  const stake = new StoredStake(d, v);
  let exp: UnbondingExpectation;
  try {
    exp = expectUnbonding(d.stakingTxid, stake, v);
    // Made for this very stake under the same params: the same script the tweak would give.
    if (
      ahead &&
      ahead.stakingTxid === d.stakingTxid &&
      ahead.height === d.inclusionHeight &&
      ahead.paramsVersion === v.version
    ) {
      exp = new KnownUnbondingOutput(exp, ahead.pkScript);
    }
  } catch (e) {
    // The fee-cover rule: a stake that cannot pay its unbonding fee has no unbonding to recognise.
    if (isCodedError(e, 'STAKING_UNBONDING_VALUE_TOO_LOW')) return undefined;
    throw e;
  }
  return {
    exp,
    stakingTimelockLeaf: new StakingTimelockLeaf(stake),
    unbondingTimelockLeaf: new UnbondingTimelockLeaf(stake.stakerKey, v.unbondingTime, exp),
  };
}

/**
 * The x-only keys of stored delegations, parsed (and checked on the curve) once per distinct key:
 * a spend of a stored stake parses its staker's and its finality provider's key again, and one
 * lift_x each was a tenth of deciding a busy block. Bounded; emptied when full.
 */
class ParsedKeys {
  readonly #keys = new Map<string, XOnlyKey>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** @throws {CodedError} INDEXER_STORE_UNAVAILABLE when `hex` is not a valid x-only key */
  get(hex: string, field: string): XOnlyKey {
    let key = this.#keys.get(hex);
    if (key === undefined) {
      key = parseXOnlyKey(hex, field, 'INDEXER_STORE_UNAVAILABLE');
      this.#set(hex, key);
    }
    return key;
  }

  /**
   * Adds `hex`, a key the staking rules already checked on the curve, without a second lift_x.
   * Never throws: a string that is not 32 bytes of hex is left out (`get` refuses it then).
   */
  checked(hex: string): void {
    if (this.#keys.has(hex)) return;
    let key: Uint8Array;
    try {
      key = parseHex(hex, 'stakerKey', 'INDEXER_STORE_UNAVAILABLE', { bytes: 32 });
    } catch {
      return;
    }
    this.#set(hex, key as XOnlyKey);
  }

  #set(hex: string, key: XOnlyKey): void {
    if (this.#keys.size >= this.#limit) this.#keys.clear();
    this.#keys.set(hex, key);
  }
}
// Shared, never mutated: the staking functions only read keys.
const parsedKeys = new ParsedKeys(8192);

/**
 * A valid stake's staker key, as its verdict (`ValidStake`, stakeVerdict.ts) gives it, for the spends of it that follow: the
 * staking rules checked it on the curve when they accepted the stake (on whichever thread made the
 * verdict, whose curve cache this thread does not share), so its spends need no second lift_x, one
 * per new staker. Only the very string the verdict gave is trusted; a stored delegation whose key
 * differs (a damaged store) is still parsed and checked. The finality provider's keys, few and
 * shared by many stakes, are parsed once by `ParsedKeys.get`.
 */
export function rememberCheckedStakerKey(c: { readonly stakerKeyHex: string }): void {
  parsedKeys.checked(c.stakerKeyHex);
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
    this.stakerKey = parsedKeys.get(d.stakerKeyHex, 'stakerKey');
    this.fpKey = parsedKeys.get(d.fpKeyHex, 'fpKey');
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

/**
 * Timelock leaves whose script is built on first read (a spend reads one of the two: a staking
 * output's spend the staking leaf, an unbonding output's the unbonding leaf) and whose hash and
 * control block come from their taproot tree, built on first read. Classes: an object literal
 * with getters is built by the runtime at every call, several µs each.
 */
class StakingTimelockLeaf implements Leaf {
  #script: Uint8Array | undefined;
  readonly #stake: StoredStake;

  constructor(stake: StoredStake) {
    this.#stake = stake;
  }
  get script(): Uint8Array {
    this.#script ??= buildTimelockLeaf(this.#stake.stakerKey, this.#stake.stakingTime, true);
    return this.#script;
  }
  get leafHash(): Uint8Array {
    return this.#stake.stakingInfo.timelock.leafHash;
  }
  get controlBlock(): Uint8Array {
    return this.#stake.stakingInfo.timelock.controlBlock;
  }
}

class UnbondingTimelockLeaf implements Leaf {
  #script: Uint8Array | undefined;
  readonly #stakerKey: XOnlyKey;
  readonly #unbondingTime: number;
  readonly #exp: UnbondingExpectation;

  constructor(stakerKey: XOnlyKey, unbondingTime: number, exp: UnbondingExpectation) {
    this.#stakerKey = stakerKey;
    this.#unbondingTime = unbondingTime;
    this.#exp = exp;
  }
  get script(): Uint8Array {
    this.#script ??= buildTimelockLeaf(this.#stakerKey, this.#unbondingTime);
    return this.#script;
  }
  get leafHash(): Uint8Array {
    return this.#exp.unbondingInfo.timelock.leafHash;
  }
  get controlBlock(): Uint8Array {
    return this.#exp.unbondingInfo.timelock.controlBlock;
  }
}

/** An unbonding output's script made ahead, on the fetch thread, for the stake a candidate spends. */
export interface UnbondingMadeAhead {
  readonly stakingTxid: string;
  /** The stake's height and the params version there, which the script depends on. */
  readonly height: number;
  readonly paramsVersion: number;
  readonly pkScript: Uint8Array;
}

/** What `StakesSeen` keeps of a valid stake's tree: copies, so that they outlive its block and cross threads. */
export interface SeenStakeKeys {
  readonly stakerKey: XOnlyKey;
  readonly slashingLeafHash: Uint8Array;
}

/**
 * Copies (a Buffer's slice would be a view): the key is a view into the block's bytes, which the
 * fetch threads hand over (transfer) to another thread, emptying their own views.
 */
export function seenStakeKeys(data: StakingTxData): SeenStakeKeys {
  return {
    stakerKey: new Uint8Array(data.stakerKey) as XOnlyKey,
    slashingLeafHash: new Uint8Array(data.stakingInfo.slashing.leafHash),
  };
}

interface SeenStake {
  readonly outputIndex: number;
  readonly height: number;
  readonly v: ParamsVersion;
  readonly stakerKey: XOnlyKey;
  readonly slashingLeafHash: Uint8Array;
}

/**
 * The valid stakes a prescan saw (no EC operation: what their unbonding output needs, from the
 * staking tree already built for the verdict), kept until a one-input, one-output candidate spends
 * one's staking output: the prescan then makes that candidate's unbonding output script (the one
 * EC tweak of checking an unbonding) on the fetch thread, off the thread that decides and commits.
 * Kept from range to range by the fetch thread; the oldest go first past `limit` (a stake unbonded
 * long after it was seen then has its script built by the processor, as before).
 */
export class StakesSeen {
  readonly #limit: number;
  readonly #byTxid = new Map<string, SeenStake>();

  constructor(limit = 100_000) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#byTxid.size;
  }

  remember(txid: string, data: StakingTxData, height: number, v: ParamsVersion): void {
    this.rememberKeys(txid, data.stakingOutputIndex, seenStakeKeys(data), height, v);
  }

  /** As `remember`, with what it keeps of the stake taken out already (`seenStakeKeys`, on another thread). */
  rememberKeys(
    txid: string,
    outputIndex: number,
    keys: SeenStakeKeys,
    height: number,
    v: ParamsVersion,
  ): void {
    this.#byTxid.set(txid, {
      outputIndex,
      height,
      v,
      stakerKey: keys.stakerKey,
      slashingLeafHash: keys.slashingLeafHash,
    });
    if (this.#byTxid.size > this.#limit) {
      const oldest = this.#byTxid.keys().next().value;
      if (oldest !== undefined) this.#byTxid.delete(oldest);
    }
  }

  /** The unbonding output script for a spend of `txid:vout`, when that is a stake seen; forgets it. */
  unbondingFor(txid: string, vout: number): UnbondingMadeAhead | undefined {
    const s = this.#byTxid.get(txid);
    if (!s || s.outputIndex !== vout) return undefined;
    this.#byTxid.delete(txid);
    return {
      stakingTxid: txid,
      height: s.height,
      paramsVersion: s.v.version,
      pkScript: unbondingPkScriptOf(s.stakerKey, s.slashingLeafHash, s.v),
    };
  }
}

/**
 * An expectation whose unbonding output script is known: reading `unbondingInfo.pkScript` (all the
 * unbonding check reads) makes no EC operation; any other field of the unbonding output is built
 * on first read, as before.
 */
class KnownUnbondingOutput implements UnbondingExpectation {
  readonly #exp: UnbondingExpectation;
  readonly unbondingInfo: UnbondingInfo;
  readonly stakingTxid: string;
  readonly stakingOutputIndex: number;
  readonly stakingValueSat: bigint;
  readonly unbondingValueSat: bigint;
  readonly unbondingFeeSat: bigint;

  constructor(exp: UnbondingExpectation, pkScript: Uint8Array) {
    this.#exp = exp;
    this.unbondingInfo = new KnownUnbondingInfo(exp, pkScript);
    this.stakingTxid = exp.stakingTxid;
    this.stakingOutputIndex = exp.stakingOutputIndex;
    this.stakingValueSat = exp.stakingValueSat;
    this.unbondingValueSat = exp.unbondingValueSat;
    this.unbondingFeeSat = exp.unbondingFeeSat;
  }
  get stakingPkScript(): Uint8Array {
    return this.#exp.stakingPkScript;
  }
  get unbondingLeafScript(): Uint8Array {
    return this.#exp.unbondingLeafScript;
  }
  get unbondingLeafHash(): Uint8Array {
    return this.#exp.unbondingLeafHash;
  }
}

class KnownUnbondingInfo implements UnbondingInfo {
  readonly #exp: UnbondingExpectation;
  readonly pkScript: Uint8Array;

  constructor(exp: UnbondingExpectation, pkScript: Uint8Array) {
    this.#exp = exp;
    this.pkScript = pkScript;
  }
  get outputKey(): Uint8Array {
    return this.#exp.unbondingInfo.outputKey;
  }
  get parity(): 0 | 1 {
    return this.#exp.unbondingInfo.parity;
  }
  get merkleRoot(): Uint8Array {
    return this.#exp.unbondingInfo.merkleRoot;
  }
  get timelock(): Leaf {
    return this.#exp.unbondingInfo.timelock;
  }
  get slashing(): Leaf {
    return this.#exp.unbondingInfo.slashing;
  }
}

/**
 * The unbonding output script of a stake the rules accepted (`data.stakingInfo` built for it):
 * Branch(timelock_U, slashing) under the params' unbonding time, the slashing leaf being the
 * staking output's own (byte-identical, `buildUnbondingInfo`), so only the timelock leaf is new.
 */
export function unbondingPkScriptOf(
  stakerKey: XOnlyKey,
  stakingSlashingLeafHash: Uint8Array,
  v: ParamsVersion,
): Uint8Array {
  const tl = tapLeafHash(buildTimelockLeaf(stakerKey, v.unbondingTime));
  return taprootOutput(tapBranchHash(tl, stakingSlashingLeafHash)).pkScript;
}
