import type { RpcClient } from '../bitcoind/index.ts';
import { CodedError, isCodedError, toHex } from '../common/index.ts';
import type { GlobalParams } from '../params/index.ts';
import { buildUnbondingWitness, parseTransaction } from '../staking/index.ts';
import { collectQuorum, type SignerOutcome } from './quorum.ts';
import { type CheckedRequest, recheckRequest, type StoredUnbondingRequest } from './recheck.ts';
import type { SignerClient } from './signerClient.ts';

/** Where one attempt at a request ended. The store maps it to the request's state. */
export type ProcessOutcome =
  | {
      readonly state: 'sent';
      readonly txid: string;
      readonly outcomes: readonly SignerOutcome[];
      readonly msToQuorum?: number;
    }
  | { readonly state: 'no_quorum'; readonly outcomes: readonly SignerOutcome[]; readonly reason: string }
  | { readonly state: 'input_spent'; readonly reason: string }
  | {
      readonly state: 'failed';
      readonly code: string;
      readonly reason: string;
      readonly outcomes?: readonly SignerOutcome[];
    };

/** Whether a node rejection means the tx is already there (an earlier attempt got through). */
const ALREADY_KNOWN = /txn-already-known|txn-already-in-mempool|transaction already in block chain/;

/**
 * One attempt at one unbonding request: the staking output still unspent (spent by this very
 * unbonding tx means it was sent before); the request re-derived from chain and params; signatures
 * from a quorum of signers; the witness with exactly the quorum in the script's order; then
 * testmempoolaccept and sendrawtransaction.
 */
export async function processRequest(
  req: StoredUnbondingRequest,
  deps: { readonly params: GlobalParams; readonly rpc: RpcClient; readonly signers: readonly SignerClient[] },
): Promise<ProcessOutcome> {
  let checked: CheckedRequest;
  try {
    checked = await recheckRequest(req, deps.params, deps.rpc);
  } catch (e) {
    const code = isCodedError(e) ? e.code : 'PIPELINE_INTERNAL';
    return { state: 'failed', code, reason: (e as Error).message };
  }
  const unbondingTxid = checked.unbondingTx.getId();
  const spent = await spentState(deps.rpc, req.stakingTxid, checked.data.stakingOutputIndex, unbondingTxid);
  if (spent === 'by-us') return { state: 'sent', txid: unbondingTxid, outcomes: [] };
  if (spent === 'by-other')
    return { state: 'input_spent', reason: 'the staking output is already spent by another transaction' };

  const q = await collectQuorum({
    signers: deps.signers,
    covenantKeys: checked.covenantKeys,
    quorum: checked.params.covenantQuorum,
    sighash: checked.sighash,
    body: {
      staking_output_pk_script_hex: toHex(checked.data.stakingInfo.pkScript),
      unbonding_tx_hex: checked.unbondingTx.toHex(),
      staker_unbonding_sig_hex: req.stakerSignatureHex,
      staking_tx_hex: checked.stakingTxHex,
    },
  });
  if (!q.reached) {
    return {
      state: 'no_quorum',
      outcomes: q.outcomes,
      reason: `${q.signatures.length} valid signatures of the ${checked.params.covenantQuorum} needed`,
    };
  }
  const tx = parseTransaction(checked.unbondingTx.toHex());
  tx.ins[0]!.witness = buildUnbondingWitness({
    covenantKeys: checked.covenantKeys,
    quorum: checked.params.covenantQuorum,
    covenantSignatures: q.signatures,
    stakerSignature: checked.stakerSignature,
    leaf: checked.data.stakingInfo.unbonding,
  });
  const hex = tx.toHex();
  try {
    const [accept] = await deps.rpc.testmempoolaccept([hex]);
    if (accept?.allowed) {
      await deps.rpc.sendrawtransaction(hex);
      return {
        state: 'sent',
        txid: unbondingTxid,
        outcomes: q.outcomes,
        ...(q.msToQuorum !== undefined ? { msToQuorum: q.msToQuorum } : {}),
      };
    }
    const reason = accept?.['reject-reason'] ?? 'rejected';
    if (ALREADY_KNOWN.test(reason)) return { state: 'sent', txid: unbondingTxid, outcomes: q.outcomes };
    const after = await spentState(deps.rpc, req.stakingTxid, checked.data.stakingOutputIndex, unbondingTxid);
    if (after === 'by-us') return { state: 'sent', txid: unbondingTxid, outcomes: q.outcomes };
    if (after === 'by-other')
      return { state: 'input_spent', reason: `the staking output was spent meanwhile (${reason})` };
    return {
      state: 'failed',
      code: 'PIPELINE_NODE_REJECTED',
      reason: `the node refused the unbonding tx: ${reason}`,
      outcomes: q.outcomes,
    };
  } catch (e) {
    return {
      state: 'failed',
      code: isCodedError(e) ? e.code : 'PIPELINE_INTERNAL',
      reason: (e as Error).message,
      outcomes: q.outcomes,
    };
  }
}

/**
 * Is the staking output unspent, spent by our unbonding tx (mempool or chain), or spent by
 * something else? gettxout with the mempool answers "unspent"; otherwise our tx's presence decides.
 */
async function spentState(
  rpc: RpcClient,
  stakingTxid: string,
  vout: number,
  ourTxid: string,
): Promise<'unspent' | 'by-us' | 'by-other'> {
  try {
    if ((await rpc.gettxout(stakingTxid, vout, true)) !== null) return 'unspent';
  } catch (e) {
    throw new CodedError('PIPELINE_NODE_UNAVAILABLE', 'the pipeline’s Bitcoin node did not answer', {
      cause: e,
    });
  }
  try {
    await rpc.getrawtransaction(ourTxid, false);
    return 'by-us';
  } catch (e) {
    if (isCodedError(e, 'RPC_ERROR') && e.details?.rpcCode === -5) return 'by-other';
    throw new CodedError('PIPELINE_NODE_UNAVAILABLE', 'the pipeline’s Bitcoin node did not answer', {
      cause: e,
    });
  }
}
