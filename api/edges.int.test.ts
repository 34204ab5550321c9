// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are untyped JSON in these tests
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../db/index.ts';
import { type RunningApi, startApi } from './app.ts';
import { testApiConfig } from './testkit.ts';

/**
 * The API's edges as the internet sees them: real sockets against the listening server (not
 * inject(), which skips Node's HTTP parser, its timeouts and the connection cap).
 */
let scratch: ScratchDatabase;
let api: RunningApi;

beforeAll(async () => {
  scratch = await createScratchDatabase('api_edges');
  api = await startApi(testApiConfig({ dbUrl: scratch.url, ops: true }));
}, 60_000);
afterAll(async () => {
  await api?.stop();
  await scratch?.drop();
});

async function fetchJson(url: string) {
  const r = await fetch(url);
  const text = await r.text();
  return { status: r.status, text, headers: r.headers, body: text === '' ? undefined : JSON.parse(text) };
}

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: any;
  readonly text: string;
  /** What follows this response on the connection. */
  readonly rest: string;
}

/**
 * Parses the first HTTP/1.1 response in `raw` once it is complete (content-length framed; read as
 * latin1, so one character is one byte).
 */
function parseResponse(raw: string): RawResponse | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (raw.length < end + 4 + length) return undefined;
  const text = raw.slice(end + 4, end + 4 + length);
  const status = Number(statusLine!.split(' ')[1]);
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status, headers, body, text, rest: raw.slice(end + 4 + length) };
}

/** Writes `payload` on a fresh socket and resolves with the first response (or undefined if closed without one). */
function rawRequest(port: number, payload: string | Buffer): Promise<RawResponse | undefined> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(payload));
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      raw += d;
      const r = parseResponse(raw);
      if (r) {
        socket.destroy();
        resolve(r);
      }
    });
    socket.on('close', () => resolve(parseResponse(raw)));
    socket.on('error', (e) => (raw === '' ? reject(e) : undefined));
  });
}

/**
 * Writes `payload` on a fresh socket, then stays silent and keeps reading: resolves when the server
 * closes the socket (with what it answered, if anything), or with `closed: false` at `boundMs`.
 */
function stall(
  port: number,
  payload: string,
  boundMs: number,
): Promise<{ closed: boolean; response: RawResponse | undefined }> {
  return new Promise((resolve) => {
    let raw = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(payload));
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      raw += d;
    });
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.removeAllListeners('close');
      socket.destroy();
      resolve({ closed: false, response: parseResponse(raw) });
    }, boundMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, response: parseResponse(raw) });
    });
  });
}

