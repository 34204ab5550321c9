import { describe, expect, it } from 'vitest';
import type { RpcClient } from '../bitcoind/index.ts';
import { rpcChainView } from './chain.ts';

/**
 * The chain-fact cache's timing rules with a scripted node (the real node's re-orgs are in
 * chain.int.test.ts): a tip check that was already out when a caller asked is never its answer,
 * and a fact below the tracked window is used only when the tip did not move between its lookup
 * and a check sent after its answer.
 */
class ScriptedNode {
  /** Block hashes of the active chain by height. */
  chain: string[] = Array.from({ length: 10 }, (_, i) => `a${i}`);
  txs = new Map<string, string>([['t', 'a3']]);
  calls: string[] = [];
  /** When set, getbestblockhash answers only when released. */
  held: Array<() => void> | undefined;

  header(hash: string) {
    const height = this.chain.indexOf(hash);
    if (height < 0) throw new Error(`unknown block ${hash}`);
    return { height, previousblockhash: height > 0 ? this.chain[height - 1] : undefined };
  }

  rpc(): RpcClient {
    const node = this;
    const rpc = {
      async getbestblockhash() {
        node.calls.push('getbestblockhash');
        // The tip as it is when the node reads the call; the answer may travel back later.
        const tip = node.chain.at(-1)!;
        if (node.held) await new Promise<void>((r) => node.held!.push(r));
        return tip;
      },
      async getblockheader(hash: string) {
        node.calls.push('getblockheader');
        return node.header(hash);
      },
      async getrawtransaction(txid: string) {
        node.calls.push('getrawtransaction');
        const block = node.txs.get(txid)!;
        const height = node.chain.indexOf(block);
        return {
          hex: Buffer.from(`tx ${txid}`).toString('hex'),
          blockhash: height >= 0 ? block : undefined,
          confirmations: height >= 0 ? node.chain.length - height : 0,
        };
      },
    } as unknown as RpcClient;
    // Lookups asked for together come as a batch of getrawtransaction calls.
    (rpc as unknown as { batch: unknown }).batch = (calls: { params: [string, boolean] }[]) =>
      Promise.all(
        calls.map(async (c) => ({ ok: true, result: await rpc.getrawtransaction(c.params[0], true) })),
      );
    return rpc;
  }
}

describe('rpcChainView timing', () => {
  it('answers a caller with a tip check sent after it asked, never with one already out', async () => {
    const node = new ScriptedNode();
    const view = rpcChainView(node.rpc());
    node.held = [];
    const early = view.chain.observe();
    // The tip moves while the first check is out: callers that ask now must see the new tip.
    node.chain.push('a10');
    const late = view.chain.observe();
    const later = view.chain.observe();
    const release = node.held.splice(0);
    node.held = undefined;
    for (const r of release) r();
    expect((await early).tip.height).toBe(9);
    expect((await late).tip.height).toBe(10);
    expect((await later).check).toBe((await late).check);
    // One check for the first caller, one shared by the two that came while it was out.
    expect(node.calls.filter((c) => c === 'getbestblockhash')).toHaveLength(2);
  });

  it('uses a fact below the window only when the same tip was seen before its lookup and after its answer', async () => {
    const node = new ScriptedNode();
    const view = rpcChainView(node.rpc(), { window: 2 });
    await view.chain.observe();
    expect(await view.getTransaction('t')).toMatchObject({ blockhash: 'a3', confirmations: 7 });
    // Same tip: the fact is confirmed by the bracket and answered without getrawtransaction.
    node.calls = [];
    expect(await view.getTransaction('t')).toMatchObject({ blockhash: 'a3', confirmations: 7 });
    expect(node.calls).not.toContain('getrawtransaction');
    expect(view.stats.hits).toBe(1);

    // A new fact, then the tip moves before any check confirms it: it is not used, the node is asked.
    node.txs.set('u', 'a4');
    await view.getTransaction('u');
    node.chain.push('a10');
    node.calls = [];
    expect(await view.getTransaction('u')).toMatchObject({ blockhash: 'a4', confirmations: 7 });
    expect(node.calls).toContain('getrawtransaction');
    // The confirmed fact follows the tip: one block deeper, still without getrawtransaction.
    node.calls = [];
    expect(await view.getTransaction('t')).toMatchObject({ blockhash: 'a3', confirmations: 8 });
    expect(node.calls).not.toContain('getrawtransaction');
  });
});

