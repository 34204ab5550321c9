import type { Transaction } from 'bitcoinjs-lib';
import { CodedError, concatBytes, hashToTxid, parseHex, toHex, type XOnlyKey } from '../common/index.ts';
import { scriptPathSighash } from './spends.ts';
import type { Leaf } from './stakingInfo.ts';

/*
 * Phase-2 stake expansion (../shared/reference/phase2-covenant.md §5): a new staking tx that spends
 * the previous delegation's staking output (input 0, through that output's unbonding leaf, signed
 * by the previous committee) and one other funding output (input 1). The rules here are the pure
 * ones: the chain's MsgBtcStakeExpand parsing (babylonlabs-io/babylon@e65c3a5:x/btcstaking/types/
 * msg.go:139-187), its amount and committee-overlap checks (x/btcstaking/keeper/msg_server.go:
 * 140-208, 699-762), the emulator's stakeExpValidateBasic (babylonlabs-io/covenant-emulator@cdb5178:
 * covenant/covenant.go:366-398), and what the covenant signs (btcstaking/staking.go:543-593).
 * Chain-state rules (previous delegation ACTIVE, same staker address and FP, the funding output
 * not a known staking output) need the chain and stay with the caller.
 */

/** A transaction output: what `other_funding_output_hex` carries. */
export interface TxOutput {
  readonly valueSat: bigint;
  readonly pkScript: Uint8Array;
}

/**
 * Parses a serialized TxOut: 8-byte little-endian value ‖ CompactSize length ‖ pkScript (btcd
 * wire.ReadTxOut; staking.go:928-949), as the signer receives `other_funding_output_hex`. Stricter
 * than Go's DeserializeTxOut, which ignores trailing bytes: here they are refused.
 * @throws {CodedError} STAKING_TXOUT_MALFORMED
 */
export function parseTxOut(input: string | Uint8Array): TxOutput {
  const b =
    typeof input === 'string'
      ? parseHex(input, 'txout', 'STAKING_TXOUT_MALFORMED', { maxBytes: 10_100 })
      : input;
  const bad = (why: string): never => {
    throw new CodedError('STAKING_TXOUT_MALFORMED', `a serialized output ${why}`);
  };
  if (b.length < 9) bad('is shorter than 9 bytes');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const valueSat = view.getBigInt64(0, true);
  let p = 8;
  const first = b[p]!;
  let len: number;
  if (first < 0xfd) {
    len = first;
    p += 1;
  } else if (first === 0xfd && b.length >= p + 3) {
    len = view.getUint16(p + 1, true);
    if (len < 0xfd) bad('has a non-canonical script length');
    p += 3;
  } else {
    return bad('has a script length beyond 65535 bytes or truncated');
  }
  if (p + len !== b.length) bad(p + len > b.length ? 'is truncated' : 'has bytes after its script');
  return Object.freeze({ valueSat, pkScript: b.slice(p, p + len) });
}

/** The serialization parseTxOut reads (the emulator's `other_funding_output_hex`). */
export function serializeTxOut(out: TxOutput): Uint8Array {
  const value = new Uint8Array(8);
  new DataView(value.buffer).setBigInt64(0, out.valueSat, true);
  const n = out.pkScript.length;
  const len = n < 0xfd ? Uint8Array.of(n) : Uint8Array.of(0xfd, n & 0xff, n >>> 8);
  return concatBytes(value, len, out.pkScript);
}

/** What a stake-expansion tx must spend and keep. */
export interface StakeExpansionExpectation {
  /** `stk_exp.previous_staking_tx_hash_hex`. */
  readonly previousStakingTxid: string;
  /** The previous delegation's `staking_output_idx`. */
  readonly previousStakingOutputIndex: number;
  /** The previous delegation's `total_sat`. */
  readonly previousStakingValueSat: bigint;
  /** `stk_exp.other_funding_tx_out_hex`, parsed. */
  readonly otherFundingOutput: TxOutput;
  /** txid of the funding tx, when known (the chain has it; the emulator's request does not). */
  readonly fundingTxid?: string;
  /** The new delegation's `staking_output_idx` in the expansion tx. */
  readonly newStakingOutputIndex: number;
}

/**
 * The pure stake-expansion rules, in the chain's order (§5.1, §5.3): exactly 2 inputs; input 0
 * spends the previous staking tx (msg.go:159-161) at the previous staking output index
 * (msg_server.go:177-180; the emulator forgets this one); input 1 spends the funding tx when its
 * txid is given (msg.go:164-167); the other funding output is above 0 sat (msg.go:175-178); the
 * new staking value is not below the previous one, and (previous value + funding value) − Σ
 * outputs > 0 (validateStakeExpansionAmt, msg_server.go:730-762).
 * @throws {CodedError} STAKING_EXPANSION_* codes, STAKING_INVALID_ARGUMENT (output index)
 */
