import { Transaction } from 'bitcoinjs-lib';
import { bytesEqual, CodedError, hashToTxid, txidToHash, type XOnlyKey } from '../common/index.ts';
import {
  isDustOutput,
  isOpReturnScript,
  type Phase2ParamsVersion,
  parseSlashingRate,
  slashingAmountSat,
} from '../params/index.ts';
import type { StakingErrorCode } from './errors.ts';
import { buildTimelockLeaf } from './leaves.ts';
import { scriptPathSighash } from './spends.ts';
import type { Leaf } from './stakingInfo.ts';
import { controlBlock, isP2trScript, type TaprootOutput, tapLeafHash, taprootOutput } from './taproot.ts';
import { txidOf } from './transaction.ts';

/*
 * Phase-2 slashing transactions: the slashing tx of a staking output and the unbonding-slashing tx
 * of an unbonding output (index 0). One input through the output's slashing leaf; out[0] pays
 * slashing_pk_script at least round(V × rate); out[1] pays the staker's change, time-locked for
 * unbonding_time blocks. Rules S1-S18 of ../shared/reference/phase2-covenant.md §1.2, from
 * babylonlabs-io/babylon@e65c3a5:btcstaking/staking.go (CheckSlashingTxMatchFundingTx :413,
 * validateSlashingTx :326, CheckPreSignedTxSanity :234) and btcd's CheckTransactionSanity.
 */

/** What the slashing rules read from a phase-2 params version. */
export type SlashingParams = Pick<
  Phase2ParamsVersion,
  'slashingPkScript' | 'slashingRate' | 'minSlashingTxFeeSat' | 'unbondingTimeBlocks'
>;

/** nSequence of the slashing input: final, not replaceable (S9). */
export const SLASHING_SEQUENCE = 0xffffffff;
/** What btc-staking-ts and the real testnet delegations use; Go accepts 1 or 2 (S7). */
export const SLASHING_TX_VERSION = 2;
/** btcd/Babylon MaxStandardTxWeight (S8). */
export const MAX_SLASHING_TX_WEIGHT = 400_000;
const MAX_MONEY = 2_100_000_000_000_000n;
const MAX_BLOCK_BASE_SIZE = 1_000_000;

/** A funding output the slashing tx spends: a staking output, or an unbonding tx's output 0. */
export interface FundingOutput {
  readonly txid: string;
  readonly outputIndex: number;
  readonly valueSat: bigint;
  readonly pkScript: Uint8Array;
}

/** The slashing change output: a single-leaf taproot tree over `<staker> CHECKSIGVERIFY <T> CSV`. */
export interface SlashingChangeOutput extends TaprootOutput {
  readonly timelock: Leaf;
}

/**
 * The change output's taproot (BuildRelativeTimelockTaprootScript, btcstaking/types.go:559-600;
 * §1.4): NUMS internal key, one leaf `<staker> OP_CHECKSIGVERIFY <unbonding_time> OP_CSV`, so the
 * merkle root is that leaf's hash. Same for the staking and the unbonding slashing tx.
 * @throws {CodedError} STAKING_INVALID_ARGUMENT for a lock outside [1, 65535]
 */
export function buildSlashingChangeOutput(
  stakerKey: XOnlyKey,
  unbondingTimeBlocks: number,
): SlashingChangeOutput {
  const script = buildTimelockLeaf(stakerKey, unbondingTimeBlocks);
  const leafHash = tapLeafHash(script);
  const out = taprootOutput(leafHash);
  // Field by field, not spread then extended: see buildStakingInfo.
  return {
    outputKey: out.outputKey,
    parity: out.parity,
    pkScript: out.pkScript,
    merkleRoot: out.merkleRoot,
    timelock: { script, leafHash, controlBlock: controlBlock(out, []) },
  };
}

/**
 * The funding output `fundingTx.outs[index]` (Go getPossibleStakingOutput).
 * @throws {CodedError} STAKING_SLASHING_FUNDING_INDEX
 */
export function fundingOutputOf(fundingTx: Transaction, outputIndex: number): FundingOutput {
  const out = Number.isInteger(outputIndex) && outputIndex >= 0 ? fundingTx.outs[outputIndex] : undefined;
  if (!out) {
    throw new CodedError(
      'STAKING_SLASHING_FUNDING_INDEX',
      `funding output index ${outputIndex} is beyond the funding tx's ${fundingTx.outs.length} outputs`,
    );
  }
  return { txid: txidOf(fundingTx), outputIndex, valueSat: out.value, pkScript: out.script };
}

