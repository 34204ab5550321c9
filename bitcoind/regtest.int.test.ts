import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection } from '../test/rejection.ts';
import { btcToSat } from './amount.ts';
import { fundedWallet, type RegtestNode, startRegtestNode } from './regtest.ts';
import { RpcClient } from './rpcClient.ts';

// Real Bitcoin Knots on regtest, provisioned by test/infra/provision.sh. The tests share one node and
// run in order: each builds on the chain the previous one left.

describe('regtest node (Knots)', () => {
  let node: RegtestNode;
  let miner: RpcClient;
  let minerAddress: string;

  beforeAll(async () => {
    node = await startRegtestNode({ zmq: true });
  });
  afterAll(async () => {
    await node?.stop();
  });

  it('runs regtest with txindex and publishes raw blocks over ZMQ', async () => {
    const info = await node.rpc.getblockchaininfo();
    expect(info.chain).toBe('regtest');
    expect(info.blocks).toBe(0);
    expect((await node.rpc.getnetworkinfo()).subversion).toMatch(/Satoshi|Knots/);
    expect(await node.rpc.getzmqnotifications()).toEqual([
      expect.objectContaining({ type: 'pubrawblock', address: node.zmqBlockUrl }),
    ]);
  });

  it('creates a wallet and mines 101 blocks to it, leaving one mature 50 BTC coinbase', async () => {
    ({ rpc: miner, address: minerAddress } = await fundedWallet(node));
    expect(await node.rpc.listwallets()).toContain('miner');
    expect(await node.rpc.getblockcount()).toBe(101);
    expect((await miner.getaddressinfo(minerAddress)).ismine).toBe(true);
    const spendable = await miner.listunspent();
    expect(spendable).toHaveLength(1);
    expect(btcToSat(spendable[0]!.amount)).toBe(5_000_000_000n);
  });

  it('sends to an address and sees the confirmation after mining', async () => {
    await node.rpc.createwallet('receiver');
    const receiver = node.rpc.withWallet('receiver');
    const to = await receiver.getnewaddress('', 'bech32m');
    const txid = await miner.sendtoaddress(to, 123_456_789n);
    expect(await node.rpc.getrawmempool()).toContain(txid);

    const unconfirmed = await node.rpc.getrawtransaction(txid, true);
    expect(unconfirmed.confirmations).toBeUndefined();
    const [blockhash] = await miner.generatetoaddress(1, minerAddress);

    const confirmed = await node.rpc.getrawtransaction(txid, true);
    expect(confirmed.blockhash).toBe(blockhash);
    expect(confirmed.confirmations).toBe(1);
    const paid = confirmed.vout.find((o) => o.scriptPubKey.address === to)!;
    expect(btcToSat(paid.value)).toBe(123_456_789n);

    const utxo = await node.rpc.gettxout(txid, paid.n);
    expect(utxo && btcToSat(utxo.value)).toBe(123_456_789n);
    expect(await node.rpc.getrawtransaction(txid, false, blockhash)).toBe(confirmed.hex);
    // Its outputs are unspent, but a confirmed transaction is never accepted a second time.
    const [again] = await node.rpc.testmempoolaccept([confirmed.hex]);
    expect(again!.allowed).toBe(false);
  });

  it('refuses garbage in testmempoolaccept with allowed=false or RPC_ERROR', async () => {
    const err = await rejection(node.rpc.testmempoolaccept(['00']));
    expect(err.code).toBe('RPC_ERROR');
    expect(err.details).toMatchObject({ method: 'testmempoolaccept', rpcCode: -22 });
  });

  it('serves blocks and headers as hex and decoded', async () => {
    const tip = await node.rpc.getbestblockhash();
    expect(await node.rpc.getblockhash(await node.rpc.getblockcount())).toBe(tip);
    const header = await node.rpc.getblockheader(tip);
    expect(header.height).toBe(102);
    const headerHex = await node.rpc.getblockheader(tip, false);
    expect(headerHex).toHaveLength(160);
    expect((await node.rpc.getblock(tip, 0)).startsWith(headerHex)).toBe(true);
    expect((await node.rpc.getblock(tip)).tx.length).toBe(2);
  });

  it('answers a batch with one entry per call', async () => {
    const out = await node.rpc.batch([
      { method: 'getblockcount' },
      { method: 'nosuchmethod' },
      { method: 'getblockhash', params: [0] },
    ]);
    expect(out[0]).toEqual({ ok: true, result: 102 });
    expect(out[1]!.ok === false && out[1]!.error.details).toMatchObject({ rpcCode: -32601 });
    expect(out[2]).toEqual({ ok: true, result: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('refuses wrong credentials with RPC_HTTP and accepts the cookie file', async () => {
    const wrong = new RpcClient({ url: node.rpcUrl, user: 'nobody', password: 'wrong' });
    const err = await rejection(wrong.uptime());
    expect(err.code).toBe('RPC_HTTP');
    expect(err.message).toContain('authentication failed');
    const viaCookie = new RpcClient({ url: node.rpcUrl, cookieFile: node.cookieFile });
    expect(await viaCookie.getblockcount()).toBe(102);
  });

  it('reorganises with invalidateblock and reconsiderblock', async () => {
    const tip = await node.rpc.getbestblockhash();
    await node.rpc.invalidateblock(tip);
    expect(await node.rpc.getblockcount()).toBe(101);
    await node.rpc.reconsiderblock(tip);
    expect(await node.rpc.getbestblockhash()).toBe(tip);
  });

  it('answers a call made after the node closed an idle connection while the event loop was busy', async () => {
    // bitcoind closes connections idle for -rpcservertimeout; with the loop blocked, the client
    // has not seen the close when it sends the next call on that connection.
    const quick = await startRegtestNode({ extraArgs: ['-rpcservertimeout=1'] });
    try {
      expect(await quick.rpc.getblockcount()).toBe(0);
      const until = Date.now() + 2_000;
      while (Date.now() < until) {
        // Blocks the event loop, as a long synchronous step does.
      }
      expect(await quick.rpc.getblockcount()).toBe(0);
    } finally {
      await quick.stop();
    }
  });

  it('stop() ends the process, removes the data directory, and can be called again', async () => {
    const { pid, dataDir } = node;
    expect(existsSync(dataDir)).toBe(true);
    await node.stop();
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(existsSync(dataDir)).toBe(false);
    await node.stop();
    expect((await rejection(node.rpc.uptime())).code).toBe('RPC_UNREACHABLE');
  });
});

describe('regtest start-up failures (Knots)', () => {
  it('reports BITCOIND_EXITED with bitcoind’s own complaint for a bad argument', async () => {
    const err = await rejection(startRegtestNode({ extraArgs: ['-nosuchoption=1'] }));
    expect(err.code).toBe('BITCOIND_EXITED');
    expect(err.message).toMatch(/nosuchoption/);
  });
});