export function assertStakeExpansionTx(tx: Transaction, exp: StakeExpansionExpectation): void {
  if (tx.ins.length !== 2) {
    throw new CodedError(
      'STAKING_EXPANSION_INPUT_COUNT',
      `a stake-expansion tx must have exactly 2 inputs, got ${tx.ins.length}`,
    );
  }
  const [prev, other] = [tx.ins[0]!, tx.ins[1]!];
  if (hashToTxid(prev.hash) !== exp.previousStakingTxid.toLowerCase()) {
    throw new CodedError(
      'STAKING_EXPANSION_WRONG_PREVIOUS_TXID',
      'input 0 does not spend the previous staking tx',
    );
  }
  if (prev.index !== exp.previousStakingOutputIndex) {
    throw new CodedError(
      'STAKING_EXPANSION_WRONG_PREVIOUS_INDEX',
      `input 0 spends output ${prev.index}, not the previous staking output ${exp.previousStakingOutputIndex}`,
    );
  }
  if (exp.fundingTxid !== undefined && hashToTxid(other.hash) !== exp.fundingTxid.toLowerCase()) {
    throw new CodedError('STAKING_EXPANSION_WRONG_FUNDING_TXID', 'input 1 does not spend the funding tx');
  }
  if (exp.otherFundingOutput.valueSat <= 0n) {
    throw new CodedError('STAKING_EXPANSION_FUNDING_VALUE', 'the other funding output must be above 0 sat');
  }
  const staking = tx.outs[exp.newStakingOutputIndex];
  if (!Number.isInteger(exp.newStakingOutputIndex) || !staking) {
    throw new CodedError(
      'STAKING_INVALID_ARGUMENT',
      `the expansion tx has no output ${exp.newStakingOutputIndex}`,
    );
  }
  if (staking.value < exp.previousStakingValueSat) {
    throw new CodedError(
      'STAKING_EXPANSION_VALUE_DECREASED',
      `the new staking output holds ${staking.value} sat, less than the previous ${exp.previousStakingValueSat}`,
    );
  }
  const inputs = exp.previousStakingValueSat + exp.otherFundingOutput.valueSat;
  const outputs = tx.outs.reduce((sum, o) => sum + o.value, 0n);
  if (inputs - outputs <= 0n) {
    throw new CodedError(
      'STAKING_EXPANSION_NO_FEE',
      `inputs ${inputs} sat do not exceed outputs ${outputs} sat`,
    );
  }
}

/**
 * Whether at least `requiredOverlap` keys of the old committee are in the new one
 * (hasSufficientCovenantOverlap, msg_server.go:699-727; the chain passes the previous params'
 * quorum). False for a zero requirement or an empty committee, as in Go.
 */
export function hasCovenantOverlap(
  oldKeys: readonly XOnlyKey[],
  newKeys: readonly XOnlyKey[],
  requiredOverlap: number,
): boolean {
  if (requiredOverlap <= 0 || oldKeys.length === 0 || newKeys.length === 0) return false;
  const fresh = new Set(newKeys.map(toHex));
  let common = 0;
  for (const k of new Set(oldKeys.map(toHex))) if (fresh.has(k) && ++common >= requiredOverlap) return true;
  return false;
}

/**
 * @throws {CodedError} STAKING_EXPANSION_COMMITTEE_OVERLAP unless hasCovenantOverlap holds.
 */
export function assertCovenantOverlap(
  oldKeys: readonly XOnlyKey[],
  newKeys: readonly XOnlyKey[],
  requiredOverlap: number,
): void {
  if (!hasCovenantOverlap(oldKeys, newKeys, requiredOverlap)) {
    throw new CodedError(
      'STAKING_EXPANSION_COMMITTEE_OVERLAP',
      `fewer than ${requiredOverlap} members of the previous committee are in the current one`,
    );
  }
}

/**
 * What a covenant member signs for a stake expansion (§5.2): BIP341 script-path sighash of input 0
 * over the previous staking output's unbonding leaf (built with the previous params' committee and
 * quorum), SIGHASH_DEFAULT, with both prevouts: the previous staking output and the other funding
 * output (SignTxForFirstScriptSpendWithTwoInputsFromTapLeaf, staking.go:555-593). The result is a
 * plain 64-byte BIP340 signature, not an adaptor signature.
 * @throws {CodedError} STAKING_EXPANSION_INPUT_COUNT
 */
export function stakeExpansionSighash(
  tx: Transaction,
  previousStakingOutput: TxOutput,
  otherFundingOutput: TxOutput,
  previousUnbondingLeaf: Leaf,
): Uint8Array {
  if (tx.ins.length !== 2) {
    throw new CodedError(
      'STAKING_EXPANSION_INPUT_COUNT',
      `a stake-expansion tx must have exactly 2 inputs, got ${tx.ins.length}`,
    );
  }
  return scriptPathSighash(
    tx,
    0,
    {
      pkScripts: [previousStakingOutput.pkScript, otherFundingOutput.pkScript],
      valuesSat: [previousStakingOutput.valueSat, otherFundingOutput.valueSat],
    },
    previousUnbondingLeaf,
  );
}
