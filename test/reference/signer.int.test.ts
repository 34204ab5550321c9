import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../common/index.ts';
import { processRequest } from '../../pipeline/process.ts';
import { endpointOf, SignerClient } from '../../pipeline/signerClient.ts';
import { isRetried } from '../../pipeline/worker.ts';
import { startSigner } from '../../signer/app.ts';
import type { SignerConfig } from '../../signer/config.ts';
import { parseTransaction } from '../../staking/index.ts';
import { newFileCustody, type TestFileCustody } from '../infra/fileCustody.ts';
import { MtlsClient } from '../infra/mtlsClient.ts';
import type { CertFiles } from '../infra/pki.ts';
import { type SignerHarness, type Stake, startSignerHarness } from '../infra/signerHarness.ts';

/**
 * Where our signer meets the reference phase-1 signer's behaviour on the wire, read in
 * babylonlabs-io/covenant-signer at 9c6ef35 (covenant-signer.md §0):
 * - error body `{errorCode, message}`: signerservice/http_response.go, signerservice/types/error.go;
 * - server timeouts read 15 s, write 15 s, idle 120 s: config/server.go;
 * - an unknown or mempool-only staking tx, and a key the wallet does not hold, are errors
 *   SignUnbondingTransaction returns unwrapped (signerapp/signer.go, `TxByHash` and the external
 *   signer), so signerservice/handlers/sign_unbonding.go answers them 500 INTERNAL_SERVICE_ERROR.
 * The reference has no rate limit and no TLS (§4 items 1, 2): ours are additive, in its error shape.
 */
let h: SignerHarness;
let keys: TestFileCustody;
const quiet = pino({ level: 'fatal' });

beforeAll(async () => {
  keys = await newFileCustody('ref-signer-');
  h = await startSignerHarness(keys.custody);
});

afterAll(async () => {
  await h?.stop();
  await keys?.close();
});

/**
 * Another signer on the same node and key, with its own audit log and `server` overrides, and so
 * its own custody (the audit anchor is custody's: one custody, one audit log).
 */
async function sideSigner(name: string, server: Partial<SignerConfig['server']>) {
  const audit = join(h.dir, `${name}-audit.jsonl`);
  const own = await keys.copy(name);
  const signer = await startSigner(
    { ...h.config, server: { ...h.config.server, ...server }, audit: { file: audit } } as SignerConfig,
    { custody: own, logger: quiet },
  );
  return {
    signer,
    port: new URL(signer.url).port,
    records: () =>
      readFileSync(audit, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('rate limit: per client certificate, in the reference error shape', () => {
  it('limits each client certificate, not each address, answers 429 before reading the body, audits in aggregate', async () => {
    const s = await sideSigner('rate', {
      rate_limit_per_minute: 3,
      clients: [
        { name: 'pipeline', fingerprint_sha256: h.pki.clients.pipeline!.fingerprint256 },
        { name: 'second', fingerprint_sha256: h.pki.clients.unlisted!.fingerprint256 },
      ],
    });
    const first = new MtlsClient(s.signer.url, { caFile: h.pki.ca.cert, identity: h.pki.clients.pipeline! });
    const second = new MtlsClient(s.signer.url, { caFile: h.pki.ca.cert, identity: h.pki.clients.unlisted! });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const o = await first.send('GET', '/v1/public-keys');
        statuses.push(o.kind === 'http' ? o.answer.status : 0);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      // Over the limit, a body the signer would refuse as too large is not even read.
      const big = await first.send('POST', '/v1/sign-unbonding-tx', undefined, 'x'.repeat(100_000));
      if (big.kind !== 'http') throw new Error(big.error);
      expect(big.answer.status).toBe(429);
      expect(big.answer.json).toMatchObject({ errorCode: 'TOO_MANY_REQUESTS', code: 'SIGNER_RATE_LIMITED' });
      expect(typeof (big.answer.json as { message?: unknown }).message).toBe('string');
      expect(Number(big.answer.headers['retry-after'])).toBeGreaterThan(0);
      // The same address with another listed certificate has its own allowance.
      const other = await second.send('GET', '/v1/public-keys');
      expect(other.kind === 'http' ? other.answer.status : 0).toBe(200);
    } finally {
      first.close();
      second.close();
      await s.signer.stop();
    }
    expect(s.records().filter((r) => r.code === 'SIGNER_RATE_LIMITED')).toEqual([
      expect.objectContaining({ event: 'decision', outcome: 'refused', caller: 'pipeline', count: 2 }),
    ]);
  });
});

/** A socket to the signer that has done the TLS handshake with the allowed client certificate. */
function tlsSocket(port: string, identity: CertFiles = h.pki.clients.pipeline!): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect(
      {
        host: '127.0.0.1',
        port: Number(port),
        ca: readFileSync(h.pki.ca.cert),
        cert: readFileSync(identity.cert),
        key: readFileSync(identity.key),
        servername: 'localhost',
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
}

/**
 * Writes `data` (if any) and then nothing more; resolves when the server closes the socket, with
 * how long after `from` that was and what the server sent. Gives up (closed: false) after `giveUpMs`.
 */
function stall(
  s: Socket,
  data: string | undefined,
  giveUpMs: number,
  from = performance.now(),
): Promise<{ closed: boolean; ms: number; received: string }> {
  return new Promise((resolve) => {
    let received = '';
    s.on('data', (c: Buffer) => {
      received += c.toString('latin1');
    });
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, ms: performance.now() - from, received });
    }, giveUpMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, ms: performance.now() - from, received });
    });
    if (data !== undefined) s.write(data);
  });
}

