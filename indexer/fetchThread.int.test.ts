import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { FetchThread } from './fetchThread.ts';
import { preScanBlock } from './prescan.ts';
import { readHeader } from './rawBlock.ts';
import { ChainKit } from './testkit/chain.ts';

/**
 * The worker that fetches raw blocks, against real nodes: order, bytes, errors, restart. `node`
 * serves REST (so `auto` fetches over it), `plain` does not.
 */
let node: RegtestNode;
let plain: RegtestNode;
beforeAll(async () => {
  [node, plain] = await Promise.all([startRegtestNode({ extraArgs: ['-rest=1'] }), startRegtestNode()]);
  await Promise.all([
    ChainKit.create(node).then((kit) => kit.mineTo(140)),
    ChainKit.create(plain).then((kit) => kit.mineTo(110)),
  ]);
});
afterAll(async () => {
  await Promise.all([node?.stop(), plain?.stop()]);
});

const bitcoind = (n = () => node) => ({ url: n().rpcUrl, cookie_file: n().cookieFile, timeout_ms: 5_000 });

async function takeAll(t: FetchThread, from: number, to: number): Promise<number[]> {
  const f = t.fetcher(from, to);
  const heights: number[] = [];
  try {
    while (heights.length < to - from + 1) {
      for (const b of await f.take(7)) {
        expect(readHeader(b.raw).hashHex).toBe(b.hash);
        expect(b.hash).toBe(await node.rpc.getblockhash(b.height));
        heights.push(b.height);
      }
    }
  } finally {
    f.cancel();
  }
  return heights;
}

