import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import type { Committee, Stake } from '../test/infra/signerHarness.ts';
import { type SoftHsmCommittee, startSoftHsmCommittee } from '../test/infra/softhsmCommittee.ts';
import { processRequest } from './process.ts';
import { endpointOf, SignerClient } from './signerClient.ts';

/**
 * One attempt at an unbonding request against a real committee: three signers with SoftHSM keys,
 * quorum 2, on a real Knots node. The dishonest signer is the one double here: an honest signer of
 * ours cannot be made to return a signature that fails verification, so a small mTLS server plays it.
 */
let sc: SoftHsmCommittee;
let c: Committee;
let dishonest: ReturnType<typeof createServer>;
let dishonestUrl: string;

const clientsFor = (urls: string[], keys = c.members.map((m) => m.compressedHex)) =>
  urls.map(
    (url, i) =>
      new SignerClient(endpointOf({ name: `signer-${i}`, url, public_key: keys[i]!, timeout_ms: 3_000 }), {
        certFile: c.pki.clients.pipeline!.cert,
        keyFile: c.pki.clients.pipeline!.key,
        caFile: c.pki.ca.cert,
      }),
  );
const stored = (s: Stake) => ({
  stakingTxid: s.txid,
  unbondingTxHex: s.unbondingTx.toHex(),
  stakerSignatureHex: toHex(s.stakerSig),
});
const deps = (signers: SignerClient[]) => ({ params: c.params, rpc: c.node.rpc, signers });

beforeAll(async () => {
  sc = await startSoftHsmCommittee(3, 2);
  c = sc.committee;
  dishonest = createServer(
    {
      key: readFileSync(c.pki.server.key),
      cert: readFileSync(c.pki.server.cert),
      ca: readFileSync(c.pki.ca.cert),
      requestCert: true,
    },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ data: { signature_hex: toHex(crypto.getRandomValues(new Uint8Array(64))) } }),
        );
      });
    },
  );
  await new Promise<void>((r) => dishonest.listen(0, '127.0.0.1', () => r()));
  dishonestUrl = `https://127.0.0.1:${(dishonest.address() as AddressInfo).port}`;
});

afterAll(async () => {
  dishonest?.close();
  await sc?.stop();
});

const urls = () => c.members.map((m) => m.signer!.url);

describe('processRequest: one attempt at an unbonding request', () => {
  it('collects a quorum from three signers, broadcasts, and the tx is mined; a second attempt asks nobody', async () => {
    const s = await c.stake(200_000n);
    const out = await processRequest(stored(s), deps(clientsFor(urls())));
    expect(out.state).toBe('sent');
    if (out.state !== 'sent') return;
    expect(out.txid).toBe(s.unbondingTx.getId());
    expect(out.outcomes.filter((o) => o.used)).toHaveLength(2);
    await c.mine();
    expect((await c.node.rpc.getrawtransaction(out.txid, true)).confirmations).toBe(1);
    const again = await processRequest(stored(s), deps(clientsFor(urls())));
    expect(again).toMatchObject({ state: 'sent', txid: out.txid, outcomes: [] });
  });

  it('reaches the quorum with one signer down', async () => {
    const s = await c.stake(210_000n);
    const u = urls();
    u[1] = 'https://127.0.0.1:1';
    const out = await processRequest(stored(s), deps(clientsFor(u)));
    expect(out.state).toBe('sent');
    if (out.state === 'sent')
      expect(out.outcomes.find((o) => o.signer === 'signer-1')).toMatchObject({
        ok: false,
        code: 'PIPELINE_SIGNER_UNREACHABLE',
      });
  });

  it('ignores a signer whose signature fails verification, and still reaches the quorum with the honest two', async () => {
    const s = await c.stake(220_000n);
    const u = urls();
    u[0] = dishonestUrl;
    const out = await processRequest(stored(s), deps(clientsFor(u)));
    expect(out.state).toBe('sent');
    if (out.state === 'sent') {
      expect(out.outcomes.find((o) => o.signer === 'signer-0')).toMatchObject({
        ok: false,
        code: 'PIPELINE_SIGNER_INVALID_SIGNATURE',
      });
      expect(await c.node.rpc.getrawmempool()).toContain(s.unbondingTx.getId());
    }
  });

  it('reports no_quorum when the signers are down, then sends once they are back', async () => {
    const s = await c.stake(230_000n);
    const down = await processRequest(
      stored(s),
      deps(clientsFor(['https://127.0.0.1:1', 'https://127.0.0.1:2', 'https://127.0.0.1:3'])),
    );
    expect(down.state).toBe('no_quorum');
    const back = await processRequest(stored(s), deps(clientsFor(urls())));
    expect(back.state).toBe('sent');
  });

  it('fails a stored request whose unbonding tx was altered: the database is never trusted', async () => {
    const s = await c.stake(240_000n);
    const tx = s.unbondingTx.clone();
    tx.outs[0]!.value -= 1n;
    const spentOut = await processRequest(
      { ...stored(s), unbondingTxHex: tx.toHex() },
      deps(clientsFor(urls())),
    );
    // The re-check refuses the tampered tx before anything else: the database is never trusted.
    expect(spentOut).toMatchObject({ state: 'failed', code: 'PIPELINE_RECHECK_FAILED' });
  });

  it('reports input_spent when the staking output was spent meanwhile (withdrawn through its timelock)', async () => {
    const s = await c.stake(250_000n, 5);
    await c.withdrawByTimelock(s);
    const out = await processRequest(stored(s), deps(clientsFor(urls())));
    expect(out.state).toBe('input_spent');
  });

  it('fails a stored request whose staker signature is not the staker’s, without asking any signer', async () => {
    const s = await c.stake(260_000n);
    const out = await processRequest(
      { ...stored(s), stakerSignatureHex: '11'.repeat(64) },
      deps(clientsFor(urls())),
    );
    expect(out).toMatchObject({ state: 'failed', code: 'PIPELINE_RECHECK_FAILED' });
  });
});
