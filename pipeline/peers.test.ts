import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient } from '../bitcoind/index.ts';
import {
  chainOf,
  honest,
  offlineStake,
  type Scripted,
  scriptedNode,
  scriptedSigners,
} from '../test/infra/scriptedPeers.ts';
import { processRequest } from './process.ts';
import { collectQuorum } from './quorum.ts';

/**
 * The pipeline's error codes that depend on what its peers answer, each produced by the pipeline's
 * own code against loopback peers that answer as the scenario needs: signers that stall, answer
 * nonsense or too much, and a node that is down, fails mid-attempt, refuses the tx or answers
 * outside its contract. The honest paths against a real node and real signers are process.int.test.ts.
 */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const node = async (handlers: Record<string, (params: unknown[]) => Scripted>) => {
  const n = await scriptedNode(handlers);
  cleanups.push(n.close);
  return { ...n, rpc: new RpcClient({ url: n.url, user: 'u', password: 'p', timeoutMs: 2_000 }) };
};
const signers = async (...args: Parameters<typeof scriptedSigners>) => {
  const s = await scriptedSigners(...args);
  cleanups.push(s.close);
  return s;
};
const bodyOf = (stake: ReturnType<typeof offlineStake>) => ({
  staking_output_pk_script_hex: 'aa',
  unbonding_tx_hex: stake.request.unbondingTxHex,
  staker_unbonding_sig_hex: stake.request.stakerSignatureHex,
});

describe('the signer client and the quorum', () => {
  it('PIPELINE_SIGNER_TIMEOUT: a signer that does not answer within its timeout', async () => {
    const stake = offlineStake('timeout');
    const s = await signers(stake, () => undefined, 200);
    await expect(s.clients[0]!.sign({ ...bodyOf(stake), covenant_public_key: '02' })).rejects.toMatchObject({
      code: 'PIPELINE_SIGNER_TIMEOUT',
    });
  });

  it('PIPELINE_SIGNER_BAD_ANSWER: 200 without a 64-byte signature, or more than the client reads', async () => {
    const stake = offlineStake('bad-answer');
    const s = await signers(stake, (i) =>
      i === 0
        ? { status: 200, json: { data: { signature_hex: 'ab'.repeat(32) } } }
        : { status: 200, json: { data: { signature_hex: 'ab'.repeat(64) }, pad: 'x'.repeat(70_000) } },
    );
    const req = { ...bodyOf(stake), covenant_public_key: '02' };
    await expect(s.clients[0]!.sign(req)).rejects.toMatchObject({
      code: 'PIPELINE_SIGNER_BAD_ANSWER',
      message: expect.stringContaining('without a 64-byte signature_hex'),
    });
    await expect(s.clients[1]!.sign(req)).rejects.toMatchObject({
      code: 'PIPELINE_SIGNER_BAD_ANSWER',
      message: expect.stringContaining('more than 65536 bytes'),
    });
  });

  it('PIPELINE_SIGNER_ABORTED: a request abandoned through its signal', async () => {
    const stake = offlineStake('aborted');
    const s = await signers(stake, () => undefined);
    const abort = new AbortController();
    const pending = s.clients[0]!.sign({ ...bodyOf(stake), covenant_public_key: '02' }, abort.signal);
    setTimeout(() => abort.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: 'PIPELINE_SIGNER_ABORTED' });
  });

  it('records the signer still silent when two others made the quorum as aborted, and every signer once', async () => {
    const stake = offlineStake('abandoned');
    const s = await signers(stake, (i) => (i === 2 ? undefined : honest(stake, i)));
    const q = await collectQuorum({
      signers: s.clients,
      covenantKeys: stake.covenants.map((k) => k.xOnly),
      quorum: 2,
      sighash: stake.sighash,
      body: bodyOf(stake),
    });
    expect(q.reached).toBe(true);
    expect(q.signatures).toHaveLength(2);
    expect(q.outcomes.find((o) => o.signer === 'signer-2')).toMatchObject({
      ok: false,
      code: 'PIPELINE_SIGNER_ABORTED',
    });
    expect(q.outcomes.map((o) => o.signer).sort()).toEqual(['signer-0', 'signer-1', 'signer-2']);
  });
});

describe('processRequest against a node that fails', () => {
  it('PIPELINE_NODE_UNAVAILABLE from the re-check: nothing listens at the node’s address', async () => {
    const stake = offlineStake('node-down');
    // A port that was free a moment ago: bound, read, released.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const rpc = new RpcClient({
      url: `http://127.0.0.1:${port}`,
      user: 'u',
      password: 'p',
      timeoutMs: 2_000,
    });
    const out = await processRequest(stake.request, { params: stake.params, rpc, signers: [] });
    expect(out).toMatchObject({ state: 'failed', code: 'PIPELINE_NODE_UNAVAILABLE' });
  });

  it('PIPELINE_NODE_UNAVAILABLE when the node fails between the re-check and the spent check; no signer is asked', async () => {
    const stake = offlineStake('node-fails');
    const n = await node({ ...chainOf(stake), gettxout: () => ({ status: 503 }) });
    const s = await signers(stake, (i) => honest(stake, i));
    await expect(
      processRequest(stake.request, { params: stake.params, rpc: n.rpc, signers: s.clients }),
    ).rejects.toMatchObject({ code: 'PIPELINE_NODE_UNAVAILABLE' });
    expect(n.calls).toEqual(['getrawtransaction', 'getblockheader', 'gettxout']);
    expect(s.asked).toEqual([]);
  });

  it('PIPELINE_NODE_REJECTED: the node refuses the signed tx while its input is still unspent', async () => {
    const stake = offlineStake('node-rejects');
    const n = await node({
      ...chainOf(stake),
      testmempoolaccept: () => ({
        result: [{ txid: stake.unbondingTxid, allowed: false, 'reject-reason': 'min relay fee not met' }],
      }),
    });
    const s = await signers(stake, (i) => honest(stake, i));
    const out = await processRequest(stake.request, {
      params: stake.params,
      rpc: n.rpc,
      signers: s.clients,
    });
    expect(out).toMatchObject({
      state: 'failed',
      code: 'PIPELINE_NODE_REJECTED',
      reason: expect.stringContaining('min relay fee not met'),
    });
    expect(n.calls).not.toContain('sendrawtransaction');
  });

  it('PIPELINE_INTERNAL: an answer outside the node’s contract fails the attempt instead of escaping it', async () => {
    const stake = offlineStake('node-nonsense');
    // testmempoolaccept answers a list; null is what no bitcoind sends.
    const n = await node({ ...chainOf(stake), testmempoolaccept: () => ({ result: null }) });
    const s = await signers(stake, (i) => honest(stake, i));
    const out = await processRequest(stake.request, {
      params: stake.params,
      rpc: n.rpc,
      signers: s.clients,
    });
    expect(out).toMatchObject({ state: 'failed', code: 'PIPELINE_INTERNAL' });
    expect(n.calls).not.toContain('sendrawtransaction');
  });
});
