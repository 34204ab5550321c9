import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CodedError, isCodedError } from '../common/index.ts';
import { rejection } from '../test/rejection.ts';
import { freePort } from './regtest.ts';
import { RpcClient } from './rpcClient.ts';

const USER = 'rpcuser-Zq7';
const PASSWORD = 'pw-Xk93-secret';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
// Every string that would reveal the credentials if it showed up in an error.
const SECRETS = [USER, PASSWORD, BASIC, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];

interface Seen {
  url: string;
  authorization: string | undefined;
  body: unknown;
}
type Handler = (req: IncomingMessage, body: unknown, res: ServerResponse) => void;

/** A stand-in for bitcoind's HTTP server on a loopback port: `handler` decides each answer. */
async function fakeNode(handler: Handler): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      raw += c;
    });
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : undefined;
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/** Answers each JSON-RPC call with `result(method, params)`, as bitcoind does (HTTP 200). */
function answering(result: (method: string, params: unknown) => unknown): Handler {
  return (_req, body, res) => {
    const one = (c: { id: unknown; method: string; params: unknown }) => ({
      result: result(c.method, c.params),
      error: null,
      id: c.id,
    });
    json(res, 200, Array.isArray(body) ? body.map(one) : one(body as never));
  };
}

function expectNoCredentials(err: CodedError): void {
  const causes: string[] = [];
  for (let c: unknown = err.cause; c; c = (c as { cause?: unknown }).cause) causes.push(String(c));
  const everything = [err.message, err.stack ?? '', JSON.stringify(err.details ?? {}), ...causes].join('\n');
  for (const s of SECRETS) expect(everything).not.toContain(s);
}