describe('slow clients: headers, body, idle time and connections bounded by config', () => {
  // Small bounds so the test is quick; the sweep that finds expired requests runs every bound/4.
  const HEADERS_MS = 800;
  const REQUEST_MS = 1_600;
  const IDLE_MS = 800;
  // Scheduling on a shared two-core machine, and the sweep interval.
  const SLACK_MS = 1_500;
  let s: Awaited<ReturnType<typeof sideSigner>>;
  beforeAll(async () => {
    s = await sideSigner('slow', {
      headers_timeout_ms: HEADERS_MS,
      request_timeout_ms: REQUEST_MS,
      keep_alive_timeout_ms: IDLE_MS,
      max_connections: 3,
    });
  });
  afterAll(async () => {
    await s?.signer.stop();
  });

  const closedOr408 = (received: string) =>
    expect(received === '' || /^HTTP\/1\.1 408/.test(received)).toBe(true);

  it('closes a TCP connection that never starts the TLS handshake within server.headers_timeout_ms', async () => {
    const raw = netConnect({ host: '127.0.0.1', port: Number(s.port) });
    await new Promise((r) => raw.once('connect', r));
    const r = await stall(raw, undefined, 20_000);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(r.ms).toBeLessThan(HEADERS_MS + SLACK_MS);
  });

  it('closes a request whose headers stall within server.headers_timeout_ms', async () => {
    const t0 = performance.now();
    const sock = await tlsSocket(s.port);
    const r = await stall(sock, 'POST /v1/sign-unbonding-tx HTTP/1.1\r\nHost: 127.0.0.1\r\n', 20_000, t0);
    expect(r.closed).toBe(true);
    closedOr408(r.received);
    expect(r.ms).toBeLessThan(HEADERS_MS + SLACK_MS);
  });

  it('closes a POST declaring Content-Length 4096 that sends "{" and stalls, within server.request_timeout_ms', async () => {
    const t0 = performance.now();
    const sock = await tlsSocket(s.port);
    const r = await stall(
      sock,
      'POST /v1/sign-unbonding-tx HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{',
      20_000,
      t0,
    );
    expect(r.closed).toBe(true);
    closedOr408(r.received);
    expect(r.ms).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(r.ms).toBeLessThan(REQUEST_MS + SLACK_MS);
  });

  it('closes a kept-alive connection idle for server.keep_alive_timeout_ms after its answer', async () => {
    const sock = await tlsSocket(s.port);
    let answeredAt = 0;
    sock.on('data', (c: Buffer) => {
      if (!answeredAt && c.toString('latin1').includes('"status":"ok"')) answeredAt = performance.now();
    });
    const r = await stall(
      sock,
      'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n',
      20_000,
    );
    expect(r.received).toMatch(/^HTTP\/1\.1 200/);
    expect(r.closed).toBe(true);
    const idle = performance.now() - answeredAt;
    expect(idle).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(idle).toBeLessThan(IDLE_MS + SLACK_MS);
  });

  it('closes connections beyond server.max_connections as they arrive', async () => {
    const held = [await tlsSocket(s.port), await tlsSocket(s.port), await tlsSocket(s.port)];
    try {
      await expect(tlsSocket(s.port)).rejects.toThrow();
      held.pop()!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const again = await tlsSocket(s.port);
      again.destroy();
    } finally {
      for (const sock of held) sock.destroy();
    }
  });
});

