// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are untyped JSON in these tests
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
