import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../../bitcoind/index.ts';
import { ChainKit } from '../../indexer/testkit/chain.ts';
import { PaymentTraffic } from './bulkTxs.ts';

/**
 * The full-block bench's payments, mined by a real node: `generateblock` checks every signature
 * (consensus, no mempool), so a block that is accepted proves each payment signed and chained right.
 */
let node: RegtestNode;
let kit: ChainKit;
beforeAll(async () => {
  node = await startRegtestNode();
  kit = await ChainKit.create(node);
});
afterAll(async () => {
  await node?.stop();
});

describe('PaymentTraffic', () => {
  it('fans out one coin, then spends every coin once a block, each a signed P2WPKH payment', async () => {
    const payments = new PaymentTraffic();
    const fund = payments.fund(kit.coin(1_000_000_000n), 25);
    const first = payments.block();
    const a = await kit.mine([fund, ...first]);
    const second = payments.block();
    const b = await kit.mine(second);
    for (const { hash, txs } of [
      { hash: a.hash, txs: first },
      { hash: b.hash, txs: second },
    ]) {
      const ids = await node.rpc.call<{ tx: string[] }>('getblock', [hash, 1]);
      expect(ids.tx).toEqual(expect.arrayContaining(txs.map((t) => t.getId())));
    }
    expect(second).toHaveLength(25);
    for (const tx of second) {
      expect(tx.ins).toHaveLength(1);
      expect(tx.outs).toHaveLength(2);
      expect(tx.ins[0]!.witness.map((w) => w.length)).toEqual([
        expect.any(Number),
        33, // the compressed key
      ]);
      expect(tx.ins[0]!.witness[0]!.length).toBeGreaterThanOrEqual(70);
    }
    // The second block's payments spend the first block's change outputs, in order.
    expect(second.map((t) => Buffer.from(t.ins[0]!.hash).reverse().toString('hex'))).toEqual(
      first.map((t) => t.getId()),
    );
  });

  it('refuses to split a coin into coins too small to pay from', () => {
    expect(() =>
      new PaymentTraffic().fund({ txid: '11'.repeat(32), vout: 0, valueSat: 100_000n }, 25),
    ).toThrow(/too little/);
  });
});
