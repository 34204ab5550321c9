import { Transaction } from 'bitcoinjs-lib';
import { bytesEqual, CodedError, ecc, hashToTxid, txidToHash, type XOnlyKey } from '../common/index.ts';
import type { ParamsVersion } from '../params/index.ts';
import type { StakingTxData } from './identify.ts';
import { buildUnbondingLeaf } from './leaves.ts';
import { taprootSighashDefault } from './sighash.ts';
import { buildUnbondingInfo, type StakingInfo, type UnbondingInfo } from './stakingInfo.ts';

/** nSequence of the unbonding input: final, so the tx is not replaceable (§5.1). */
export const UNBONDING_SEQUENCE = 0xffffffff;
export const UNBONDING_TX_VERSION = 2;
/**
 * Far above a fully signed unbonding tx with 20 covenant keys (~2,600 WU), far below anything
 * that could burden a signer: a request carrying a huge witness is refused before any work.
 */
export const MAX_UNBONDING_TX_WEIGHT = 10_000;

/** The staking output an unbonding tx spends, and the unbonding output it must create. */
export interface UnbondingExpectation {
  readonly stakingTxid: string;
  readonly stakingOutputIndex: number;
  readonly stakingValueSat: bigint;
  readonly stakingPkScript: Uint8Array;
  /** The staking output's unbonding leaf: what the staker and the covenants sign. */
  readonly unbondingLeafScript: Uint8Array;
  readonly unbondingLeafHash: Uint8Array;
  readonly unbondingInfo: UnbondingInfo;
  readonly unbondingValueSat: bigint;
  readonly unbondingFeeSat: bigint;
}

/**
 * The fee-cover rule (§5.1): the unbonding output carries the staking value − unbonding_fee, which
 * must be above 0. The value, or undefined when the stake cannot pay its unbonding fee. (Params
 * validation makes min_staking_amount ≥ fee + 1,000 sat, so only a stake outside the params'
 * range can fail it.)
 */
export function unbondingValueOf(
  stakingValueSat: bigint,
  params: Pick<ParamsVersion, 'unbondingFeeSat'>,
): bigint | undefined {
  const v = stakingValueSat - params.unbondingFeeSat;
  return v > 0n ? v : undefined;
}

/**
 * The facts of a staking output that its unbonding expectation is built from: a parsed staking tx
 * (`StakingTxData`) has them all; a stored delegation has all but `stakingInfo`, which it may then
 * give as a getter that builds it (one EC tweak): it is read only on first use.
 */
export interface StakingOutputFacts {
  readonly stakerKey: XOnlyKey;
  readonly fpKey: XOnlyKey;
  readonly stakingTime: number;
  readonly valueSat: bigint;
  readonly stakingOutputIndex: number;
  readonly stakingInfo: StakingInfo;
}

/**
 * What an unbonding tx of an identified staking tx must look like under the params of the staking
 * tx's inclusion height (§5.1): value = staking value − unbonding_fee (`unbondingValueOf`), script
 * = the unbonding tree with U = unbonding_time. Every service that recognises or checks an
 * unbonding tx builds its expectation here. The taproot parts (the staking output's script and
 * leaf hash, the unbonding output) are built on first read, so a caller that only compares leaf
 * scripts (the indexer, for every spend of a tracked output) costs no EC operation.
 * @throws {CodedError} STAKING_UNBONDING_VALUE_TOO_LOW
 */
export function expectUnbonding(
  stakingTxid: string,
  data: StakingTxData | StakingOutputFacts,
  params: ParamsVersion,
): UnbondingExpectation {
  const unbondingValueSat = unbondingValueOf(data.valueSat, params);
  if (unbondingValueSat === undefined) {
    throw new CodedError(
      'STAKING_UNBONDING_VALUE_TOO_LOW',
      `staking value ${data.valueSat} sat does not cover the unbonding fee ${params.unbondingFeeSat} sat`,
    );
  }
  return new Expectation(stakingTxid, data, params, unbondingValueSat);
}