describe('rpcChainView parsed facts', () => {
  // A minimal valid transaction: version 2, one input, one output, locktime 0.
  const TX_HEX = `02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff00ffffffff0100000000000000000000000000`;
  /** A chain view whose node answers every getrawtransaction with `hex`. */
  async function viewAnswering(hex: string) {
    const rpc = new ScriptedNode().rpc();
    const raw = rpc.getrawtransaction.bind(rpc);
    rpc.getrawtransaction = (async (txid: string) => ({ ...(await raw(txid, true)), hex })) as never;
    const view = rpcChainView(rpc);
    await view.chain.observe();
    return view;
  }

  it('parses a cached staking tx once: every later hit gets the same parsed object', async () => {
    const hex = TX_HEX;
    const view = await viewAnswering(hex);
    // The miss parses the bytes it just decoded for the fact, not the hex again (issue 26).
    const miss = await view.getTransaction('t');
    const tx = miss.parse!();
    expect(tx.toHex()).toBe(hex);
    const first = await view.getTransaction('t');
    const second = await view.getTransaction('t');
    expect(first.parse!()).toBe(tx);
    expect(second.parse!()).toBe(tx);
  });

  it('gives no parsed tx for a hex it does not keep: the caller parses (and refuses) the hex itself', async () => {
    // The same tx in upper-case hex: not the node's canonical form, so not kept.
    const hex = TX_HEX.toUpperCase();
    const view = await viewAnswering(hex);
    const miss = await view.getTransaction('t');
    expect(miss.hex).toBe(hex);
    expect(miss.parse).toBeUndefined();
  });
});

describe('rpcChainView kept bytes', () => {
  it('gives a hit the same hex, block and confirmations as the node gave the miss', async () => {
    const node = new ScriptedNode();
    const view = rpcChainView(node.rpc());
    await view.chain.observe();
    const miss = await view.getTransaction('t');
    const hit = await view.getTransaction('t');
    expect(view.stats).toMatchObject({ hits: 1, misses: 1 });
    expect({ hex: hit.hex, blockhash: hit.blockhash, confirmations: hit.confirmations }).toEqual({
      hex: miss.hex,
      blockhash: miss.blockhash,
      confirmations: miss.confirmations,
    });
  });

  it.each([
    ['uppercase hex', 'AB01'],
    ['not hex', 'zz'],
  ])(
    'keeps no fact for %s from the node: the next lookup asks the node again, and gets its text',
    async (_, hex) => {
      const node = new ScriptedNode();
      const rpc = node.rpc();
      const raw = rpc.getrawtransaction.bind(rpc);
      rpc.getrawtransaction = (async (txid: string) => ({ ...(await raw(txid, true)), hex })) as never;
      const view = rpcChainView(rpc);
      await view.chain.observe();
      await view.getTransaction('t');
      const again = await view.getTransaction('t');
      expect(view.stats).toMatchObject({ hits: 0, misses: 2 });
      expect(again.hex).toBe(hex);
    },
  );
});

describe('rpcChainView lookups', () => {
  it('sends the lookups asked for in one turn of the event loop as one batch, and one alone as a single call', async () => {
    const node = new ScriptedNode();
    for (const t of ['v', 'w', 'x']) node.txs.set(t, 'a5');
    const rpc = node.rpc();
    const batches: string[][] = [];
    (rpc as unknown as { batch: unknown }).batch = async (calls: { params: [string, boolean] }[]) => {
      batches.push(calls.map((c) => c.params[0]));
      return Promise.all(
        calls.map(async (c) => ({ ok: true, result: await rpc.getrawtransaction(c.params[0], true) })),
      );
    };
    const view = rpcChainView(rpc);
    await view.chain.observe();
    node.calls = [];
    const answers = await Promise.all(['t', 'v', 'w', 'x'].map((t) => view.getTransaction(t)));
    expect(answers.map((a) => a.blockhash)).toEqual(['a3', 'a5', 'a5', 'a5']);
    expect(batches).toEqual([['t', 'v', 'w', 'x']]);
    // Alone: one getrawtransaction, no batch.
    node.txs.set('y', 'a6');
    await view.getTransaction('y');
    expect(batches).toHaveLength(1);
    expect(node.calls.filter((c) => c === 'getrawtransaction')).toHaveLength(5);
  });
});

describe('rpcChainView block heights', () => {
  it('asks one header for the lookups answered together in one new block', async () => {
    const node = new ScriptedNode();
    for (const t of ['v', 'w', 'x']) node.txs.set(t, 'a5');
    const view = rpcChainView(node.rpc());
    await view.chain.observe();
    node.calls = [];
    await Promise.all(['v', 'w', 'x'].map((t) => view.getTransaction(t)));
    expect(node.calls.filter((c) => c === 'getblockheader')).toHaveLength(1);
    expect(await view.getBlockHeight('a5')).toBe(5);
    expect(node.calls.filter((c) => c === 'getblockheader')).toHaveLength(1);
  });
});
