import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../test/infra/pki.ts';
import { freePort, fundedWallet, type RegtestNode, startRegtestNode } from './regtest.ts';
import type { RawTransactionVerbose } from './types.ts';

/**
 * JSON-RPC and REST over the shared HTTP/1.1 client against real Bitcoin Knots: plain, and over TLS
 * through stunnel4 (a TLS-terminating proxy in front of the node, as an operator would put one).
 * The node closes connections idle for a second (-rpcservertimeout=1), so kept-alive connections
 * are closed under the client whenever it waits.
 */
let node: RegtestNode;
let pki: TestPki;
let dir: string;
let stunnel: ChildProcess | undefined;
let tlsPort: number;
let txids: string[];
let hashes: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rpc-tls-'));
  pki = makeTestPki(join(dir, 'pki'), []);
  node = await startRegtestNode({ extraArgs: ['-rest=1', '-rpcservertimeout=1'] });
  const { rpc, address } = await fundedWallet(node);
  txids = [];
  for (let i = 0; i < 20; i++) txids.push(await rpc.sendtoaddress(address, 100_000n + BigInt(i)));
  await rpc.generatetoaddress(1, address);
  hashes = await Promise.all(Array.from({ length: 102 }, (_, h) => node.rpc.getblockhash(h)));

  tlsPort = await freePort();
  const conf = join(dir, 'stunnel.conf');
  writeFileSync(
    conf,
    [
      'foreground = yes',
      'pid =',
      'debug = 4',
      '[rpc]',
      `accept = 127.0.0.1:${tlsPort}`,
      `connect = 127.0.0.1:${node.rpcPort}`,
      `cert = ${pki.server.cert}`,
      `key = ${pki.server.key}`,
      '',
    ].join('\n'),
  );
  stunnel = spawn('stunnel4', [conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  stunnel.stderr?.on('data', (c: Buffer) => {
    log += c.toString('utf8');
  });
  for (let i = 0; ; i++) {
    if (stunnel.exitCode !== null) throw new Error(`stunnel4 exited at start: ${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(tlsPort, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error(`stunnel4 did not listen on ${tlsPort}: ${log}`);
    await delay(50);
  }
});

afterAll(async () => {
  if (stunnel && stunnel.exitCode === null) {
    stunnel.kill('SIGTERM');
    await once(stunnel, 'exit');
  }
  await node?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * What the clients read from `url`, computed in a process of its own: Node reads the CAs it trusts
 * (NODE_EXTRA_CA_CERTS) at start-up only, and the clients take Node's defaults, as an operator's
 * process would.
 */
const CLIENT_SCRIPT = `
  import { RestClient } from ${JSON.stringify(new URL('./restClient.ts', import.meta.url).pathname)};
  import { RpcClient } from ${JSON.stringify(new URL('./rpcClient.ts', import.meta.url).pathname)};
  const [url, cookieFile, txidsJson, hashesJson] = process.argv.slice(1);
  const txids = JSON.parse(txidsJson), hashes = JSON.parse(hashesJson);
  const busy = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
  const rpc = new RpcClient({ url, cookieFile, timeoutMs: 20000 });
  try {
    const out = {};
    out.height = await rpc.getblockcount();
    // Many calls in flight, over several connections.
    out.txs = (await Promise.all(Array.from({ length: 200 }, (_, i) => rpc.getrawtransaction(txids[i % txids.length], true)))).map((t) => t.txid);
    // Answers larger than the read buffer: a batch of decoded blocks, and one of raw blocks.
    out.blocks = (await rpc.batch(hashes.map((h) => ({ method: 'getblock', params: [h, 2] })))).map((e) => e.ok ? e.result.hash : e.error.code);
    // The node closes every idle connection while this process is busy; then the same again.
    busy(1500);
    out.afterClose = (await Promise.all(Array.from({ length: 8 }, () => rpc.getblockcount())));
    const rest = new RestClient({ url });
    try {
      out.rest = (await rest.blocks(hashes.slice(0, 5))).map((b) => Buffer.from(b).toString('hex'));
    } finally {
      rest.close();
    }
    console.log(JSON.stringify({ ok: out }));
  } catch (e) {
    console.log(JSON.stringify({ error: { code: e.code, details: e.details, message: e.message } }));
  }`;

async function clientRun(url: string, ca?: string): Promise<Record<string, unknown>> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (ca) env.NODE_EXTRA_CA_CERTS = ca;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      CLIENT_SCRIPT,
      url,
      node.cookieFile,
      JSON.stringify(txids),
      JSON.stringify(hashes),
    ],
    { env, timeout: 90_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('RpcClient and RestClient against bitcoind', () => {
  let expected: Record<string, unknown>;
  beforeAll(async () => {
    expected = {
      height: 102,
      txs: Array.from({ length: 200 }, (_, i) => txids[i % txids.length]),
      blocks: hashes,
      afterClose: Array(8).fill(102),
      rest: await Promise.all(hashes.slice(0, 5).map((h) => node.rpc.getblock(h, 0))),
    };
  });

  it('over plain HTTP: many calls in flight, answers larger than a read, connections closed while busy', async () => {
    expect(await clientRun(node.rpcUrl)).toEqual({ ok: expected });
  });

  it('over TLS (stunnel in front of the node) with its CA trusted, by host name and by IP address', async () => {
    expect(await clientRun(`https://localhost:${tlsPort}`, pki.ca.cert)).toEqual({ ok: expected });
    expect(await clientRun(`https://127.0.0.1:${tlsPort}`, pki.ca.cert)).toEqual({ ok: expected });
  });

  it('over TLS, refuses a server certificate from a CA it does not trust (RPC_UNREACHABLE)', async () => {
    const out = await clientRun(`https://localhost:${tlsPort}`);
    expect(out).toMatchObject({
      error: { code: 'RPC_UNREACHABLE', details: { errno: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } },
    });
  });

  it('reads a verbose transaction and a large batch in this process too (the signer’s calls)', async () => {
    const tx = await node.rpc.getrawtransaction(txids[0]!, true);
    expect((tx as RawTransactionVerbose).txid).toBe(txids[0]);
    const batch = await node.rpc.batch<RawTransactionVerbose>(
      txids.map((t) => ({ method: 'getrawtransaction', params: [t, true] })),
    );
    expect(batch.map((e) => e.ok && e.result.txid)).toEqual(txids);
  });
});