/**
 * An UnbondingExpectation whose taproot parts are built on first read. A class with its getters on
 * the prototype, not an object literal with getters: in Node 20's V8 a literal's own getters, new
 * closures at every call, kept everything they captured (the staking tx's data, the unbonding
 * output) alive through two scavenges, so a tenth of what a signer request allocates reached the
 * old generation (signer/README.md, Performance). Being getters on the prototype, the taproot parts
 * are not copied by a spread: build a changed expectation field by field.
 */
class Expectation implements UnbondingExpectation {
  readonly stakingTxid: string;
  readonly stakingOutputIndex: number;
  readonly stakingValueSat: bigint;
  readonly unbondingValueSat: bigint;
  readonly unbondingFeeSat: bigint;
  readonly #data: StakingOutputFacts;
  readonly #params: ParamsVersion;
  #leafScript: Uint8Array | undefined;
  #info: UnbondingInfo | undefined;

  constructor(
    stakingTxid: string,
    data: StakingOutputFacts,
    params: ParamsVersion,
    unbondingValueSat: bigint,
  ) {
    this.stakingTxid = stakingTxid;
    this.stakingOutputIndex = data.stakingOutputIndex;
    this.stakingValueSat = data.valueSat;
    this.unbondingValueSat = unbondingValueSat;
    this.unbondingFeeSat = params.unbondingFeeSat;
    this.#data = data;
    this.#params = params;
  }

  get stakingPkScript(): Uint8Array {
    return this.#data.stakingInfo.pkScript;
  }

  get unbondingLeafHash(): Uint8Array {
    return this.#data.stakingInfo.unbonding.leafHash;
  }

  /** No EC operation. */
  get unbondingLeafScript(): Uint8Array {
    this.#leafScript ??= buildUnbondingLeaf(
      this.#data.stakerKey,
      this.#params.covenantKeys,
      this.#params.covenantQuorum,
    );
    return this.#leafScript;
  }

  /** One EC tweak, at the first read. */
  get unbondingInfo(): UnbondingInfo {
    this.#info ??= buildUnbondingInfo(
      {
        stakerKey: this.#data.stakerKey,
        fpKeys: [this.#data.fpKey],
        covenantKeys: this.#params.covenantKeys,
        covenantQuorum: this.#params.covenantQuorum,
      },
      this.#params.unbondingTime,
    );
    return this.#info;
  }
}

/**
 * The unsigned unbonding tx: version 2, one input spending the staking output with sequence
 * 0xffffffff and an empty scriptSig, one output, lock time 0 (§5.1; the vectors' layout).
 */
export function buildUnbondingTx(
  exp: Pick<
    UnbondingExpectation,
    'stakingTxid' | 'stakingOutputIndex' | 'unbondingInfo' | 'unbondingValueSat'
  >,
): Transaction {
  const tx = new Transaction();
  tx.version = UNBONDING_TX_VERSION;
  tx.locktime = 0;
  tx.addInput(
    txidToHash(exp.stakingTxid, 'STAKING_BAD_HEX', 'stakingTxid'),
    exp.stakingOutputIndex,
    UNBONDING_SEQUENCE,
  );
  tx.addOutput(exp.unbondingInfo.pkScript, exp.unbondingValueSat);
  return tx;
}

/**
 * The checks that need no chain data: exactly 1 input and 1 output, version 2, lock time 0,
 * sequence 0xffffffff, an empty scriptSig, and a weight bound. The signer runs these before any
 * lookup, so a malformed request costs it nothing.
 * @throws {CodedError} STAKING_UNBONDING_INPUT_COUNT, _OUTPUT_COUNT, _VERSION, _LOCKTIME,
 *   _SEQUENCE, _SCRIPTSIG, _TOO_HEAVY
 */
