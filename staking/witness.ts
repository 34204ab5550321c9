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
  const covenantSlots = quorumSlots('covenant', args.covenantKeys, args.quorum, args.covenantSignatures);
  assertSignatureLength(args.stakerSignature, 'staker signature');
  return [...covenantSlots, args.stakerSignature, args.leaf.script, args.leaf.controlBlock];
}

/**
 * The witness of a slashing leaf, of the staking output (the slashing tx) or of the unbonding output
 * (the unbonding-slashing tx), §2.4: `[covenant slots, FP slots, staker sig, leaf script, control
 * block]`. The leaf runs `<S> CHECKSIGVERIFY`, then the FP part, then the covenant multisig, and each
 * key pops the top of the stack, so the staker's signature is on top, then the FPs', then the
 * covenants'; keys inside a multisig are in ascending order, so their slots go in descending key
 * order. The covenant slots are those of buildUnbondingWitness (exactly `quorum` filled, the leaf
 * ends in `<q> OP_NUMEQUAL`). The FP part is one `<F> CHECKSIGVERIFY` for a single provider, a 1-of-n
 * multisig ending in `1 OP_NUMEQUALVERIFY` for several: either way exactly one provider signs (the
 * one being slashed, with its own key) and the other providers' slots are empty.
 * @throws {CodedError} STAKING_QUORUM_NOT_MET, STAKING_WITNESS_UNKNOWN_KEY,
 *   STAKING_WITNESS_DUPLICATE_KEY, STAKING_INVALID_SIGNATURE
 */
export function buildSlashingWitness(args: {
  readonly covenantKeys: readonly XOnlyKey[];
  readonly quorum: number;
  readonly covenantSignatures: readonly CovenantSignature[];
  readonly fpKeys: readonly XOnlyKey[];
  readonly fpSignature: CovenantSignature;
  readonly stakerSignature: Uint8Array;
  readonly leaf: Leaf;
}): Uint8Array[] {
  const covenantSlots = quorumSlots('covenant', args.covenantKeys, args.quorum, args.covenantSignatures);
  const fpSlots = quorumSlots('finality-provider', args.fpKeys, 1, [args.fpSignature]);
  assertSignatureLength(args.stakerSignature, 'staker signature');
  return [...covenantSlots, ...fpSlots, args.stakerSignature, args.leaf.script, args.leaf.controlBlock];
}

function assertSignatureLength(signature: Uint8Array, what: string): void {
  if (signature.length !== 64) {
    throw new CodedError('STAKING_INVALID_SIGNATURE', `${what} must be 64 bytes, got ${signature.length}`);
  }
}

/**
 * The slots of a k-of-n multisig (`<k1> CHECKSIG <k2> CHECKSIGADD … <q> NUMEQUAL[VERIFY]`, keys
 * ascending): one per key in descending order, the first `quorum` given signatures in their keys'
 * slots, every other slot empty.
 */
function quorumSlots(
  what: 'covenant' | 'finality-provider',
  keys: readonly XOnlyKey[],
  quorum: number,
  signatures: readonly CovenantSignature[],
): Uint8Array[] {
  const known = new Set(keys.map(toHex));
  const chosen = new Map<string, Uint8Array>();
  for (const { key, signature } of signatures) {
    const hex = toHex(key);
    if (!known.has(hex))
      throw new CodedError('STAKING_WITNESS_UNKNOWN_KEY', `key ${hex} is not a ${what} key`);
    if (chosen.has(hex))
      throw new CodedError('STAKING_WITNESS_DUPLICATE_KEY', `two signatures for ${what} key ${hex}`);
    assertSignatureLength(signature, `signature for ${hex}`);
    if (chosen.size < quorum) chosen.set(hex, signature);
  }
  if (chosen.size < quorum) {
    throw new CodedError(
      'STAKING_QUORUM_NOT_MET',
      `${chosen.size} ${what} signatures given, quorum is ${quorum}`,
    );
  }
  const descending = [...keys].sort(compareBytes).reverse();
  return descending.map((k) => chosen.get(toHex(k)) ?? new Uint8Array(0));
}

/** The witness of a timelock path: `[staker sig, leaf script, control block]`. */
export function buildTimelockWitness(stakerSignature: Uint8Array, leaf: Leaf): Uint8Array[] {
  assertSignatureLength(stakerSignature, 'staker signature');
  return [stakerSignature, leaf.script, leaf.controlBlock];
}