/** The one error format (api/errors.ts) with a correlation id. */
function expectApiError(r: RawResponse | undefined, status: number, errorCode: string, code: string) {
  expect(r, 'an HTTP response').toBeDefined();
  expect(r!.status).toBe(status);
  expect(r!.headers['content-type']).toMatch(/^application\/json/);
  expect(r!.body).toEqual({ errorCode, message: expect.any(String), code });
  expect(r!.headers['x-correlation-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f-]{27}$/);
}

describe('every error in the one format', () => {
  it('answers a URL that does not decode (FST_ERR_BAD_URL) with 400 API_BAD_REQUEST, not echoing it', async () => {
    const r = await rawRequest(api.port, 'GET /v1/%zz<b> HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expectApiError(r, 400, 'BAD_REQUEST', 'API_BAD_REQUEST');
    expect(r!.text).not.toContain('%zz');
  });

  it('answers an unknown route with 404 API_NOT_FOUND without echoing the path', async () => {
    const r = await rawRequest(
      api.port,
      'GET /v2/echo-me-back HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expectApiError(r, 404, 'NOT_FOUND', 'API_NOT_FOUND');
    expect(r!.text).not.toContain('echo-me-back');
  });

  it('answers a request Node cannot parse with 400 in the format', async () => {
    const r = await rawRequest(api.port, 'GET /v1/stats HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n');
    expectApiError(r, 400, 'BAD_REQUEST', 'API_BAD_REQUEST');
  });

  it('answers headers over the size limit with 431 in the format', async () => {
    const big = `X-Big: ${'a'.repeat(20_000)}\r\n`;
    const r = await rawRequest(api.port, `GET /v1/stats HTTP/1.1\r\nHost: x\r\n${big}\r\n`);
    expectApiError(r, 431, 'BAD_REQUEST', 'API_HEADERS_TOO_LARGE');
  });
});

describe('stopping', () => {
  it('answers a request arriving on a kept-alive connection while the instance stops with 503 in the format', async () => {
    const a = await startApi(testApiConfig({ dbUrl: scratch.url }));
    let raw = '';
    const socket = connect(a.port, '127.0.0.1');
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      raw += d;
    });
    const closed = new Promise((r) => socket.on('close', r));
    await new Promise((r) => socket.on('connect', r));
    // A request in flight (its body incomplete) keeps the connection busy while the instance stops.
    socket.write(
      'POST /v1/unbonding HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{',
    );
    await new Promise((r) => setTimeout(r, 100));
    const stopped = a.stop();
    await new Promise((r) => setTimeout(r, 100));
    socket.write('}GET /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
    socket.destroy();
    await stopped;
    const first = parseResponse(raw);
    expectApiError(first, 400, 'BAD_REQUEST', 'API_BAD_REQUEST');
    expectApiError(parseResponse(first!.rest), 503, 'SERVICE_UNAVAILABLE', 'API_SHUTTING_DOWN');
  });
});

describe('slow and idle clients are cut off at the configured bounds', () => {
  // Small bounds, and an upper bound for the test far below Node's defaults (60 s headers, 300 s
  // request) and the old keep-alive (72 s): a socket still open then was not cut off by our config.
  const BOUND_MS = 6_000;
  let tight: RunningApi;
  beforeAll(async () => {
    tight = await startApi(
      testApiConfig({
        dbUrl: scratch.url,
        env: {
          API__SERVER__HEADERS_TIMEOUT_MS: '500',
          API__SERVER__REQUEST_TIMEOUT_MS: '1000',
          API__SERVER__KEEP_ALIVE_TIMEOUT_MS: '500',
        },
      }),
    );
  });
  afterAll(async () => {
    await tight?.stop();
  });

  it('sets the bounds on the live server object', () => {
    expect(tight.app.server.headersTimeout).toBe(500);
    expect(tight.app.server.requestTimeout).toBe(1000);
    expect(tight.app.server.keepAliveTimeout).toBe(500);
  });

  it('answers a body that stalls with 408 in the format and closes the socket', async () => {
    const r = await stall(
      tight.port,
      'POST /v1/unbonding HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{',
      BOUND_MS,
    );
    expect(r.closed).toBe(true);
    expectApiError(r.response, 408, 'REQUEST_TIMEOUT', 'API_REQUEST_TIMEOUT');
  });

  it('answers headers that stall with 408 in the format and closes the socket', async () => {
    const r = await stall(tight.port, 'GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Slow: a', BOUND_MS);
    expect(r.closed).toBe(true);
    expectApiError(r.response, 408, 'REQUEST_TIMEOUT', 'API_REQUEST_TIMEOUT');
  });

  it('closes a connection that sends nothing', async () => {
    const r = await stall(tight.port, '', BOUND_MS);
    expect(r.closed).toBe(true);
  });

  it('closes a kept-alive connection that stays idle after its answer', async () => {
    const r = await stall(tight.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', BOUND_MS);
    expect(r.response?.status).toBe(200);
    expect(r.closed).toBe(true);
  });
});

describe('the connection cap', () => {
  let capped: RunningApi;
  beforeAll(async () => {
    capped = await startApi(
      testApiConfig({ dbUrl: scratch.url, env: { API__SERVER__MAX_CONNECTIONS: '3' } }),
    );
  });
  afterAll(async () => {
    await capped?.stop();
  });

  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect(capped.port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });

  it('closes connections beyond the cap as they arrive, and serves again once one leaves', async () => {
    expect(capped.app.server.maxConnections).toBe(3);
    const held = [await open(), await open(), await open()];
    try {
      // Held sockets send nothing; the fourth asks for something and must get nothing but a close.
      const r = await stall(capped.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 3_000);
      expect(r.closed).toBe(true);
      expect(r.response).toBeUndefined();
      expect(held.every((h) => !h.destroyed)).toBe(true);
    } finally {
      for (const h of held) h.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    const again = await rawRequest(
      capped.port,
      'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(again?.status).toBe(200);
  });
});

/**
 * A TCP proxy to PostgreSQL that can go silent: from then on it forwards nothing either way and
 * answers no new connection, as a path whose packets are dropped (not refused).
 */
async function silenceableProxy(target: URL) {
  let silent = false;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    return s;
  };
  const server: Server = createServer((client) => {
    track(client);
    if (silent) return;
    const upstream = track(connect(Number(target.port), target.hostname));
    client.on('data', (d) => (silent ? undefined : upstream.write(d)));
    upstream.on('data', (d) => (silent ? undefined : client.write(d)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    silence() {
      silent = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('a database that goes silent', () => {
  // Far above the configured bounds, far below the minutes a silent TCP peer can hold a request.
  const BOUND_MS = 8_000;
  const unknownHash = 'ab'.repeat(32);

  async function silentApi(env: NodeJS.ProcessEnv) {
    const proxy = await silenceableProxy(new URL(scratch.url));
    const a = await startApi(
      testApiConfig({
        dbUrl: proxy.url,
        poolSize: 2,
        env: { API__DATABASE__CONNECT_TIMEOUT_MS: '1000', ...env },
      }),
    );
    // Pooled connections exist before the path goes quiet.
    expect((await fetchJson(`${a.url}/healthcheck`)).status).toBe(200);
    proxy.silence();
    return {
      api: a,
      async close() {
        await proxy.close();
        await a.stop();
      },
    };
  }

  async function timedGet(url: string) {
    const t0 = performance.now();
    const r = await fetch(url, { signal: AbortSignal.timeout(BOUND_MS) }).catch(() => undefined);
    const text = await r?.text();
    return {
      ms: performance.now() - t0,
      status: r?.status,
      body: text ? JSON.parse(text) : undefined,
      id: r?.headers.get('x-correlation-id'),
    };
  }

  it('answers 503 API_DATABASE_UNAVAILABLE when queries get no answer (client-side query timeout)', async () => {
    const s = await silentApi({
      API__DATABASE__QUERY_TIMEOUT_MS: '700',
      API__SERVER__HANDLER_TIMEOUT_MS: '5000',
    });
    try {
      for (const path of [
        `/v1/delegation?staking_tx_hash_hex=${unknownHash}`,
        '/v1/btc-info',
        '/healthcheck',
      ]) {
        const r = await timedGet(`${s.api.url}${path}`);
        expect(r.status, path).toBe(503);
        expect(r.body).toEqual({
          errorCode: 'SERVICE_UNAVAILABLE',
          message: expect.any(String),
          code: 'API_DATABASE_UNAVAILABLE',
        });
        expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
      }
    } finally {
      await s.close();
    }
  });

  it('answers 503 API_TIMEOUT when the handler outlives server.handler_timeout_ms', async () => {
    const s = await silentApi({
      API__DATABASE__QUERY_TIMEOUT_MS: '60000',
      API__SERVER__HANDLER_TIMEOUT_MS: '700',
    });
    try {
      const r = await timedGet(`${s.api.url}/v1/delegation?staking_tx_hash_hex=${unknownHash}`);
      expect(r.status).toBe(503);
      expect(r.body).toEqual({
        errorCode: 'SERVICE_UNAVAILABLE',
        message: expect.any(String),
        code: 'API_TIMEOUT',
      });
      expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await s.close();
    }
  });
});

describe('security headers on every response', () => {
  const expectHeaders = (h: Record<string, string>, what: string) => {
    expect(h['x-content-type-options'], what).toBe('nosniff');
    expect(h['cache-control'], what).toBeTruthy();
    expect(h['content-security-policy'], what).toContain("frame-ancestors 'none'");
  };
  const get = (path: string) =>
    rawRequest(api.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

  it('sets nosniff, a Cache-Control and a CSP with frame-ancestors on JSON answers and errors', async () => {
    for (const path of [
      '/v1/stats',
      '/v1/global-params',
      '/healthcheck',
      '/openapi.json',
      '/nowhere',
      '/v1/%zz',
    ]) {
      const r = await get(path);
      expectHeaders(r!.headers, path);
      expect(r!.headers['content-security-policy'], path).toContain("default-src 'none'");
      expect(r!.headers['cache-control'], path).toBe('no-store');
    }
    const slow = await rawRequest(
      api.port,
      `GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expectHeaders(slow!.headers, '431');
  });

  // Issue 25: /docs is Swagger UI now (@fastify/swagger-ui): its scripts and styles are files of
  // this origin, so the CSP allows 'self' for them and still nothing inline or third-party.
  it('lets the /docs page load this origin’s scripts and styles and nothing else', async () => {
    const r = await get('/docs');
    expect(r!.status).toBe(200);
    expectHeaders(r!.headers, '/docs');
    const csp = r!.headers['content-security-policy']!;
    expect(r!.text).toMatch(/<script src="\/docs\/static\/swagger-ui-bundle\.js"/);
    expect(r!.text).not.toMatch(/<script>|<style>/);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/https?:/);
  });
});

describe('readiness stays on the ops port', () => {
  it('answers the public /readyz as an unknown route, with nothing about the internals', async () => {
    const r = await fetchJson(`${api.url}/readyz`);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ errorCode: 'NOT_FOUND', code: 'API_NOT_FOUND' });
    for (const secret of [scratch.name, '5432', 'latency', 'consumer', 'version', 'database']) {
      expect(r.text).not.toContain(secret);
    }
  });

  it('serves the reference /healthcheck body and nothing more', async () => {
    const r = await fetchJson(`${api.url}/healthcheck`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: 'Server is up and running' });
  });

  it('keeps the detailed readiness on the ops listener', async () => {
    const r = await fetchJson(`${api.metricsUrl}/readyz`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ready: true, checks: { database: { ok: true } } });
  });
});