/**
 * Builds the unsigned slashing tx of a funding output (BuildSlashingTxFromStakingTxStrict,
 * staking.go:146; §1.3): out[0] = round(V × rate) to slashing_pk_script, out[1] = V − out[0] − fee
 * to the change output; one input with sequence 0xffffffff, lock time 0. The fee defaults to
 * min_slashing_tx_fee_sat (as btc-staking-ts); the version to 2 (btc-staking-ts and the real
 * delegations; Go's own builder writes 1, which the rules also accept).
 * @throws {CodedError} STAKING_SLASHING_FUNDING_NOT_TAPROOT, STAKING_SLASHING_AMOUNT_NOT_POSITIVE,
 *   STAKING_SLASHING_FEE_TOO_LOW, STAKING_SLASHING_CHANGE_NOT_POSITIVE, STAKING_SLASHING_DUST_OUTPUT,
 *   STAKING_BAD_HEX, STAKING_INVALID_ARGUMENT
 */
export function buildSlashingTx(args: {
  readonly funding: FundingOutput;
  readonly stakerKey: XOnlyKey;
  readonly params: SlashingParams;
  readonly feeSat?: bigint;
  readonly version?: 1 | 2;
}): Transaction {
  const { funding, params } = args;
  const feeSat = args.feeSat ?? params.minSlashingTxFeeSat;
  if (!isP2trScript(funding.pkScript)) {
    throw new CodedError('STAKING_SLASHING_FUNDING_NOT_TAPROOT', 'the funding output is not a P2TR output');
  }
  if (funding.valueSat <= 0n || funding.valueSat > MAX_MONEY) {
    throw new CodedError('STAKING_INVALID_ARGUMENT', `funding value ${funding.valueSat} sat is out of range`);
  }
  const slashSat = slashingAmountSat(funding.valueSat, params.slashingRate);
  if (slashSat <= 0n) {
    throw new CodedError(
      'STAKING_SLASHING_AMOUNT_NOT_POSITIVE',
      `the slashing amount of ${funding.valueSat} sat is 0`,
    );
  }
  if (feeSat < params.minSlashingTxFeeSat) {
    throw new CodedError(
      'STAKING_SLASHING_FEE_TOO_LOW',
      `fee ${feeSat} sat is below min_slashing_tx_fee_sat ${params.minSlashingTxFeeSat}`,
    );
  }
  const changeSat = funding.valueSat - slashSat - feeSat;
  if (changeSat <= 0n) {
    throw new CodedError(
      'STAKING_SLASHING_CHANGE_NOT_POSITIVE',
      `${funding.valueSat} sat does not cover the slashing amount ${slashSat} and the fee ${feeSat}`,
    );
  }
  const change = buildSlashingChangeOutput(args.stakerKey, params.unbondingTimeBlocks);
  const tx = new Transaction();
  tx.version = args.version ?? SLASHING_TX_VERSION;
  tx.locktime = 0;
  tx.addInput(
    txidToHash(funding.txid, 'STAKING_BAD_HEX', 'funding txid'),
    funding.outputIndex,
    SLASHING_SEQUENCE,
  );
  tx.addOutput(params.slashingPkScript, slashSat);
  tx.addOutput(change.pkScript, changeSat);
  for (const out of tx.outs) {
    if (!isOpReturnScript(out.script) && isDustOutput(out.value, out.script)) {
      throw new CodedError(
        'STAKING_SLASHING_DUST_OUTPUT',
        `a slashing tx output of ${out.value} sat would be dust`,
      );
    }
  }
  return tx;
}

function fail(code: StakingErrorCode, message: string): never {
  throw new CodedError(code, message);
}

/**
 * btcd CheckTransactionSanity (blockchain/validate.go:210-296): ≥ 1 input and output, base size
 * ≤ 1,000,000 bytes, output values in [0, 21e14] and their sum too, no duplicate prevouts, a
 * coinbase scriptSig of 2-100 bytes, else no null prevout.
 */