describe('RpcClient requests', () => {
  it('sends JSON-RPC with basic auth and returns the result', async () => {
    const node = await fakeNode(answering(() => 42));
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    expect(await rpc.getblockcount()).toBe(42);
    expect(node.seen[0]).toMatchObject({ url: '/', authorization: BASIC });
    expect(node.seen[0]!.body).toMatchObject({ method: 'getblockcount', params: [] });
  });

  it('sends wallet calls to /wallet/<name>, and amounts as exact BTC strings', async () => {
    const node = await fakeNode(answering(() => 'ab'.repeat(32)));
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD }).withWallet('my wallet');
    await rpc.sendtoaddress('bcrt1qxyz', 50_001n, { feeRateSatVb: 2 });
    expect(node.seen[0]!.url).toBe('/wallet/my%20wallet');
    expect(node.seen[0]!.authorization).toBe(BASIC);
    expect(node.seen[0]!.body).toMatchObject({
      method: 'sendtoaddress',
      params: { address: 'bcrt1qxyz', amount: '0.00050001', fee_rate: 2 },
    });
    expect(rpc.url).toBe(`${node.url}/wallet/my%20wallet`);
  });

  it('takes credentials from URL userinfo and strips them from the URL', async () => {
    const node = await fakeNode(answering(() => 1));
    const rpc = new RpcClient({ url: node.url.replace('http://', `http://${USER}:${PASSWORD}@`) });
    await rpc.uptime();
    expect(node.seen[0]!.authorization).toBe(BASIC);
    expect(rpc.url).toBe(`${node.url}/`);
    for (const s of SECRETS) expect(JSON.stringify(rpc)).not.toContain(s);
  });

  it('reads the cookie file, and re-reads it once after a 401 (the node restarted)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cookie-'));
    try {
      const cookieFile = join(dir, '.cookie');
      await writeFile(cookieFile, '__cookie__:old\n');
      let current = '__cookie__:old';
      const node = await fakeNode((req, body, res) => {
        const want = `Basic ${Buffer.from(current).toString('base64')}`;
        if (req.headers.authorization !== want) return void res.writeHead(401).end();
        answering(() => 7)(req, body, res);
      });
      const rpc = new RpcClient({ url: node.url, cookieFile });
      expect(await rpc.uptime()).toBe(7);
      current = '__cookie__:new';
      await writeFile(cookieFile, `${current}\n`);
      expect(await rpc.uptime()).toBe(7);
      expect(node.seen.map((s) => s.authorization)).toEqual([
        `Basic ${Buffer.from('__cookie__:old').toString('base64')}`,
        `Basic ${Buffer.from('__cookie__:old').toString('base64')}`,
        `Basic ${Buffer.from('__cookie__:new').toString('base64')}`,
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('maps an unreadable cookie file to RPC_UNREACHABLE naming the file', async () => {
    const rpc = new RpcClient({ url: 'http://127.0.0.1:1', cookieFile: '/nonexistent/.cookie' });
    const err = await rejection(rpc.uptime());
    expect(err.code).toBe('RPC_UNREACHABLE');
    expect(err.message).toContain('/nonexistent/.cookie');
  });

  it('applies the per-client timeout of withTimeout to the same node and wallet', async () => {
    const node = await fakeNode(answering(() => []));
    const base = new RpcClient({ url: node.url, user: USER, password: PASSWORD, wallet: 'w' });
    const fast = base.withTimeout(1234);
    expect(fast.timeoutMs).toBe(1234);
    expect(fast.url).toBe(base.url);
    await fast.listunspent();
    expect(node.seen[0]).toMatchObject({ url: '/wallet/w', authorization: BASIC });
  });
});

describe('RpcClient errors', () => {
  it('maps 401 to RPC_HTTP "authentication failed" without revealing the credentials', async () => {
    const node = await fakeNode((_req, _body, res) => void res.writeHead(401).end());
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    const err = await rejection(rpc.getblockcount());
    expect(err.code).toBe('RPC_HTTP');
    expect(err.message).toContain('authentication failed');
    expect(err.details).toMatchObject({ status: 401, method: 'getblockcount' });
    expectNoCredentials(err);
  });

  it('maps 403 to RPC_HTTP "authentication failed"', async () => {
    const node = await fakeNode((_req, _body, res) => void res.writeHead(403).end());
    const err = await rejection(new RpcClient({ url: node.url, user: USER, password: PASSWORD }).uptime());
    expect(err.code).toBe('RPC_HTTP');
    expect(err.message).toContain('authentication failed');
  });

  it('maps another non-2xx answer without a JSON-RPC body to RPC_HTTP with the status', async () => {
    const node = await fakeNode(
      (_req, _body, res) => void res.writeHead(503).end('Work queue depth exceeded'),
    );
    const err = await rejection(new RpcClient({ url: node.url, user: USER, password: PASSWORD }).uptime());
    expect(err.code).toBe('RPC_HTTP');
    expect(err.details).toMatchObject({ status: 503 });
  });

  it('maps a JSON-RPC error (HTTP 500, legacy bitcoind) to RPC_ERROR with the rpc code and message', async () => {
    const node = await fakeNode((_req, body, res) =>
      json(res, 500, {
        result: null,
        error: { code: -5, message: 'No such mempool or blockchain transaction' },
        id: (body as { id: number }).id,
      }),
    );
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    const err = await rejection(rpc.getrawtransaction('00'.repeat(32), true));
    expect(err.code).toBe('RPC_ERROR');
    expect(err.details).toMatchObject({
      method: 'getrawtransaction',
      rpcCode: -5,
      rpcMessage: 'No such mempool or blockchain transaction',
    });
    expect(err.message).toContain('No such mempool or blockchain transaction');
    expectNoCredentials(err);
  });

  it('maps a JSON-RPC 2.0 error (HTTP 200) to RPC_ERROR', async () => {
    const node = await fakeNode((_req, body, res) =>
      json(res, 200, {
        jsonrpc: '2.0',
        error: { code: -32601, message: 'Method not found' },
        id: (body as { id: number }).id,
      }),
    );
    const err = await rejection(
      new RpcClient({ url: node.url, user: USER, password: PASSWORD }).call('nope'),
    );
    expect(err.code).toBe('RPC_ERROR');
    expect(err.details).toMatchObject({ rpcCode: -32601 });
  });

  it('withholds quoted input from errors of methods that carry private keys', async () => {
    const node = await fakeNode((_req, body, res) =>
      json(res, 500, {
        result: null,
        error: {
          code: -5,
          message: "key 'cVt4o7BGAig1UXywgGSmARhxMdzP5qvQsxKkSsc1XEkw3tDTQFpy' is not valid",
        },
        id: (body as { id: number }).id,
      }),
    );
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    const err = await rejection(rpc.call('importprivkey', ['x']));
    expect(err.code).toBe('RPC_ERROR');
    expect(err.message).not.toContain('cVt4o7');
    expect(JSON.stringify(err.details)).not.toContain('cVt4o7');
    expect(err.message).toContain("key '…' is not valid");
  });

  it('maps a missing answer to RPC_TIMEOUT', async () => {
    const node = await fakeNode(() => {
      // Never answers.
    });
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD, timeoutMs: 150 });
    const started = Date.now();
    const err = await rejection(rpc.getblockcount());
    expect(err.code).toBe('RPC_TIMEOUT');
    expect(err.details).toMatchObject({ timeoutMs: 150 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expectNoCredentials(err);
  });

  it('maps a refused connection to RPC_UNREACHABLE', async () => {
    const port = await freePort();
    const rpc = new RpcClient({ url: `http://${USER}:${PASSWORD}@127.0.0.1:${port}`, timeoutMs: 5_000 });
    const err = await rejection(rpc.getblockcount());
    expect(err.code).toBe('RPC_UNREACHABLE');
    expect(err.details).toMatchObject({ errno: 'ECONNREFUSED', url: `http://127.0.0.1:${port}/` });
    expectNoCredentials(err);
  });

  it.each([
    ['a body that is not JSON', (res: ServerResponse) => res.writeHead(200).end('<html>')],
    ['JSON that is not a JSON-RPC answer', (res: ServerResponse) => json(res, 200, { hello: 1 })],
    [
      'an answer for another id',
      (res: ServerResponse) => json(res, 200, { result: 1, error: null, id: 999 }),
    ],
    [
      'a malformed error member',
      (res: ServerResponse) => json(res, 200, { result: null, error: 'boom', id: 1 }),
    ],
  ])('maps %s to RPC_BAD_RESPONSE', async (_what, answer) => {
    const node = await fakeNode((_req, _body, res) => answer(res));
    const err = await rejection(new RpcClient({ url: node.url, user: USER, password: PASSWORD }).uptime());
    expect(err.code).toBe('RPC_BAD_RESPONSE');
    expectNoCredentials(err);
  });

  it.each([
    ['no credentials', { url: 'http://127.0.0.1:1' }],
    ['two sources of credentials', { url: 'http://a:b@127.0.0.1:1', user: 'u', password: 'p' }],
    ['a user without a password', { url: 'http://127.0.0.1:1', user: 'u' }],
    ['a non-http URL', { url: 'ftp://127.0.0.1:1', user: 'u', password: 'p' }],
    ['an unparsable URL', { url: `http://${USER}:${PASSWORD}@[bad`, user: 'u', password: 'p' }],
    ['badly percent-encoded credentials in the URL', { url: 'http://u:%zz@127.0.0.1:1' }],
    ['a zero timeout', { url: 'http://127.0.0.1:1', user: 'u', password: 'p', timeoutMs: 0 }],
  ])('refuses options with %s (RPC_BAD_OPTIONS)', (_what, opts) => {
    let caught: unknown;
    try {
      new RpcClient(opts);
    } catch (err) {
      caught = err;
    }
    expect(isCodedError(caught, 'RPC_BAD_OPTIONS')).toBe(true);
    expectNoCredentials(caught as CodedError);
  });
});

/**
 * A node that answers the first request of each connection and resets the connection (RST) at any
 * later one, or at every one with `resetFirst`: a kept-alive connection the node has dropped.
 */
async function resettingNode(resetFirst = false): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const perSocket = new WeakMap<object, number>();
  const server = createServer((req, res) => {
    requests++;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (resetFirst || n > 1) {
      req.socket.resetAndDestroy();
      return;
    }
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString('utf8');
    });
    req.on('end', () => json(res, 200, { result: 7, error: null, id: JSON.parse(raw).id }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

describe('RpcClient kept-alive connections', () => {
  it('sends a request again on a new connection when the kept-alive one was reset under it', async () => {
    const node = await resettingNode();
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    expect(await rpc.call('uptime')).toBe(7);
    // Goes out on the kept-alive connection, which the node resets; then on a new one.
    expect(await rpc.call('uptime')).toBe(7);
    expect(node.requests()).toBe(3);
  });

  it('does not send again when a new connection is reset: RPC_UNREACHABLE', async () => {
    const node = await resettingNode(true);
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    const err = await rejection(rpc.call('uptime'));
    expect(err.code).toBe('RPC_UNREACHABLE');
    expect(err.details).toMatchObject({ errno: 'ECONNRESET' });
    expect(node.requests()).toBe(1);
    expectNoCredentials(err);
  });
});

describe('RpcClient connection pool', () => {
  it('times out calls waiting for a free connection (more than 64 at once), then serves them all again', async () => {
    let hang = true;
    const node = await fakeNode((req, body, res) => {
      if (!hang) answering(() => 5)(req, body, res);
    });
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD, timeoutMs: 300 });
    const hung = await Promise.allSettled(Array.from({ length: 100 }, () => rpc.call('uptime')));
    expect(hung.map((r) => r.status === 'rejected' && (r.reason as CodedError).code)).toEqual(
      Array(100).fill('RPC_TIMEOUT'),
    );
    hang = false;
    expect(await Promise.all(Array.from({ length: 100 }, () => rpc.call('uptime')))).toEqual(
      Array(100).fill(5),
    );
  });
});

describe('RpcClient.batch', () => {
  it('returns one entry per call, in call order, with per-call errors as CodedErrors', async () => {
    const node = await fakeNode((_req, body, res) => {
      const calls = body as { id: number; method: string }[];
      // Reversed on purpose: entries are matched by id, not position.
      const answers = calls
        .map((c) =>
          c.method === 'bogus'
            ? { result: null, error: { code: -32601, message: 'Method not found' }, id: c.id }
            : { result: `${c.method}-ok`, error: null, id: c.id },
        )
        .reverse();
      json(res, 200, answers);
    });
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    const out = await rpc.batch<string>([
      { method: 'getblockcount' },
      { method: 'bogus' },
      { method: 'getblockhash', params: [0] },
    ]);
    expect(out[0]).toEqual({ ok: true, result: 'getblockcount-ok' });
    expect(out[2]).toEqual({ ok: true, result: 'getblockhash-ok' });
    const second = out[1]!;
    expect(second.ok).toBe(false);
    if (!second.ok) {
      expect(second.error.code).toBe('RPC_ERROR');
      expect(second.error.details).toMatchObject({ method: 'bogus', rpcCode: -32601 });
    }
    expect(Array.isArray(node.seen[0]!.body)).toBe(true);
  });

  it('marks a call the answer left out as RPC_BAD_RESPONSE', async () => {
    const node = await fakeNode((_req, body, res) => {
      const [first] = body as { id: number }[];
      json(res, 200, [{ result: 1, error: null, id: first!.id }]);
    });
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    const out = await rpc.batch([{ method: 'a' }, { method: 'b' }]);
    expect(out[0]).toEqual({ ok: true, result: 1 });
    expect(out[1]!.ok === false && out[1]!.error.code).toBe('RPC_BAD_RESPONSE');
  });

  it('rejects the whole batch when the request fails', async () => {
    const node = await fakeNode((_req, _body, res) => void res.writeHead(401).end());
    const rpc = new RpcClient({ url: node.url, user: USER, password: PASSWORD });
    const err = await rejection(rpc.batch([{ method: 'a' }]));
    expect(err.code).toBe('RPC_HTTP');
    expectNoCredentials(err);
  });

  it('sends nothing for an empty batch', async () => {
    const node = await fakeNode(answering(() => 1));
    expect(await new RpcClient({ url: node.url, user: USER, password: PASSWORD }).batch([])).toEqual([]);
    expect(node.seen).toHaveLength(0);
  });
});
