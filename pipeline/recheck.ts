import type { Transaction } from 'bitcoinjs-lib';
import type { RawTransactionVerbose, RpcClient } from '../bitcoind/index.ts';
import { CodedError, isCodedError, parseHex, type XOnlyKey } from '../common/index.ts';
import { type GlobalParams, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import {
  assertUnbondingTx,
  expectUnbonding,
  parseStakingTx,
  parseTransaction,
  type StakingTxData,
  type UnbondingExpectation,
  unbondingSighash,
  verifySchnorr,
} from '../staking/index.ts';

/** A stored unbonding request as the pipeline reads it. */
export interface StoredUnbondingRequest {
  readonly stakingTxHashHex: string;
  readonly unbondingTxHex: string;
  readonly stakerSignatureHex: string;
}

/** A request the pipeline has re-derived from the chain and the params, ready for the signers. */
export interface CheckedRequest {
  readonly stakingTxHex: string;
  readonly stakingHeight: number;
  readonly params: ParamsVersion;
  readonly data: StakingTxData;
  readonly exp: UnbondingExpectation;
  readonly unbondingTx: Transaction;
  readonly stakerSignature: Uint8Array;
  readonly sighash: Uint8Array;
  readonly covenantKeys: readonly XOnlyKey[];
}

/**
 * Never trusts the database blindly: re-derives everything from the node and the params with the
 * same staking/ functions the signer and the API use — the staking tx and its inclusion height,
 * the params of that height, the exact unbonding tx, and the staker's signature.
 * @throws {CodedError} PIPELINE_RECHECK_FAILED (with the underlying code in details),
 *   PIPELINE_NODE_UNAVAILABLE
 */
export async function recheckRequest(
  req: StoredUnbondingRequest,
  params: GlobalParams,
  rpc: RpcClient,
): Promise<CheckedRequest> {
  const refuse = (message: string, cause?: unknown): never => {
    throw new CodedError('PIPELINE_RECHECK_FAILED', message, {
      cause,
      details: { code: isCodedError(cause) ? cause.code : undefined },
    });
  };
  let raw: RawTransactionVerbose;
  let height: number;
  try {
    raw = await rpc.getrawtransaction(req.stakingTxHashHex, true);
    if (!raw.blockhash || !raw.confirmations) refuse(`staking tx ${req.stakingTxHashHex} is not confirmed`);
    height = (await rpc.getblockheader(raw.blockhash!, true)).height;
  } catch (e) {
    if (isCodedError(e, 'PIPELINE_RECHECK_FAILED')) throw e;
    if (isCodedError(e, 'RPC_ERROR') && e.details?.rpcCode === -5)
      refuse(`staking tx ${req.stakingTxHashHex} is unknown to the node`, e);
    throw new CodedError('PIPELINE_NODE_UNAVAILABLE', 'the pipeline’s Bitcoin node did not answer', {
      cause: e,
    });
  }
  try {
    const version = selectParamsForHeight(params, height);
    if (!version) refuse(`no params version applies at the staking height ${height}`);
    const data = parseStakingTx(parseTransaction(raw.hex), version!);
    const exp = expectUnbonding(req.stakingTxHashHex, data, version!);
    const unbondingTx = parseTransaction(req.unbondingTxHex, 'unbonding tx');
    assertUnbondingTx(unbondingTx, exp);
    const stakerSignature = parseHex(req.stakerSignatureHex, 'staker signature', 'PIPELINE_RECHECK_FAILED', {
      bytes: 64,
    });
    const sighash = unbondingSighash(unbondingTx, exp);
    if (!verifySchnorr(sighash, data.stakerKey, stakerSignature))
      refuse('the stored staker signature does not verify');
    return {
      stakingTxHex: raw.hex,
      stakingHeight: height,
      params: version!,
      data,
      exp,
      unbondingTx,
      stakerSignature,
      sighash,
      covenantKeys: version!.covenantKeys,
    };
  } catch (e) {
    if (isCodedError(e, 'PIPELINE_RECHECK_FAILED')) throw e;
    return refuse(`the stored request does not hold: ${(e as Error).message}`, e);
  }
}