function assertTxSanity(tx: Transaction, code: StakingErrorCode, what: string): void {
  if (tx.ins.length === 0) fail(code, `${what} has no inputs`);
  if (tx.outs.length === 0) fail(code, `${what} has no outputs`);
  if (tx.byteLength(false) > MAX_BLOCK_BASE_SIZE)
    fail(code, `${what} is larger than ${MAX_BLOCK_BASE_SIZE} bytes`);
  let total = 0n;
  for (const out of tx.outs) {
    if (out.value < 0n || out.value > MAX_MONEY)
      fail(code, `${what} has an output value of ${out.value} sat`);
    total += out.value;
    if (total > MAX_MONEY) fail(code, `${what} pays more than 21e14 sat in total`);
  }
  const seen = new Set<string>();
  for (const input of tx.ins) {
    const outpoint = `${hashToTxid(input.hash)}:${input.index}`;
    if (seen.has(outpoint)) fail(code, `${what} spends ${outpoint} twice`);
    seen.add(outpoint);
  }
  const isNull = (i: (typeof tx.ins)[number]): boolean =>
    i.index === 0xffffffff && i.hash.every((b) => b === 0);
  if (tx.ins.length === 1 && isNull(tx.ins[0]!)) {
    const len = tx.ins[0]!.script.length;
    if (len < 2 || len > 100) fail(code, `${what} is a coinbase with a ${len}-byte script`);
  } else if (tx.ins.some(isNull)) {
    fail(code, `${what} spends a null outpoint`);
  }
}

/**
 * The full check of a slashing tx against its funding tx (CheckSlashingTxMatchFundingTx,
 * staking.go:413; §1.2), in Go's order, one code per rule. For the staking slashing tx the funding
 * tx is the staking tx and the index the staking output's; for the unbonding-slashing tx it is
 * the unbonding tx and index 0 (validate_parsed_message.go:78-90, 143-156). The change lock time
 * is params.unbonding_time_blocks, which the chain forces the delegation's unbonding_time to equal.
 * @throws {CodedError} STAKING_SLASHING_* (see staking/README.md)
 */
export function assertSlashingTxMatchesFundingTx(
  slashingTx: Transaction,
  fundingTx: Transaction,
  fundingOutputIndex: number,
  stakerKey: XOnlyKey,
  params: SlashingParams,
): void {
  // S1: the funding tx is sane.
  assertTxSanity(fundingTx, 'STAKING_SLASHING_FUNDING_TX_INSANE', 'the funding tx');
  // S2: min fee > 0 and a valid rate (the parsed params guarantee both; checked again as Go does).
  if (params.minSlashingTxFeeSat <= 0n) {
    fail('STAKING_SLASHING_MIN_FEE_INVALID', 'min_slashing_tx_fee_sat must be above 0');
  }
  const rate = parseSlashingRate(params.slashingRate.decimal, 'STAKING_SLASHING_RATE_INVALID');
  if (rate.float64 !== params.slashingRate.float64 || rate.basisPoints !== params.slashingRate.basisPoints) {
    fail('STAKING_SLASHING_RATE_INVALID', 'the slashing rate does not match its decimal');
  }
  // S3: the funding output exists.
  const funding = fundingOutputOf(fundingTx, fundingOutputIndex);
  const V = funding.valueSat;

  // S4-S9: CheckPreSignedTxSanity(tx, 1, 2, 1, 2).
  assertTxSanity(slashingTx, 'STAKING_SLASHING_TX_INSANE', 'the slashing tx');
  if (slashingTx.ins.length !== 1) {
    fail(
      'STAKING_SLASHING_INPUT_COUNT',
      `a slashing tx must have exactly 1 input, got ${slashingTx.ins.length}`,
    );
  }
  if (slashingTx.outs.length !== 2) {
    fail(
      'STAKING_SLASHING_OUTPUT_COUNT',
      `a slashing tx must have exactly 2 outputs, got ${slashingTx.outs.length}`,
    );
  }
  if (slashingTx.locktime !== 0) {
    fail('STAKING_SLASHING_LOCKTIME', `a slashing tx must have lock time 0, got ${slashingTx.locktime}`);
  }
  if (slashingTx.version < 1 || slashingTx.version > 2) {
    fail('STAKING_SLASHING_VERSION', `a slashing tx must have version 1 or 2, got ${slashingTx.version}`);
  }
  const weight = slashingTx.weight();
  if (weight > MAX_SLASHING_TX_WEIGHT) {
    fail(
      'STAKING_SLASHING_TOO_HEAVY',
      `the slashing tx weighs ${weight} WU, more than ${MAX_SLASHING_TX_WEIGHT}`,
    );
  }
  const input = slashingTx.ins[0]!;
  if (input.sequence !== SLASHING_SEQUENCE) {
    fail(
      'STAKING_SLASHING_SEQUENCE',
      `the slashing input's sequence must be 0xffffffff, got 0x${input.sequence.toString(16)}`,
    );
  }
  if (input.script.length !== 0)
    fail('STAKING_SLASHING_SCRIPTSIG', 'the slashing input must have an empty scriptSig');

  const [slashOut, changeOut] = [slashingTx.outs[0]!, slashingTx.outs[1]!];
  // S10: out[0] ≥ round(float64(V) × rate), half-up on the float64 product (§1.3).
  const minSlash = slashingAmountSat(V, rate);
  if (slashOut.value < minSlash) {
    fail(
      'STAKING_SLASHING_AMOUNT_TOO_LOW',
      `out[0] pays ${slashOut.value} sat, less than ${minSlash} (${V} × ${rate.decimal})`,
    );
  }
  // S11: out[0] pays slashing_pk_script exactly.
  if (!bytesEqual(slashOut.script, params.slashingPkScript)) {
    fail('STAKING_SLASHING_WRONG_SLASHING_SCRIPT', 'out[0] does not pay slashing_pk_script');
  }
  // S12: out[1] pays the staker's change taproot with the unbonding time lock.
  const change = buildSlashingChangeOutput(stakerKey, params.unbondingTimeBlocks);
  if (!bytesEqual(changeOut.script, change.pkScript)) {
    fail(
      'STAKING_SLASHING_WRONG_CHANGE_SCRIPT',
      'out[1] does not pay the staker change output with the unbonding time lock',
    );
  }
  // S13: no dust, OP_RETURN outputs excepted.
  for (const [i, out] of slashingTx.outs.entries()) {
    if (!isOpReturnScript(out.script) && isDustOutput(out.value, out.script)) {
      fail('STAKING_SLASHING_DUST_OUTPUT', `out[${i}] of ${out.value} sat is dust`);
    }
  }
  // S14: out[0] > 0 and V > 0.
  if (slashOut.value <= 0n || V <= 0n) {
    fail(
      'STAKING_SLASHING_ZERO_VALUE',
      'the slashing output and the funding output must both be above 0 sat',
    );
  }
  // S15: the outputs spend less than V, so the fee is positive.
  const outSum = slashOut.value + changeOut.value;
  if (V <= outSum)
    fail('STAKING_SLASHING_OVERSPEND', `the outputs pay ${outSum} sat, not less than the funding ${V}`);
  // S16: fee ≥ min_slashing_tx_fee_sat (no upper bound).
  if (V - outSum < params.minSlashingTxFeeSat) {
    fail(
      'STAKING_SLASHING_FEE_TOO_LOW',
      `fee ${V - outSum} sat is below min_slashing_tx_fee_sat ${params.minSlashingTxFeeSat}`,
    );
  }
  // S17, S18: the input spends exactly the funding output.
  if (hashToTxid(input.hash) !== funding.txid) {
    fail(
      'STAKING_SLASHING_WRONG_INPUT_TXID',
      `the slashing input spends tx ${hashToTxid(input.hash)}, not ${funding.txid}`,
    );
  }
  if (input.index !== fundingOutputIndex) {
    fail(
      'STAKING_SLASHING_WRONG_INPUT_INDEX',
      `the slashing input spends output ${input.index}, not ${fundingOutputIndex}`,
    );
  }
}

