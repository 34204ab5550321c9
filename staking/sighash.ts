import type { Transaction } from 'bitcoinjs-lib';
import { sha256 } from '../common/index.ts';
import { taggedHash } from './taproot.ts';
import {
  compactSizeLength,
  hashWriter,
  MAX_I64,
  outputsLength,
  TxWriter,
  writeOutputs,
} from './transaction.ts';

/**
 * The BIP341 signature hash with SIGHASH_DEFAULT: staking/'s one implementation, byte for byte what
 * bitcoinjs's `hashForWitnessV1(…, SIGHASH_DEFAULT, leafHash)` gives (sighash.test.ts holds it to
 * that on random transactions), with the same argument checks. Why not bitcoinjs's own: it hashes
 * in JavaScript (@noble/hashes) where `common`'s sha256 is OpenSSL under Node, several times
 * faster, and it validates its arguments with a schema at every call; every unbonding decision
 * hashes one.
 */

/** `hashForWitnessV1`'s refusal when the prevouts do not match the inputs (its message). */
const PREVOUTS_MISMATCH = 'Must supply prevout script and value for all inputs';
const EXT_FLAG_SCRIPT_PATH = 2;
const KEY_VERSION_0 = 0;
const NO_CODESEPARATOR = 0xffffffff;

/**
 * BIP341 SigMsg hash with SIGHASH_DEFAULT of input `inIndex` (BIP342's extension with `leafHash`
 * for a script-path spend, key path without): `tagged_hash("TapSighash", 0x00 ‖ SigMsg)`. What every
 * staking/ signature (unbonding, slashing, stake expansion, withdraw) signs and verifies.
 * @throws {Error} as hashForWitnessV1: an input index or an amount out of range, fewer or more
 *   prevouts than inputs, no output
 */
export function taprootSighashDefault(
  tx: Transaction,
  inIndex: number,
  prevOutScripts: readonly Uint8Array[],
  values: readonly bigint[],
  leafHash?: Uint8Array,
): Uint8Array {
  if (!Number.isInteger(inIndex) || inIndex < 0 || inIndex > 0xffffffff)
    throw new TypeError(`Invalid input index: ${inIndex}`);
  for (const s of prevOutScripts)
    if (!(s instanceof Uint8Array)) throw new TypeError('Invalid prevout script: expected a Uint8Array');
  for (const v of values) {
    if (typeof v !== 'bigint' || v < 0n || v > MAX_I64)
      throw new TypeError(`Invalid prevout value: ${String(v)}`);
  }
  if (leafHash && leafHash.length !== 32) throw new TypeError('a leaf hash must be 32 bytes');
  const n = tx.ins.length;
  if (values.length !== n || prevOutScripts.length !== n) throw new Error(PREVOUTS_MISMATCH);
  if (tx.outs.length === 0) throw new Error('Add outputs to the transaction before signing.');

  const prevouts = new TxWriter(36 * n);
  const amounts = new TxWriter(8 * n);
  const sequences = new TxWriter(4 * n);
  let scriptsLength = 0;
  for (const s of prevOutScripts) scriptsLength += compactSizeLength(s.length) + s.length;
  const scripts = new TxWriter(scriptsLength);
  for (let i = 0; i < n; i++) {
    const input = tx.ins[i]!;
    prevouts.outpointHash(input.hash);
    prevouts.u32(input.index);
    amounts.i64(values[i]!);
    scripts.varSlice(prevOutScripts[i]!);
    sequences.u32(input.sequence);
  }
  const shaPrevouts = sha256(prevouts.bytes);
  const shaAmounts = sha256(amounts.bytes);
  const shaScripts = sha256(scripts.bytes);
  const shaSequences = sha256(sequences.bytes);
  // The outputs and the message are hashed as soon as written (hashWriter: no new ArrayBuffer).
  const outputs = hashWriter(outputsLength(tx.outs));
  writeOutputs(outputs, tx.outs);
  const shaOutputs = sha256(outputs.bytes);

  // 0x00 (epoch) ‖ hash_type ‖ version ‖ locktime ‖ 5 hashes ‖ spend_type ‖ input index [‖ ext].
  const msg = hashWriter(1 + 1 + 4 + 4 + 5 * 32 + 1 + 4 + (leafHash ? 37 : 0));
  msg.u8(0);
  msg.u8(0); // SIGHASH_DEFAULT
  msg.u32(tx.version);
  msg.u32(tx.locktime);
  msg.raw(shaPrevouts);
  msg.raw(shaAmounts);
  msg.raw(shaScripts);
  msg.raw(shaSequences);
  msg.raw(shaOutputs);
  msg.u8(leafHash ? EXT_FLAG_SCRIPT_PATH : 0);
  msg.u32(inIndex);
  if (leafHash) {
    msg.raw(leafHash);
    msg.u8(KEY_VERSION_0);
    msg.u32(NO_CODESEPARATOR);
  }
  return taggedHash('TapSighash', msg.bytes);
}
