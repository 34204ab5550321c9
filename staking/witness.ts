import { CodedError, compareBytes, toHex, type XOnlyKey } from '../common/index.ts';
import type { Leaf } from './stakingInfo.ts';

export interface CovenantSignature {
  readonly key: XOnlyKey;
  readonly signature: Uint8Array;
}

/**
 * The witness of the staking output's unbonding path (babylon witness_utils.go, §2.4):
 * `[sig for c_n, …, sig for c_1, staker sig, leaf script, control block]`, where c_1…c_n are the
 * covenant keys in ascending order, so signatures go in descending key order. The script ends in
 * `<q> OP_NUMEQUAL`: exactly `quorum` slots may hold a signature — one more valid signature makes
 * the spend fail (btc-staker#52/#53) — and the others are empty. Signatures are taken in the order
 * given (the pipeline passes them as they arrived); beyond the quorum they are dropped.
 * @throws {CodedError} STAKING_QUORUM_NOT_MET, STAKING_WITNESS_UNKNOWN_KEY,
 *   STAKING_WITNESS_DUPLICATE_KEY, STAKING_INVALID_SIGNATURE
 */
export function buildUnbondingWitness(args: {
  readonly covenantKeys: readonly XOnlyKey[];
  readonly quorum: number;
  readonly covenantSignatures: readonly CovenantSignature[];
  readonly stakerSignature: Uint8Array;
  readonly leaf: Leaf;
}): Uint8Array[] {
  const known = new Set(args.covenantKeys.map(toHex));
  const chosen = new Map<string, Uint8Array>();
  for (const { key, signature } of args.covenantSignatures) {
    const hex = toHex(key);
    if (!known.has(hex))
      throw new CodedError('STAKING_WITNESS_UNKNOWN_KEY', `key ${hex} is not a covenant key`);
    if (chosen.has(hex))
      throw new CodedError('STAKING_WITNESS_DUPLICATE_KEY', `two signatures for covenant key ${hex}`);
    if (signature.length !== 64) {
      throw new CodedError(
        'STAKING_INVALID_SIGNATURE',
        `signature for ${hex} must be 64 bytes, got ${signature.length}`,
      );
    }
    if (chosen.size < args.quorum) chosen.set(hex, signature);
  }
  if (chosen.size < args.quorum) {
    throw new CodedError(
      'STAKING_QUORUM_NOT_MET',
      `${chosen.size} covenant signatures given, quorum is ${args.quorum}`,
    );
  }
  if (args.stakerSignature.length !== 64) {
    throw new CodedError('STAKING_INVALID_SIGNATURE', 'staker signature must be 64 bytes');
  }
  const descending = [...args.covenantKeys].sort(compareBytes).reverse();
  return [
    ...descending.map((k) => chosen.get(toHex(k)) ?? new Uint8Array(0)),
    args.stakerSignature,
    args.leaf.script,
    args.leaf.controlBlock,
  ];
}

/** The witness of a timelock path: `[staker sig, leaf script, control block]`. */
export function buildTimelockWitness(stakerSignature: Uint8Array, leaf: Leaf): Uint8Array[] {
  if (stakerSignature.length !== 64) {
    throw new CodedError('STAKING_INVALID_SIGNATURE', 'staker signature must be 64 bytes');
  }
  return [stakerSignature, leaf.script, leaf.controlBlock];
}