/**
 * What a covenant member adaptor-signs for a slashing tx: the BIP341 script-path sighash of input
 * 0 over `slashingLeaf` (the funding output's slashing leaf), SIGHASH_DEFAULT, with the funding
 * output as the only prevout (EncSignTxWithOneScriptSpendInputStrict, staking.go:689-711; §1.6).
 * First the reference signer's guard (checkTxBeforeSigning, staking.go:719-743): exactly one input,
 * spending fundingTx's output `fundingOutputIndex`.
 * @throws {CodedError} STAKING_SLASHING_INPUT_COUNT, STAKING_SLASHING_FUNDING_INDEX,
 *   STAKING_SLASHING_WRONG_INPUT_TXID, STAKING_SLASHING_WRONG_INPUT_INDEX
 */
export function slashingSighash(
  slashingTx: Transaction,
  fundingTx: Transaction,
  fundingOutputIndex: number,
  slashingLeaf: Leaf,
): Uint8Array {
  if (slashingTx.ins.length !== 1) {
    fail(
      'STAKING_SLASHING_INPUT_COUNT',
      `a slashing tx must have exactly 1 input, got ${slashingTx.ins.length}`,
    );
  }
  const funding = fundingOutputOf(fundingTx, fundingOutputIndex);
  const input = slashingTx.ins[0]!;
  if (hashToTxid(input.hash) !== funding.txid) {
    fail('STAKING_SLASHING_WRONG_INPUT_TXID', 'the slashing input does not spend the funding tx');
  }
  if (input.index !== fundingOutputIndex) {
    fail('STAKING_SLASHING_WRONG_INPUT_INDEX', 'the slashing input does not spend the funding output');
  }
  return scriptPathSighash(
    slashingTx,
    0,
    { pkScripts: [funding.pkScript], valuesSat: [funding.valueSat] },
    slashingLeaf,
  );
}
