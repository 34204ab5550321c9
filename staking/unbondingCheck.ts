import type { Transaction } from 'bitcoinjs-lib';
import { bytesEqual, CodedError, hashToTxid, isCodedError, toHex } from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import { assertStakingTxInRange, parseStakingTx, type StakingTxData } from './identify.ts';
import { txidOf } from './transaction.ts';
import {
  assertUnbondingShape,
  assertUnbondingTx,
  expectUnbonding,
  type UnbondingExpectation,
  unbondingSighash,
  verifySchnorr,
} from './unbonding.ts';

/**
 * The one full check of an unbonding request (§4.3–§5.2): the covenant signer's, which is the
 * strictest. The API (before it stores a request), the pipeline (before it asks the signers) and
 * the signer (before it signs) all call it; a service that checks less passes an explicit option
 * and says why where it does.
 */

/** What a staker asks for: this staking tx's output unbonded by this tx, with this signature. */
export interface UnbondingRequest {
  readonly stakingTx: Transaction;
  readonly unbondingTx: Transaction;
  /** The staker's 64-byte BIP340 signature over the unbonding sighash. */
  readonly stakerSignature: Uint8Array;
}

/** Where the staking tx is on the caller's chain. */
export interface StakingTxPlace {
  /** Its inclusion height: the params of this height apply. */
  readonly height: number;
  /**
   * Its confirmations, checked against the depth of those params; `'not-checked'` when the caller
   * leaves the depth to another (it must say why).
   */
  readonly confirmations: number | 'not-checked';
}

/** The claims a request may carry beside the transactions; each is checked when given. */
export interface UnbondingCheckOptions {
  /** Stakes included above this height are not unbonded (the labs cutoff); absent or 0: none. */
  readonly maxStakingTxHeight?: number;
  /** The 33-byte covenant key that is to sign: it must be in the params of the staking height. */
  readonly covenantPk?: Uint8Array;
  /** The staking output's script as the requester names it. */
  readonly stakingOutputPkScript?: Uint8Array;
  /** The unbonding tx's txid as the requester names it. */
  readonly unbondingTxid?: string;
  /** Told the params version of the staking height as soon as it is chosen (for an audit record). */
  readonly onParams?: (v: ParamsVersion) => void;
}

/** A request that passed: what it was checked under. */
export interface CheckedUnbonding {
  readonly stakingTxid: string;
  readonly params: ParamsVersion;
  readonly data: StakingTxData;
  readonly exp: UnbondingExpectation;
  readonly sighash: Uint8Array;
}

/**
 * The labs covenant signers' cutoff: stakes included above `maxStakingTxHeight` are not unbonded.
 * Absent or 0: no cutoff.
 * @throws {CodedError} STAKING_TX_ABOVE_MAX_HEIGHT
 */
export function assertStakingHeightUnbondable(height: number, maxStakingTxHeight: number | undefined): void {
  if (maxStakingTxHeight && height > maxStakingTxHeight) {
    throw new CodedError(
      'STAKING_TX_ABOVE_MAX_HEIGHT',
      `the staking tx is included at height ${height}, above the maximum staking tx height ${maxStakingTxHeight}`,
      { details: { height, maxStakingTxHeight } },
    );
  }
}

/**
 * The full check, in order: the unbonding tx's shape; the height cutoff; the params of the staking
 * height; the covenant key in them; the depth; the staking tx parsed under them and the output
 * spent is its staking output; the named staking script; value and time in range; the fee cover;
 * the exact unbonding tx; the named txid; the staker's signature.
 * @throws {CodedError} STAKING_… codes, one per rule (staking/README.md)
 */
export function assertUnbondingRequest(
  req: UnbondingRequest,
  params: GlobalParams,
  place: StakingTxPlace,
  opts: UnbondingCheckOptions = {},
): CheckedUnbonding {
  return new UnbondingCheck(req).assert(params, place, opts);
}

interface UnderVersion {
  readonly data?: StakingTxData;
  readonly error?: unknown;
  sighash?: Uint8Array;
  signed?: boolean;
  exp?: UnbondingExpectation;
}

/**
 * One request's check, remembering per params version what it established (the parse and the
 * signature cost EC operations). The signer asks `stakerSignedUnder` for every version that lists
 * its key before any chain lookup, so that a request no staker signed costs it no lookup; the full
 * `assert` then reuses that work.
 */
export class UnbondingCheck {
  readonly stakingTxid: string;
  readonly #req: UnbondingRequest;
  readonly #byVersion = new Map<ParamsVersion, UnderVersion>();

  constructor(req: UnbondingRequest) {
    this.#req = req;
    this.stakingTxid = txidOf(req.stakingTx);
  }

