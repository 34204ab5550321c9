// Scripted peers for the pipeline's unit tests: a stake built offline with test keys, a JSON-RPC
// server on loopback playing the node (one handler per method), and plain-HTTP loopback signers
// (the SignerClient's http:// path) that answer as told. The pipeline's own code runs unchanged
// against them; what the peers answer is the scenario.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toHex } from '../../common/index.ts';
import { type GlobalParams, parseGlobalParams } from '../../params/index.ts';
import type { StoredUnbondingRequest } from '../../pipeline/recheck.ts';
import { endpointOf, SignerClient } from '../../pipeline/signerClient.ts';
import {
  buildStakingOutputs,
  buildUnbondingTx,
  buildUnfundedStakingTx,
  expectUnbonding,
  parseStakingTx,
  unbondingSighash,
} from '../../staking/index.ts';
import { type TestKey, testKey, testParamsDoc } from '../keys.ts';

/** A stake that exists only in the scripted node's answers, with its unbonding request. */
export interface OfflineStake {
  readonly params: GlobalParams;
  readonly covenants: readonly TestKey[];
  readonly stakingTxid: string;
  readonly stakingTxHex: string;
  readonly stakingVout: number;
  readonly stakingPkScriptHex: string;
  readonly unbondingTxid: string;
  readonly sighash: Uint8Array;
  readonly request: StoredUnbondingRequest;
}

/** A 2-of-3 stake under params activated at height 1; the node will say it is included at height 10. */
export function offlineStake(label: string, valueSat = 200_000n): OfflineStake {
  const covenants = [0, 1, 2].map((i) => testKey(`${label}-covenant-${i}`));
  const params = parseGlobalParams(testParamsDoc(covenants, { activation_height: 1 }));
  const v = params.versions[0]!;
  const staker = testKey(`${label}-staker`);
  const outs = buildStakingOutputs({
    params: v,
    stakerKey: staker.xOnly,
    fpKey: testKey(`${label}-fp`).xOnly,
    stakingTime: 100,
    valueSat,
  });
  const tx = buildUnfundedStakingTx(outs);
  // The node only ever shows this tx, so its input need not exist; one is needed to serialise it.
  tx.addInput(Buffer.alloc(32, 7), 0);
  const stakingTxid = tx.getId();
  const data = parseStakingTx(tx, v);
  const exp = expectUnbonding(stakingTxid, data, v);
  const unbondingTx = buildUnbondingTx(exp);
  const sighash = unbondingSighash(unbondingTx, exp);
  return {
    params,
    covenants,
    stakingTxid,
    stakingTxHex: tx.toHex(),
    stakingVout: data.stakingOutputIndex,
    stakingPkScriptHex: toHex(data.stakingInfo.pkScript),
    unbondingTxid: unbondingTx.getId(),
    sighash,
    request: {
      stakingTxid: stakingTxid,
      unbondingTxHex: unbondingTx.toHex(),
      stakerSignatureHex: toHex(staker.sign(sighash)),
    },
  };
}

/** What a scripted handler answers: a JSON-RPC result, an RPC error, or an HTTP status with no body. */
export type Scripted =
  | { result: unknown }
  | { error: { code: number; message: string } }
  | { status: number };

async function listen(
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A JSON-RPC node on loopback; `calls` lists the methods asked, in order. */
export async function scriptedNode(
  handlers: Record<string, (params: unknown[]) => Scripted>,
): Promise<{ url: string; calls: string[]; close(): Promise<void> }> {
  const calls: string[] = [];
  const { server, url } = await listen((_req, body, res) => {
    const { id, method, params } = JSON.parse(body) as { id: unknown; method: string; params: unknown[] };
    calls.push(method);
    const handler = handlers[method];
    const out: Scripted = handler
      ? handler(params)
      : { error: { code: -32601, message: `Method not found: ${method}` } };
    if ('status' in out) {
      res.writeHead(out.status).end();
      return;
    }
    res.writeHead('error' in out ? 500 : 200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        result: 'result' in out ? out.result : null,
        error: 'error' in out ? out.error : null,
      }),
    );
  });
  return { url, calls, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The node's answers for the stake's re-check: the staking tx confirmed at height 10, its output unspent. */
export function chainOf(stake: OfflineStake): Record<string, (params: unknown[]) => Scripted> {
  const blockhash = '11'.repeat(32);
  return {
    getrawtransaction: ([txid, verbose]) =>
      txid === stake.stakingTxid && verbose
        ? { result: { txid, hex: stake.stakingTxHex, blockhash, confirmations: 10 } }
        : { error: { code: -5, message: 'No such mempool or blockchain transaction' } },
    getblockheader: () => ({ result: { hash: blockhash, height: 10, confirmations: 10 } }),
    gettxout: () => ({ result: { value: 0.002, confirmations: 10 } }),
  };
}

/**
 * One loopback signer per covenant key; `answer(i, body)` decides what signer i sends back, or
 * undefined to never answer (the socket stays open until the client gives up).
 */
export async function scriptedSigners(
  stake: OfflineStake,
  answer: (i: number, body: Record<string, string>) => { status: number; json: unknown } | undefined,
  timeoutMs = 2_000,
): Promise<{ clients: SignerClient[]; asked: number[]; close(): Promise<void> }> {
  const asked: number[] = [];
  const servers: Server[] = [];
  const clients: SignerClient[] = [];
  for (const [i, key] of stake.covenants.entries()) {
    const { server, url } = await listen((_req, body, res) => {
      asked.push(i);
      const a = answer(i, JSON.parse(body) as Record<string, string>);
      if (!a) return;
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.json));
    });
    servers.push(server);
    clients.push(
      new SignerClient(
        endpointOf({ name: `signer-${i}`, url, public_key: key.compressedHex, timeout_ms: timeoutMs }),
      ),
    );
  }
  return {
    clients,
    asked,
    async close() {
      for (const c of clients) c.close();
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}

/** An honest signer's answer: the BIP340 signature of the stake's sighash under signer i's key. */
export const honest = (stake: OfflineStake, i: number) => ({
  status: 200,
  json: { data: { signature_hex: toHex(stake.covenants[i]!.sign(stake.sighash)) } },
});
