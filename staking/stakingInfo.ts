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
  const allowZero = opts.allowZeroTimelock ?? false;
  const memo = memoOf(keys, `s${stakingTime}${allowZero ? 'z' : ''}`);
  let info = memo?.map.get(memo.id) as StakingInfo | undefined;
  if (!info) {
    info = stakingInfoOf(keys, stakingTime, allowZero);
    if (!memo) return info;
    remember(memo, info);
  }
  return {
    ...copyOutput(info),
    timelock: copyLeaf(info.timelock),
    unbonding: copyLeaf(info.unbonding),
    slashing: copyLeaf(info.slashing),
  };
}

function stakingInfoOf(keys: StakingScriptKeys, stakingTime: number, allowZero: boolean): StakingInfo {
  assertDistinctKeys(keys.stakerKey, keys.fpKeys, keys.covenantKeys);
  const tl = buildTimelockLeaf(keys.stakerKey, stakingTime, allowZero);
  const ub = buildUnbondingLeaf(keys.stakerKey, keys.covenantKeys, keys.covenantQuorum);
  const sl = buildSlashingLeaf(keys.stakerKey, keys.fpKeys, keys.covenantKeys, keys.covenantQuorum);
  const [hTl, hUb, hSl] = [tapLeafHash(tl), tapLeafHash(ub), tapLeafHash(sl)];
  const inner = tapBranchHash(hTl, hUb);
  const out = taprootOutput(tapBranchHash(inner, hSl));
  return {
    ...out,
    timelock: { script: tl, leafHash: hTl, controlBlock: controlBlock(out, [hUb, hSl]) },
    unbonding: { script: ub, leafHash: hUb, controlBlock: controlBlock(out, [hTl, hSl]) },
    slashing: { script: sl, leafHash: hSl, controlBlock: controlBlock(out, [inner]) },
  };
}

/**
 * The unbonding output's tree (BuildUnbondingInfo, §2.3): Branch(timelock_U, slashing), with U the
 * params' unbonding_time. The slashing leaf is byte-identical to the staking one.
 * @throws {CodedError} STAKING_DUPLICATE_KEYS, STAKING_INVALID_ARGUMENT
 */
export function buildUnbondingInfo(keys: StakingScriptKeys, unbondingTime: number): UnbondingInfo {
  const memo = memoOf(keys, `u${unbondingTime}`);
  let info = memo?.map.get(memo.id) as UnbondingInfo | undefined;
  if (!info) {
    info = unbondingInfoOf(keys, unbondingTime);
    if (!memo) return info;
    remember(memo, info);
  }
  return { ...copyOutput(info), timelock: copyLeaf(info.timelock), slashing: copyLeaf(info.slashing) };
}

function unbondingInfoOf(keys: StakingScriptKeys, unbondingTime: number): UnbondingInfo {
  assertDistinctKeys(keys.stakerKey, keys.fpKeys, keys.covenantKeys);
  const tl = buildTimelockLeaf(keys.stakerKey, unbondingTime);
  const sl = buildSlashingLeaf(keys.stakerKey, keys.fpKeys, keys.covenantKeys, keys.covenantQuorum);
  const [hTl, hSl] = [tapLeafHash(tl), tapLeafHash(sl)];
  const out = taprootOutput(tapBranchHash(hTl, hSl));
  return {
    ...out,
    timelock: { script: tl, leafHash: hTl, controlBlock: controlBlock(out, [hSl]) },
    slashing: { script: sl, leafHash: hSl, controlBlock: controlBlock(out, [hTl]) },
  };
}

/**
 * The trees built last, per covenant list and per staker, finality providers, time and quorum.
 * A tree costs an EC tweak and six to eight hashes, and the same one comes back: a staker's stakes
 * share their keys and often their time, and every unbonding decision rebuilds the staking tree and
 * the unbonding tree of its stake (the signer's, the API's and the pipeline's check of the same
 * request). Only a frozen covenant list (the params') is remembered, as leaves.ts's multisigs are;
 * a hit returns fresh copies of every byte array, so no caller can change what another receives.
 */
const MEMO_MAX = 4096;
const memos = new WeakMap<readonly XOnlyKey[], Map<string, TaprootOutput>>();

interface Memo {
  readonly map: Map<string, TaprootOutput>;
  readonly id: string;
}

/** Where the tree of these keys and `what` (its kind and time) is remembered; none for an unfrozen list. */
function memoOf(keys: StakingScriptKeys, what: string): Memo | undefined {
  if (!Object.isFrozen(keys.covenantKeys)) return undefined;
  let map = memos.get(keys.covenantKeys);
  if (!map) {
    map = new Map();
    memos.set(keys.covenantKeys, map);
  }
  let id = `${what}q${keys.covenantQuorum}${exact(keys.stakerKey)}`;
  for (const fp of keys.fpKeys) id += exact(fp);
  return { map, id };
}

function remember(memo: Memo, info: TaprootOutput): void {
  if (memo.map.size >= MEMO_MAX) memo.map.delete(memo.map.keys().next().value!);
  memo.map.set(memo.id, info);
}

/** A key's exact bytes as a string part: its length, then one character per byte. */
function exact(b: Uint8Array): string {
  return String.fromCharCode(b.length) + String.fromCharCode.apply(null, b as unknown as number[]);
}

// A copy, never a view: `slice` of a Node Buffer (what sha256 gives under Node) shares its memory.
const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b);

function copyOutput(o: TaprootOutput): TaprootOutput {
  return {
    outputKey: copy(o.outputKey),
    parity: o.parity,
    pkScript: copy(o.pkScript),
    merkleRoot: copy(o.merkleRoot),
  };
}

function copyLeaf(l: Leaf): Leaf {
  return { script: copy(l.script), leafHash: copy(l.leafHash), controlBlock: copy(l.controlBlock) };
}