describe('status codes where the reference answers 500 (signer README: "Status codes and the reference")', () => {
  const ROUTE = '/v1/sign-unbonding-tx';
  let stake: Stake;
  /** What our signer answered for each case, replayed below by a stand-in signer to the pipeline. */
  const ours: Record<string, { status: number; json: unknown }> = {};

  beforeAll(async () => {
    stake = await h.stake();
  });

  const ask = async (body: Record<string, string>) => {
    const o = await h.client.send('POST', ROUTE, body);
    if (o.kind !== 'http') throw new Error(o.error);
    return { status: o.answer.status, json: o.answer.json };
  };

  it('an unknown staking tx: 400 SIGNER_STAKING_TX_NOT_FOUND (the reference: 500)', async () => {
    const tx = parseTransaction(stake.unbondingTx.toHex());
    tx.ins[0]!.hash = Buffer.alloc(32, 0x5a);
    const a = await ask({ ...stake.body(), unbonding_tx_hex: tx.toHex() });
    expect(a).toMatchObject({
      status: 400,
      json: { errorCode: 'BAD_REQUEST', code: 'SIGNER_STAKING_TX_NOT_FOUND' },
    });
    ours.unknown = a;
  });

  it('a mempool-only staking tx: 400 SIGNER_STAKING_TX_UNCONFIRMED (the reference: 500)', async () => {
    const pending = await h.stake(100_000n, 100, { confirm: 0 });
    const a = await ask(pending.body());
    expect(a).toMatchObject({
      status: 400,
      json: { errorCode: 'BAD_REQUEST', code: 'SIGNER_STAKING_TX_UNCONFIRMED' },
    });
    ours.mempool = a;
    await h.mine(h.params.versions[0]!.confirmationDepth);
  });

  it('a covenant key this signer does not hold: 400 SIGNER_KEY_NOT_HELD (the reference: 500)', async () => {
    const a = await ask({ ...stake.body(), covenant_public_key: h.others[0]!.compressedHex });
    expect(a).toMatchObject({ status: 400, json: { errorCode: 'BAD_REQUEST', code: 'SIGNER_KEY_NOT_HELD' } });
    ours.notHeld = a;
  });

  it('the pipeline makes the same retried no_quorum of each answer, ours and the reference’s', async () => {
    const reference = {
      status: 500,
      json: { errorCode: 'INTERNAL_SERVICE_ERROR', message: 'Internal service error' },
    };
    const answers = { ...ours, reference };
    expect(Object.keys(answers)).toEqual(['unknown', 'mempool', 'notHeld', 'reference']);
    const seen: Record<string, unknown> = {};
    for (const [what, answer] of Object.entries(answers)) {
      // The two test-key members are played by a signer that gives this answer; ours signs.
      const standIn: Server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(answer.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.json));
        });
      });
      await new Promise<void>((r) => standIn.listen(0, '127.0.0.1', () => r()));
      const url = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
      const signers = [
        new SignerClient(
          endpointOf({
            name: 'ours',
            url: h.signer.url,
            public_key: h.members[0]!.compressedHex,
            timeout_ms: 5_000,
          }),
          {
            certFile: h.pki.clients.pipeline!.cert,
            keyFile: h.pki.clients.pipeline!.key,
            caFile: h.pki.ca.cert,
          },
        ),
        ...h.others.map(
          (k, i) =>
            new SignerClient(
              endpointOf({ name: `stand-in-${i}`, url, public_key: k.compressedHex, timeout_ms: 5_000 }),
            ),
        ),
      ];
      try {
        const out = await processRequest(
          {
            stakingTxid: stake.txid,
            unbondingTxHex: stake.unbondingTx.toHex(),
            stakerSignatureHex: toHex(stake.stakerSig),
          },
          { params: h.params, rpc: h.node.rpc, signers },
        );
        expect(out.state, what).toBe('no_quorum');
        expect(isRetried(out), what).toBe(true);
        const refused = 'outcomes' in out ? (out.outcomes ?? []).filter((o) => !o.ok) : [];
        expect(
          refused.map((o) => [o.code, o.signerCode]),
          what,
        ).toEqual([
          ['PIPELINE_SIGNER_REFUSED', (answer.json as { code?: string }).code ?? 'INTERNAL_SERVICE_ERROR'],
          ['PIPELINE_SIGNER_REFUSED', (answer.json as { code?: string }).code ?? 'INTERNAL_SERVICE_ERROR'],
        ]);
        seen[what] = { state: out.state, retried: isRetried(out) };
      } finally {
        for (const c of signers) c.close();
        await new Promise((r) => standIn.close(r));
      }
    }
    expect(new Set(Object.values(seen).map((v) => JSON.stringify(v))).size).toBe(1);
  });
});
