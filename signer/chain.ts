import type { RpcClient } from '../bitcoind/index.ts';
import { CodedError, isCodedError } from '../common/index.ts';

/** What the signer asks of its own node. */
export interface ChainView {
  /**
   * The raw tx (txindex) and, when it is in a block, the block's hash and the tx's confirmations on
   * the active chain (0 when its block is not on the active chain), read in one call.
   */
  getTransaction(txid: string): Promise<{
    readonly hex: string;
    readonly blockhash: string | undefined;
    readonly confirmations: number;
  }>;
  /** The height of a block. */
  getBlockHeight(blockhash: string): Promise<number>;
}

/** bitcoind's RPC_INVALID_ADDRESS_OR_KEY: "No such mempool or blockchain transaction". */
const RPC_NOT_FOUND = -5;
const HEIGHT_CACHE_SIZE = 10_000;

function unavailable(e: unknown): CodedError {
  return new CodedError('SIGNER_DEPENDENCY_UNAVAILABLE', 'the signer’s Bitcoin node did not answer', {
    cause: e,
  });
}

/**
 * The node-backed view. Confirmations come with the transaction from one getrawtransaction, which
 * computes them against the active chain under the node's lock: no race between "which height" and
 * "which tip". A block's height never changes for its hash, so heights are cached: one RPC per
 * request in the common case.
 */
export function rpcChainView(rpc: RpcClient): ChainView {
  const heights = new Map<string, number>();
  return {
    async getTransaction(txid) {
      try {
        const tx = await rpc.getrawtransaction(txid, true);
        return { hex: tx.hex, blockhash: tx.blockhash, confirmations: tx.confirmations ?? 0 };
      } catch (e) {
        if (isCodedError(e, 'RPC_ERROR') && e.details?.rpcCode === RPC_NOT_FOUND) {
          throw new CodedError(
            'SIGNER_STAKING_TX_NOT_FOUND',
            `staking tx ${txid} is not known to the signer’s node`,
          );
        }
        throw unavailable(e);
      }
    },
    async getBlockHeight(blockhash) {
      const cached = heights.get(blockhash);
      if (cached !== undefined) return cached;
      let height: number;
      try {
        height = (await rpc.getblockheader(blockhash, true)).height;
      } catch (e) {
        throw unavailable(e);
      }
      if (heights.size >= HEIGHT_CACHE_SIZE) heights.delete(heights.keys().next().value!);
      heights.set(blockhash, height);
      return height;
    },
  };
}
