import { Transaction } from 'bitcoinjs-lib';
import { bytesEqual, CodedError, hashToTxid, txidToHash } from '../common/index.ts';
import type { StakingErrorCode } from './errors.ts';
import { taprootSighashDefault } from './sighash.ts';
import type { Leaf } from './stakingInfo.ts';
import type { UnbondingExpectation } from './unbonding.ts';
import { UNBONDING_SEQUENCE } from './unbonding.ts';

/**
 * How the reference indexer reads a spend of a known staking output (staking-protocol.md §5.4, §6):
 * unbonding when 1-in/1-out with the unbonding leaf revealed; then sequence, lock time and output
 * decide valid or invalid. Otherwise a withdraw when the revealed leaf is the timelock leaf.
 */
export type StakingOutputSpend =
  | { readonly kind: 'unbonding' }
  | { readonly kind: 'invalid-unbonding'; readonly code: StakingErrorCode; readonly reason: string }
  | { readonly kind: 'withdraw' }
  | { readonly kind: 'unknown-spend' };

/** The script a script-path input reveals: witness[len−2], exactly as the reference reads it. */
export function revealedScript(tx: Transaction, inputIndex: number): Uint8Array | undefined {
  const w = tx.ins[inputIndex]?.witness;
  if (!w || w.length < 2) return undefined;
  return w[w.length - 2];
}

/** Whether input `inputIndex` spends `txid:vout`. */
export function spendsOutpoint(tx: Transaction, inputIndex: number, txid: string, vout: number): boolean {
  const i = tx.ins[inputIndex];
  return i !== undefined && i.index === vout && hashToTxid(i.hash) === txid;
}

/**
 * Classifies input `inputIndex` of `tx`, which spends the staking output of `exp`, as the reference
 * indexer does (IsValidUnbondingTx, then ValidateWithdrawalTxFromStaking). The tx version is not
 * checked here, as the indexer does not; the signer's strict check does.
 */
export function classifyStakingOutputSpend(
  tx: Transaction,
  inputIndex: number,
  exp: UnbondingExpectation,
  stakingTimelockLeaf: Leaf,
): StakingOutputSpend {
  const revealed = revealedScript(tx, inputIndex);
  const isTransfer = tx.ins.length === 1 && tx.outs.length === 1;
  if (isTransfer && revealed && bytesEqual(revealed, exp.unbondingLeafScript)) {
    const input = tx.ins[0]!;
    if (input.sequence !== UNBONDING_SEQUENCE || tx.locktime !== 0) {
      return {
        kind: 'invalid-unbonding',
        code:
          input.sequence !== UNBONDING_SEQUENCE ? 'STAKING_UNBONDING_SEQUENCE' : 'STAKING_UNBONDING_LOCKTIME',
        reason: 'unbonding tx must have sequence 0xffffffff and lock time 0',
      };
    }
    const out = tx.outs[0]!;
    if (!bytesEqual(out.script, exp.unbondingInfo.pkScript)) {
      return {
        kind: 'invalid-unbonding',
        code: 'STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT',
        reason: 'unexpected unbonding output script',
      };
    }
    if (out.value !== exp.unbondingValueSat) {
      return {
        kind: 'invalid-unbonding',
        code: 'STAKING_UNBONDING_WRONG_VALUE',
        reason: 'unexpected unbonding output value',
      };
    }
    return { kind: 'unbonding' };
  }
  if (revealed && bytesEqual(revealed, stakingTimelockLeaf.script)) return { kind: 'withdraw' };
  return { kind: 'unknown-spend' };
}

/**
 * Whether input `inputIndex` withdraws from an unbonding output through its timelock leaf
 * (ValidateWithdrawalTxFromUnbonding): the revealed script is the unbonding timelock leaf.
 */
export function isUnbondingTimelockWithdraw(
  tx: Transaction,
  inputIndex: number,
  unbondingTimelockLeaf: Leaf,
): boolean {
  const revealed = revealedScript(tx, inputIndex);
  return revealed !== undefined && bytesEqual(revealed, unbondingTimelockLeaf.script);
}

/**
 * An unsigned withdraw tx through a timelock leaf (§6): version 2 (BIP68 needs it), one input with
 * nSequence = the lock in blocks, one output paying `valueSat − feeSat` to `outputScript`.
 */
export function buildTimelockWithdrawTx(args: {
  readonly prevTxid: string;
  readonly prevVout: number;
  readonly timelockBlocks: number;
  readonly prevValueSat: bigint;
  readonly feeSat: bigint;
  readonly outputScript: Uint8Array;
}): Transaction {
  const value = args.prevValueSat - args.feeSat;
  if (args.feeSat < 0n || value <= 0n) {
    throw new CodedError(
      'STAKING_INVALID_ARGUMENT',
      `fee ${args.feeSat} sat leaves no output from ${args.prevValueSat} sat`,
    );
  }
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(txidToHash(args.prevTxid, 'STAKING_BAD_HEX', 'prevTxid'), args.prevVout, args.timelockBlocks);
  tx.addOutput(args.outputScript, value);
  return tx;
}

/** BIP341 script-path sighash (SIGHASH_DEFAULT) of a single-input spend of a taproot output via `leaf`. */
export function scriptPathSighash(
  tx: Transaction,
  inputIndex: number,
  prevouts: { readonly pkScripts: readonly Uint8Array[]; readonly valuesSat: readonly bigint[] },
  leaf: Leaf,
): Uint8Array {
  if (prevouts.pkScripts.length !== tx.ins.length || prevouts.valuesSat.length !== tx.ins.length) {
    throw new CodedError('STAKING_INVALID_ARGUMENT', 'one prevout script and value is needed per input');
  }
  return taprootSighashDefault(tx, inputIndex, prevouts.pkScripts, prevouts.valuesSat, leaf.leafHash);
}
