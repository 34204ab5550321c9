import type { Transaction } from 'bitcoinjs-lib';
import type { RawTransactionVerbose, RpcClient } from '../bitcoind/index.ts';
import { CodedError, isCodedError, parseHex, type XOnlyKey } from '../common/index.ts';
import type { GlobalParams, ParamsVersion } from '../params/index.ts';
import {
  assertUnbondingRequest,
  parseTransaction,
  type StakingTxData,
  type UnbondingExpectation,
} from '../staking/index.ts';

/** A stored unbonding request as the pipeline reads it. */
export interface StoredUnbondingRequest {
  readonly stakingTxid: string;
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
 * Never trusts the database blindly: re-derives everything from the node and the params with
 * staking/'s full unbonding check, the one the signer and the API call — the staking tx and its
 * inclusion height, the params of that height, value and time in range, the exact unbonding tx,
 * and the staker's signature. Every refusal of that check is PIPELINE_RECHECK_FAILED, its own
 * STAKING_… code in `details.code` (the pipeline's one mapping).
 * @throws {CodedError} PIPELINE_RECHECK_FAILED, PIPELINE_NODE_UNAVAILABLE
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
    raw = await rpc.getrawtransaction(req.stakingTxid, true);
    if (!raw.blockhash || !raw.confirmations) refuse(`staking tx ${req.stakingTxid} is not confirmed`);
    height = (await rpc.getblockheader(raw.blockhash!, true)).height;
  } catch (e) {
    if (isCodedError(e, 'PIPELINE_RECHECK_FAILED')) throw e;
    if (isCodedError(e, 'RPC_ERROR') && e.details?.rpcCode === -5)
      refuse(`staking tx ${req.stakingTxid} is unknown to the node`, e);
    throw new CodedError('PIPELINE_NODE_UNAVAILABLE', 'the pipeline’s Bitcoin node did not answer', {
      cause: e,
    });
  }
  try {
    const unbondingTx = parseTransaction(req.unbondingTxHex, 'unbonding tx');
    const stakerSignature = parseHex(req.stakerSignatureHex, 'staker signature', 'PIPELINE_RECHECK_FAILED', {
      bytes: 64,
    });
    const c = assertUnbondingRequest(
      { stakingTx: parseTransaction(raw.hex), unbondingTx, stakerSignature },
      params,
      // The depth too, on the pipeline's own node: a stake too shallow for the signers is not sent
      // to them (the request is retried later, as any failed attempt).
      { height, confirmations: raw.confirmations ?? 0 },
      // No height cutoff: the pipeline has no such policy of its own. The API refuses a request
      // above its cutoff before storing it, and each signer applies its own when it signs.
      {},
    );
    if (c.stakingTxid !== req.stakingTxid) {
      refuse(`the node's tx ${c.stakingTxid} is not the stored staking tx ${req.stakingTxid}`);
    }
    return {
      stakingTxHex: raw.hex,
      stakingHeight: height,
      params: c.params,
      data: c.data,
      exp: c.exp,
      unbondingTx,
      stakerSignature,
      sighash: c.sighash,
      covenantKeys: c.params.covenantKeys,
    };
  } catch (e) {
    if (isCodedError(e, 'PIPELINE_RECHECK_FAILED')) throw e;
    return refuse(`the stored request does not hold: ${(e as Error).message}`, e);
  }
}
