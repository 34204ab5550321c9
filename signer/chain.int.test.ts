import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fundedWallet, type RegtestNode, type RpcClient, startRegtestNode } from '../bitcoind/index.ts';
import { rpcChainView } from './chain.ts';

/**
 * The signer's chain view (rpcChainView, with its cache) against a real Knots node: a confirmed
 * staking tx's block and height are remembered, its depth follows the tip, and a fact whose block
 * leaves the active chain is never used (the answer is the node's, as without the cache).
 */
let node: RegtestNode;
let wallet: RpcClient;
let miner: string;

beforeAll(async () => {
  node = await startRegtestNode();
  ({ rpc: wallet, address: miner } = await fundedWallet(node, 'chain-cache'));
});

afterAll(async () => {
  await node?.stop();
});

/** A wallet payment mined into its own block; returns the txid and that block's hash. */
async function minedTx(): Promise<{ txid: string; block: string }> {
  const txid = await wallet.sendtoaddress(await wallet.getnewaddress('', 'bech32m'), 100_000n);
  const [block] = await node.rpc.generatetoaddress(1, miner);
  return { txid, block: block! };
}

/** Empty blocks on the current tip: a competing branch that leaves the mempool where it is. */
async function emptyBlocks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await node.rpc.generateblock(miner, []);
}

