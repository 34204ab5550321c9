import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { type RegtestNode, startRegtestNode } from './regtest.ts';
import { RestClient } from './restClient.ts';

// Real Bitcoin Knots on regtest: one node serving REST (-rest=1), one not.
let withRest: RegtestNode;
let plain: RegtestNode;
beforeAll(async () => {
  [withRest, plain] = await Promise.all([startRegtestNode({ extraArgs: ['-rest=1'] }), startRegtestNode()]);
  const address = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080';
  await withRest.rpc.generatetoaddress(110, address);
});
afterAll(async () => {
  await Promise.all([withRest?.stop(), plain?.stop()]);
});

describe('RestClient against bitcoind', () => {
  it('gives the same hashes as getblockhash and the same bytes as getblock verbosity 0', async () => {
    const rest = new RestClient({ url: withRest.rpcUrl });
    try {
      const heights = Array.from({ length: 111 }, (_, i) => i);
      const hashes = await rest.blockHashes(heights);
      expect(hashes).toEqual(await Promise.all(heights.map((h) => withRest.rpc.getblockhash(h))));
      const blocks = await rest.blocks(hashes);
      for (let i = 0; i < hashes.length; i += 10) {
        expect(Buffer.from(blocks[i]!).toString('hex')).toBe(
          await withRest.rpc.call('getblock', [hashes[i], 0]),
        );
      }
    } finally {
      rest.close();
    }
  });

  it('reports an unknown block and a height above the tip as RPC_HTTP 404 with the node’s words', async () => {
    const rest = new RestClient({ url: withRest.rpcUrl });
    try {
      const unknown = await rest.blocks(['00'.repeat(32)]).catch((e: unknown) => e);
      expect(isCodedError(unknown, 'RPC_HTTP') && unknown.details).toMatchObject({ status: 404 });
      expect(String((unknown as Error).message)).toMatch(/not found/);
      const above = await rest.blockHashes([10_000]).catch((e: unknown) => e);
      expect(isCodedError(above, 'RPC_HTTP') && above.details).toMatchObject({ status: 404 });
      // The connection is still good.
      expect(await rest.blockHashes([0])).toEqual([await withRest.rpc.getblockhash(0)]);
    } finally {
      rest.close();
    }
  });

  it('tells whether the node serves REST at all', async () => {
    const on = new RestClient({ url: withRest.rpcUrl });
    const off = new RestClient({ url: plain.rpcUrl });
    try {
      expect(await on.available()).toBe(true);
      expect(await off.available()).toBe(false);
      const e = await off.blocks([await plain.rpc.getblockhash(0)]).catch((err: unknown) => err);
      expect(isCodedError(e, 'RPC_HTTP') && e.message).toMatch(/-rest=1/);
    } finally {
      on.close();
      off.close();
    }
  });
});