describe('FetchThread', () => {
  it('delivers every block of the range in height order, its bytes hashing to the node’s hash', async () => {
    const t = new FetchThread(bitcoind(), { batch: 3, concurrency: 2 });
    await t.start();
    try {
      expect(await takeAll(t, 101, 140)).toEqual(Array.from({ length: 40 }, (_, i) => 101 + i));
    } finally {
      await t.close();
    }
  });

  it('given the params, delivers each block prescanned as on this thread, from the filter the range starts with', async () => {
    const params = parseGlobalParams(testParamsDoc([testKey('ft-cov')], { activation_height: 120 }));
    const t = new FetchThread(bitcoind(), { batch: 5, concurrency: 2 }, params);
    await t.start();
    // The null prevout's prefix: every coinbase becomes a candidate, so the filter is seen to arrive.
    const f = t.fetcher(115, 124, new Set([0]));
    try {
      const blocks = [...(await f.take(5)), ...(await f.take(5))];
      expect(blocks.map((b) => b.height)).toEqual(Array.from({ length: 10 }, (_, i) => 115 + i));
      const here = new Set([0]);
      for (const b of blocks) {
        const block = Uint8Array.from(
          Buffer.from(await node.rpc.call<string>('getblock', [b.hash, 0]), 'hex'),
        );
        const want = preScanBlock(params, b.height, block, here);
        expect(b.prescan).toEqual(want);
        expect(b.prescan!.candidates.map((c) => [c.index, c.spends])).toEqual([[0, true]]);
        // Handed over: the header alone, and the candidates' bytes in the same transferred buffer.
        expect(b.raw).toEqual(block.subarray(0, 80));
        expect(b.prescan!.candidates[0]!.bytes.buffer).toBe(b.raw.buffer);
      }
    } finally {
      f.cancel();
      await t.close();
    }
  });

  it('given the params, prescans every block of a long range as on this thread, its memory used again batch after batch', async () => {
    // Small batches, one in flight: the verdicts thread gives each batch's blocks back before the
    // later ones are read into that memory, which must then hold exactly the later block.
    const params = parseGlobalParams(testParamsDoc([testKey('ft-cov')], { activation_height: 101 }));
    const t = new FetchThread(bitcoind(), { batch: 2, concurrency: 1 }, params);
    await t.start();
    const f = t.fetcher(101, 140, new Set([0]));
    try {
      const blocks = [];
      while (blocks.length < 40) blocks.push(...(await f.take(2)));
      expect(blocks.map((b) => b.height)).toEqual(Array.from({ length: 40 }, (_, i) => 101 + i));
      const here = new Set([0]);
      for (const b of blocks) {
        const block = Uint8Array.from(
          Buffer.from(await node.rpc.call<string>('getblock', [b.hash, 0]), 'hex'),
        );
        expect(b.raw).toEqual(block.subarray(0, 80));
        expect(b.prescan).toEqual(preScanBlock(params, b.height, block, here));
      }
    } finally {
      f.cancel();
      await t.close();
    }
  });

  it('given the params, its verdicts thread ends with it: a closed thread leaves no thread behind, and a fetch starts both again', async () => {
    const threads = () => readdirSync(`/proc/${process.pid}/task`).length;
    const params = parseGlobalParams(testParamsDoc([testKey('ft-cov')], { activation_height: 120 }));
    const before = threads();
    const t = new FetchThread(bitcoind(), { batch: 4, concurrency: 1 }, params);
    await t.start();
    // The fetch thread, its verdicts thread, and the loader thread of each.
    expect(threads()).toBeGreaterThanOrEqual(before + 2);
    const f = t.fetcher(101, 140);
    expect((await f.take(4)).every((b) => b.prescan)).toBe(true);
    await t.close();
    await expect(f.take(4)).rejects.toMatchObject({ code: 'INDEXER_FETCH_FAILED' });
    await expect.poll(threads, { timeout: 5_000 }).toBeLessThanOrEqual(before);
    const again = t.fetcher(121, 124, [0]);
    try {
      const blocks = await again.take(4);
      expect(blocks.map((b) => [b.height, b.prescan?.candidates.map((c) => c.index)])).toEqual(
        [121, 122, 123, 124].map((h) => [h, [0]]),
      );
    } finally {
      again.cancel();
      await t.close();
    }
  });

  it('hands a take every batch already fetched, and fetches no more than `concurrency` batches ahead', async () => {
    const t = new FetchThread(bitcoind(), { batch: 3, concurrency: 4 });
    await t.start();
    const f = t.fetcher(101, 140);
    try {
      expect((await f.take(3)).map((b) => b.height)).toEqual([101, 102, 103]);
      // The main thread busy for a second (blocked, as while it decides and commits) while the
      // worker uses its credit: the next take has all 4 batches, not only the first delivered.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
      expect((await f.take(100)).map((b) => b.height)).toEqual(Array.from({ length: 12 }, (_, i) => 104 + i));
    } finally {
      f.cancel();
      await t.close();
    }
  });

  it('fetches over REST when the node serves it, over JSON-RPC when told to: the same bytes', async () => {
    const heard: string[] = [];
    const viaRest = new FetchThread(bitcoind(), { batch: 4, concurrency: 2, onSource: (v) => heard.push(v) });
    const viaRpc = new FetchThread(bitcoind(), { batch: 4, concurrency: 2, via: 'rpc' });
    await Promise.all([viaRest.start(), viaRpc.start()]);
    const [a, b] = [viaRest.fetcher(101, 108), viaRpc.fetcher(101, 108)];
    try {
      const [fromRest, fromRpc] = [
        [...(await a.take(4)), ...(await a.take(4))],
        [...(await b.take(4)), ...(await b.take(4))],
      ];
      expect(viaRest.via).toBe('rest');
      expect(viaRpc.via).toBe('rpc');
      expect(heard).toEqual(['rest']);
      expect(fromRest.map((x) => x.height)).toEqual(fromRpc.map((x) => x.height));
      expect(fromRest.map((x) => Buffer.from(x.raw).toString('hex'))).toEqual(
        fromRpc.map((x) => Buffer.from(x.raw).toString('hex')),
      );
    } finally {
      a.cancel();
      b.cancel();
      await Promise.all([viaRest.close(), viaRpc.close()]);
    }
  });

  it('falls back to JSON-RPC on a node without REST (auto); `rest` fails there with the hint', async () => {
    const auto = new FetchThread(
      bitcoind(() => plain),
      { batch: 4, concurrency: 1 },
    );
    await auto.start();
    try {
      const f = auto.fetcher(101, 104);
      const blocks = await f.take(4);
      f.cancel();
      expect(auto.via).toBe('rpc');
      expect(blocks.map((x) => x.hash)).toEqual(
        await Promise.all([101, 102, 103, 104].map((h) => plain.rpc.getblockhash(h))),
      );
    } finally {
      await auto.close();
    }
    const rest = new FetchThread(
      bitcoind(() => plain),
      { batch: 4, concurrency: 1, via: 'rest' },
    );
    await rest.start();
    try {
      const f = rest.fetcher(101, 104);
      await expect(f.take(4)).rejects.toMatchObject({
        code: 'RPC_HTTP',
        message: expect.stringMatching(/-rest=1/),
      });
      f.cancel();
    } finally {
      await rest.close();
    }
  });

  it('passes the RPC error on with its code, and a closed thread fails a fetch, then starts again', async () => {
    // With the params: the error comes through the verdicts thread too, its code intact.
    const params = parseGlobalParams(testParamsDoc([testKey('ft-cov')], { activation_height: 120 }));
    const down = new FetchThread(
      { ...bitcoind(), url: 'http://127.0.0.1:9/' },
      { batch: 4, concurrency: 1 },
      params,
    );
    await down.start();
    await expect(down.fetcher(101, 110).take(4)).rejects.toMatchObject({ code: 'RPC_UNREACHABLE' });
    await down.close();

    const t = new FetchThread(bitcoind(), { batch: 4, concurrency: 1 });
    await t.start();
    const f = t.fetcher(101, 140);
    await t.close();
    await expect(f.take(4)).rejects.toMatchObject({ code: 'INDEXER_FETCH_FAILED' });
    expect(await takeAll(t, 120, 125)).toEqual([120, 121, 122, 123, 124, 125]);
    await t.close();
  });
});
