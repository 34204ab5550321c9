import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CustodyBackend, generateKey, openCustody, parseCustodyConfig } from '../../hsm/index.ts';
import { startSigner } from '../../signer/app.ts';
import type { SignerConfig } from '../../signer/config.ts';
import { MtlsClient } from '../infra/mtlsClient.ts';
import type { CertFiles } from '../infra/pki.ts';
import { type SignerHarness, startSignerHarness } from '../infra/signerHarness.ts';

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
let custody: CustodyBackend;
let keyDir: string;
const quiet = pino({ level: 'fatal' });

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), 'ref-signer-'));
  process.env.REF_SIGNER_TEST_KEY_PASSPHRASE = 'correct horse battery staple';
  const cfg = parseCustodyConfig({
    backend: 'file',
    file: {
      path: join(keyDir, 'covenant.key'),
      passphrase_env: 'REF_SIGNER_TEST_KEY_PASSPHRASE',
      allow_insecure_file_backend: true,
    },
  });
  await generateKey(cfg, { logger: quiet });
  custody = await openCustody(cfg, { logger: quiet });
  h = await startSignerHarness(custody);
});

afterAll(async () => {
  await h?.stop();
  await custody?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

/** Another signer on the same node and custody, with its own audit log and `server` overrides. */
async function sideSigner(name: string, server: Partial<SignerConfig['server']>) {
  const audit = join(h.dir, `${name}-audit.jsonl`);
  const signer = await startSigner(
    { ...h.config, server: { ...h.config.server, ...server }, audit: { file: audit } } as SignerConfig,
    { custody, logger: quiet },
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

describe('rate limit (@fastify/rate-limit): per client certificate, in the reference error shape', () => {
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