export function assertUnbondingShape(tx: Transaction): void {
  if (tx.ins.length !== 1) {
    throw new CodedError(
      'STAKING_UNBONDING_INPUT_COUNT',
      `unbonding tx must have exactly 1 input, got ${tx.ins.length}`,
    );
  }
  if (tx.outs.length !== 1) {
    throw new CodedError(
      'STAKING_UNBONDING_OUTPUT_COUNT',
      `unbonding tx must have exactly 1 output, got ${tx.outs.length}`,
    );
  }
  if (tx.version !== UNBONDING_TX_VERSION) {
    throw new CodedError('STAKING_UNBONDING_VERSION', `unbonding tx version must be 2, got ${tx.version}`);
  }
  if (tx.locktime !== 0) {
    throw new CodedError(
      'STAKING_UNBONDING_LOCKTIME',
      `unbonding tx lock time must be 0, got ${tx.locktime}`,
    );
  }
  const input = tx.ins[0]!;
  if (input.sequence !== UNBONDING_SEQUENCE) {
    throw new CodedError(
      'STAKING_UNBONDING_SEQUENCE',
      `unbonding input sequence must be 0xffffffff, got 0x${input.sequence.toString(16)}`,
    );
  }
  if (input.script.length !== 0) {
    throw new CodedError('STAKING_UNBONDING_SCRIPTSIG', 'unbonding input scriptSig must be empty');
  }
  const weight = tx.weight();
  if (weight > MAX_UNBONDING_TX_WEIGHT) {
    throw new CodedError(
      'STAKING_UNBONDING_TOO_HEAVY',
      `unbonding tx weighs ${weight} WU, more than ${MAX_UNBONDING_TX_WEIGHT}`,
    );
  }
}

/**
 * Checks an unbonding tx strictly, each rule with its own code, in order: the shape
 * (assertUnbondingShape), then the input spends exactly the staking output, and the output is
 * exactly the expected script and value (so the fee is exactly unbonding_fee).
 * @throws {CodedError} STAKING_UNBONDING_* codes
 */
export function assertUnbondingTx(tx: Transaction, exp: UnbondingExpectation): void {
  assertUnbondingShape(tx);
  const input = tx.ins[0]!;
  const spentTxid = hashToTxid(input.hash);
  if (spentTxid !== exp.stakingTxid || input.index !== exp.stakingOutputIndex) {
    throw new CodedError(
      'STAKING_UNBONDING_WRONG_INPUT',
      `unbonding input spends ${spentTxid}:${input.index}, not the staking output ${exp.stakingTxid}:${exp.stakingOutputIndex}`,
    );
  }
  const output = tx.outs[0]!;
  if (!bytesEqual(output.script, exp.unbondingInfo.pkScript)) {
    throw new CodedError(
      'STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT',
      'unbonding output does not pay the expected unbonding script',
    );
  }
  if (output.value !== exp.unbondingValueSat) {
    throw new CodedError(
      'STAKING_UNBONDING_WRONG_VALUE',
      `unbonding output value ${output.value} sat must be ${exp.unbondingValueSat} (staking value ${exp.stakingValueSat} − fee ${exp.unbondingFeeSat})`,
    );
  }
}

/**
 * BIP341 script-path sighash of input 0 over the staking output's unbonding leaf with
 * SIGHASH_DEFAULT (§5.2): what the staker and every covenant member sign.
 */
export function unbondingSighash(
  tx: Transaction,
  exp: Pick<UnbondingExpectation, 'stakingPkScript' | 'stakingValueSat' | 'unbondingLeafHash'>,
): Uint8Array {
  if (tx.ins.length !== 1) {
    throw new CodedError(
      'STAKING_UNBONDING_INPUT_COUNT',
      `unbonding tx must have exactly 1 input, got ${tx.ins.length}`,
    );
  }
  return taprootSighashDefault(tx, 0, [exp.stakingPkScript], [exp.stakingValueSat], exp.unbondingLeafHash);
}

/**
 * BIP340-verifies a 64-byte signature over a sighash. Never throws: a 65-byte signature (explicit
 * sighash byte), a bad length or a bad key is simply false, as Go's schnorr.ParseSignature refuses it.
 */
export function verifySchnorr(
  sighash: Uint8Array,
  key: XOnlyKey | Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== 64 || sighash.length !== 32 || key.length !== 32) return false;
  try {
    return ecc.verifySchnorr(sighash, key, signature);
  } catch {
    return false;
  }
}

/** Whether the staker's signature over the unbonding leaf verifies (§5.2). */
export function verifyStakerUnbondingSignature(
  tx: Transaction,
  exp: UnbondingExpectation,
  stakerKey: XOnlyKey,
  signature: Uint8Array,
): boolean {
  if (tx.ins.length !== 1) return false;
  return verifySchnorr(unbondingSighash(tx, exp), stakerKey, signature);
}