  /**
   * The staking tx parsed under `v`, and the unbonding tx's input spends its staking output.
   * @throws {CodedError} STAKING_NOT_A_STAKING_TX (the parse's code in details), STAKING_UNBONDING_WRONG_INPUT
   */
  stakingTxUnder(v: ParamsVersion): StakingTxData {
    const u = this.#under(v);
    if (!u.data) throw u.error;
    const input = this.#req.unbondingTx.ins[0];
    const vout = u.data.stakingOutputIndex;
    if (!input || input.index !== vout || hashToTxid(input.hash) !== this.stakingTxid) {
      const spent = input ? `${hashToTxid(input.hash)}:${input.index}` : 'nothing';
      throw new CodedError(
        'STAKING_UNBONDING_WRONG_INPUT',
        `the unbonding tx spends ${spent}; the staking output is ${this.stakingTxid}:${vout}`,
      );
    }
    return u.data;
  }

  /**
   * Whether the staker's signature verifies over the unbonding sighash under `v` (it needs no fee
   * cover: the sighash commits to the staking output only).
   * @throws {CodedError} as stakingTxUnder
   */
  stakerSignedUnder(v: ParamsVersion): boolean {
    const data = this.stakingTxUnder(v);
    const u = this.#under(v);
    u.signed ??= verifySchnorr(this.#sighash(u, data), data.stakerKey, this.#req.stakerSignature);
    return u.signed;
  }

  /** The full check (see assertUnbondingRequest). */
  assert(params: GlobalParams, place: StakingTxPlace, opts: UnbondingCheckOptions = {}): CheckedUnbonding {
    const { unbondingTx } = this.#req;
    assertUnbondingShape(unbondingTx);
    assertStakingHeightUnbondable(place.height, opts.maxStakingTxHeight);
    const v = selectParamsForHeight(params, place.height);
    if (!v) {
      throw new CodedError(
        'STAKING_NO_PARAMS_FOR_HEIGHT',
        `no params version applies at the staking height ${place.height}`,
      );
    }
    opts.onParams?.(v);
    const key = opts.covenantPk;
    if (key && !v.covenantPks.some((k) => bytesEqual(k, key))) {
      throw new CodedError(
        'STAKING_COVENANT_KEY_NOT_IN_PARAMS',
        `covenant key ${toHex(key)} is not in params version ${v.version}`,
        { details: { version: v.version } },
      );
    }
    if (place.confirmations !== 'not-checked' && place.confirmations < v.confirmationDepth) {
      throw new CodedError(
        'STAKING_NOT_ENOUGH_CONFIRMATIONS',
        `the staking tx has ${place.confirmations} confirmations, params version ${v.version} requires ${v.confirmationDepth}`,
      );
    }
    const data = this.stakingTxUnder(v);
    const script = opts.stakingOutputPkScript;
    if (script && !bytesEqual(script, data.stakingInfo.pkScript)) {
      throw new CodedError(
        'STAKING_OUTPUT_SCRIPT_MISMATCH',
        'the named staking output script is not the script of the staking output',
      );
    }
    assertStakingTxInRange(data, v);
    const u = this.#under(v);
    u.exp ??= expectUnbonding(this.stakingTxid, data, v);
    const exp = u.exp;
    assertUnbondingTx(unbondingTx, exp);
    if (opts.unbondingTxid !== undefined) {
      const txid = txidOf(unbondingTx);
      if (txid !== opts.unbondingTxid) {
        throw new CodedError(
          'STAKING_UNBONDING_TXID_MISMATCH',
          `the named unbonding txid is not the txid of the unbonding tx (${txid})`,
          { details: { txid } },
        );
      }
    }
    if (!this.stakerSignedUnder(v)) {
      throw new CodedError(
        'STAKING_UNBONDING_STAKER_SIGNATURE',
        `the staker signature does not verify over the unbonding tx under params version ${v.version}`,
      );
    }
    return { stakingTxid: this.stakingTxid, params: v, data, exp, sighash: this.#sighash(u, data) };
  }

  #under(v: ParamsVersion): UnderVersion {
    let u = this.#byVersion.get(v);
    if (!u) {
      try {
        u = { data: parseStakingTx(this.#req.stakingTx, v) };
      } catch (e) {
        u = {
          error: new CodedError(
            'STAKING_NOT_A_STAKING_TX',
            `tx ${this.stakingTxid} is not a staking tx under params version ${v.version}: ${(e as Error).message}`,
            { cause: e, details: { code: isCodedError(e) ? e.code : undefined } },
          ),
        };
      }
      this.#byVersion.set(v, u);
    }
    return u;
  }

  #sighash(u: UnderVersion, data: StakingTxData): Uint8Array {
    u.sighash ??= unbondingSighash(this.#req.unbondingTx, {
      stakingPkScript: data.stakingInfo.pkScript,
      stakingValueSat: data.valueSat,
      unbondingLeafHash: data.stakingInfo.unbonding.leafHash,
    });
    return u.sighash;
  }
}