describe('rpcChainView: confirmed chain facts cached, re-checked against the tip', () => {
  it('answers a repeat from the cache after one tip check, and the depth grows with the tip', async () => {
    const view = rpcChainView(node.rpc);
    const { txid, block } = await minedTx();
    const first = await view.getTransaction(txid);
    expect(first).toMatchObject({ blockhash: block, confirmations: 1 });
    expect(view.stats).toMatchObject({ hits: 0, misses: 1 });

    const call = vi.spyOn(node.rpc, 'call');
    try {
      expect(await view.getTransaction(txid)).toMatchObject({ blockhash: block, confirmations: 1 });
      expect(view.stats.hits).toBe(1);
      expect(call.mock.calls.map((c) => c[0])).not.toContain('getrawtransaction');

      await node.rpc.generatetoaddress(3, miner);
      const deeper = await view.getTransaction(txid);
      expect(deeper).toMatchObject({ blockhash: block, confirmations: 4 });
      expect(deeper.hex).toBe(first.hex);
      expect(view.stats.hits).toBe(2);
      expect(call.mock.calls.map((c) => c[0])).not.toContain('getrawtransaction');
      // The node agrees with the depth the cache gave.
      expect((await node.rpc.getrawtransaction(txid, true)).confirmations).toBe(4);
    } finally {
      call.mockRestore();
    }
  });

  it('never uses a fact whose block left the active chain: the tx back in the mempool is unconfirmed', async () => {
    const view = rpcChainView(node.rpc);
    await view.chain.observe();
    const { txid, block } = await minedTx();
    await node.rpc.generatetoaddress(1, miner);
    await view.getTransaction(txid);
    expect(await view.getTransaction(txid)).toMatchObject({ blockhash: block, confirmations: 2 });
    expect(view.stats.hits).toBe(1);

    // A re-org inside the tracked window: the branch without the tx's block wins.
    await node.rpc.invalidateblock(block);
    await emptyBlocks(3);
    const after = await view.getTransaction(txid);
    expect(after.blockhash).toBeUndefined();
    expect(after.confirmations).toBe(0);
    expect(view.stats).toMatchObject({ hits: 1, dropped: 1 });

    // Mined again, in another block at another height: the depth is the new block's, not the old one's.
    const [again] = await node.rpc.generatetoaddress(1, miner);
    expect(await view.getTransaction(txid)).toMatchObject({ blockhash: again, confirmations: 1 });
    expect(await view.getTransaction(txid)).toMatchObject({ blockhash: again, confirmations: 1 });
    expect(view.stats.hits).toBe(2);
    await node.rpc.reconsiderblock(block);
  });

  it('drops every fact when the re-org reaches below the tracked window', async () => {
    const view = rpcChainView(node.rpc, { window: 2 });
    const { txid, block } = await minedTx();
    await node.rpc.generatetoaddress(3, miner);
    await view.getTransaction(txid);
    await view.getTransaction(txid);
    const old = await view.getTransaction(txid);
    expect(old).toMatchObject({ blockhash: block, confirmations: 4 });
    expect(view.stats.hits).toBeGreaterThanOrEqual(1);
    const hits = view.stats.hits;

    // The fork is 4 blocks down, the window is 2: nothing old is known to be on the new chain.
    await node.rpc.invalidateblock(block);
    await emptyBlocks(5);
    const after = await view.getTransaction(txid);
    expect(after.blockhash).toBeUndefined();
    expect(view.stats.hits).toBe(hits);
    expect(view.stats.dropped).toBeGreaterThanOrEqual(1);
    await node.rpc.reconsiderblock(block);
  });

  it('shares one tip check among concurrent repeats, and one batch among concurrent lookups', async () => {
    const view = rpcChainView(node.rpc);
    const txs = await Promise.all(Array.from({ length: 8 }, () => wallet.sendtoaddress(miner, 50_000n)));
    await node.rpc.generatetoaddress(2, miner);
    const call = vi.spyOn(node.rpc, 'call');
    const batch = vi.spyOn(node.rpc, 'batch');
    try {
      await view.chain.observe();
      const first = await Promise.all(txs.map((t) => view.getTransaction(t)));
      expect(first.every((t) => t.confirmations === 2)).toBe(true);
      // Asked for in one turn of the event loop: all eight leave together in one batch.
      expect(batch.mock.calls.length).toBe(1);
      expect(batch.mock.calls[0]![0].length).toBe(8);

      call.mockClear();
      const repeats = await Promise.all(txs.map((t) => view.getTransaction(t)));
      expect(repeats.every((t) => t.confirmations === 2)).toBe(true);
      expect(view.stats.hits).toBe(8);
      const methods = call.mock.calls.map((c) => c[0]);
      expect(methods.filter((m) => m === 'getbestblockhash').length).toBeLessThanOrEqual(2);
      expect(methods).not.toContain('getrawtransaction');
    } finally {
      call.mockRestore();
      batch.mockRestore();
    }
  });

  it('finds an unspent output by one gettxout: its block height and depth, as getrawtransaction gives them; nothing for a spent, unconfirmed or unknown one', async () => {
    const view = rpcChainView(node.rpc);
    const { txid, block } = await minedTx();
    const { height } = await node.rpc.getblockheader(block, true);
    const call = vi.spyOn(node.rpc, 'call');
    try {
      expect(await view.getUnspentInclusion!(txid, 0)).toEqual({ height, confirmations: 1 });
      await node.rpc.generatetoaddress(3, miner);
      expect(await view.getUnspentInclusion!(txid, 1)).toEqual({ height, confirmations: 4 });
      const methods = call.mock.calls.map((c) => c[0]);
      expect(methods).toContain('gettxout');
      expect(methods).not.toContain('getrawtransaction');
    } finally {
      call.mockRestore();
    }
    // The uncached lookup agrees.
    const raw = await node.rpc.getrawtransaction(txid, true);
    expect(raw).toMatchObject({ blockhash: block, confirmations: 4 });

    // The output the payment spent is not in the UTXO set any more: the caller asks getTransaction.
    const spent = raw.vin[0]!;
    expect(await view.getUnspentInclusion!(spent.txid!, spent.vout!)).toBeUndefined();
    const pending = await wallet.sendtoaddress(await wallet.getnewaddress('', 'bech32m'), 100_000n);
    expect(await view.getUnspentInclusion!(pending, 0)).toBeUndefined();
    expect((await view.getTransaction(pending)).blockhash).toBeUndefined();
    expect(await view.getUnspentInclusion!('ab'.repeat(32), 0)).toBeUndefined();
    expect(await view.getUnspentInclusion!(txid, 9)).toBeUndefined();
    await node.rpc.generatetoaddress(1, miner);
  });
});
