import type { XOnlyKey } from '../common/index.ts';
import { assertDistinctKeys, buildSlashingLeaf, buildTimelockLeaf, buildUnbondingLeaf } from './leaves.ts';
import { controlBlock, type TaprootOutput, tapBranchHash, tapLeafHash, taprootOutput } from './taproot.ts';

/** What a staking or unbonding output commits to. */
export interface StakingScriptKeys {
  readonly stakerKey: XOnlyKey;
  /** Phase-1 has exactly one finality provider; more are accepted to reproduce vectors #3 and #5. */
  readonly fpKeys: readonly XOnlyKey[];
  readonly covenantKeys: readonly XOnlyKey[];
  readonly covenantQuorum: number;
}

export interface Leaf {
  readonly script: Uint8Array;
  readonly leafHash: Uint8Array;
  readonly controlBlock: Uint8Array;
}

/**
 * A leaf of a built tree, its control block made on first read: deciding on a stake compares output
 * keys and reads none of the five a staking and an unbonding tree have, each a new array over 64
 * bytes (an ArrayBuffer of its own: 1-3 µs here, and one more for the scavenger to sweep; signer/
 * README.md, Performance). A class with its getter on the prototype, not a literal with a getter:
 * the latter kept a tenth of a request's allocations alive through two scavenges in Node 20's V8.
 */
class TreeLeaf implements Leaf {
  readonly script: Uint8Array;
  readonly leafHash: Uint8Array;
  readonly #out: TaprootOutput;
  readonly #path: readonly Uint8Array[];
  #controlBlock: Uint8Array | undefined;

  constructor(script: Uint8Array, leafHash: Uint8Array, out: TaprootOutput, path: readonly Uint8Array[]) {
    this.script = script;
    this.leafHash = leafHash;
    this.#out = out;
    this.#path = path;
  }

  get controlBlock(): Uint8Array {
    this.#controlBlock ??= controlBlock(this.#out, this.#path);
    return this.#controlBlock;
  }
}

/** The staking output: three leaves in Branch(Branch(timelock, unbonding), slashing). */
export interface StakingInfo extends TaprootOutput {
  readonly timelock: Leaf;
  readonly unbonding: Leaf;
  readonly slashing: Leaf;
}

/** The unbonding output: two leaves in Branch(timelock_U, slashing). */
export interface UnbondingInfo extends TaprootOutput {
  readonly timelock: Leaf;
  readonly slashing: Leaf;
}

/**
 * The staking output's taproot tree (BuildStakingInfo; staking-protocol.md §2.2, §3): btcd's
 * AssembleTaprootScriptTree puts [timelock, unbonding, slashing] into
 * Branch(Branch(timelock, unbonding), slashing). The shape matters; sibling order does not.
 * @throws {CodedError} STAKING_DUPLICATE_KEYS, STAKING_INVALID_ARGUMENT
 */
export function buildStakingInfo(
  keys: StakingScriptKeys,
  stakingTime: number,
  opts: { allowZeroTimelock?: boolean } = {},
): StakingInfo {
  assertDistinctKeys(keys.stakerKey, keys.fpKeys, keys.covenantKeys);
  const tl = buildTimelockLeaf(keys.stakerKey, stakingTime, opts.allowZeroTimelock ?? false);
  const ub = buildUnbondingLeaf(keys.stakerKey, keys.covenantKeys, keys.covenantQuorum);
  const sl = buildSlashingLeaf(keys.stakerKey, keys.fpKeys, keys.covenantKeys, keys.covenantQuorum);
  const [hTl, hUb, hSl] = [tapLeafHash(tl), tapLeafHash(ub), tapLeafHash(sl)];
  const inner = tapBranchHash(hTl, hUb);
  const out = taprootOutput(tapBranchHash(inner, hSl));
  // Named field by field, not `{ ...out, timelock, … }`: in Node 20's V8 an object spread followed
  // by more properties made about a tenth of everything a request allocates survive two scavenges
  // and reach the old generation (signer/README.md, Performance), so every ~100 serial requests
  // paid a longer scavenge and every few hundred a full mark-compact.
  return {
    outputKey: out.outputKey,
    parity: out.parity,
    pkScript: out.pkScript,
    merkleRoot: out.merkleRoot,
    timelock: new TreeLeaf(tl, hTl, out, [hUb, hSl]),
    unbonding: new TreeLeaf(ub, hUb, out, [hTl, hSl]),
    slashing: new TreeLeaf(sl, hSl, out, [inner]),
  };
}

/**
 * The unbonding output's tree (BuildUnbondingInfo, §2.3): Branch(timelock_U, slashing), with U the
 * params' unbonding_time. The slashing leaf is byte-identical to the staking one.
 * @throws {CodedError} STAKING_DUPLICATE_KEYS, STAKING_INVALID_ARGUMENT
 */
export function buildUnbondingInfo(keys: StakingScriptKeys, unbondingTime: number): UnbondingInfo {
  assertDistinctKeys(keys.stakerKey, keys.fpKeys, keys.covenantKeys);
  const tl = buildTimelockLeaf(keys.stakerKey, unbondingTime);
  const sl = buildSlashingLeaf(keys.stakerKey, keys.fpKeys, keys.covenantKeys, keys.covenantQuorum);
  const [hTl, hSl] = [tapLeafHash(tl), tapLeafHash(sl)];
  const out = taprootOutput(tapBranchHash(hTl, hSl));
  // Field by field for the reason given in buildStakingInfo.
  return {
    outputKey: out.outputKey,
    parity: out.parity,
    pkScript: out.pkScript,
    merkleRoot: out.merkleRoot,
    timelock: new TreeLeaf(tl, hTl, out, [hSl]),
    slashing: new TreeLeaf(sl, hSl, out, [hTl]),
  };
}
