import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../db/index.ts';
import { type RunningApi, startApi } from './app.ts';
import { applyEvent } from './apply.ts';
import type { ApiConfig } from './config.ts';
import { DASHBOARD_CSP } from './dashboard.ts';
import { btcInfoEvent, testApiConfig } from './testkit.ts';

/** The additive /v1/btc-info route and the dashboard's static serving, against a real PostgreSQL. */
let scratch: ScratchDatabase;
let dist: string;
const running: RunningApi[] = [];

async function start(
  dashboard: Omit<ApiConfig['dashboard'], 'explorer_url'> & { explorer_url?: string },
): Promise<RunningApi> {
  const api = await startApi({
    ...testApiConfig({ dbUrl: scratch.url }),
    dashboard: { explorer_url: '', ...dashboard },
  });
  running.push(api);
  return api;
}
async function get(api: RunningApi, url: string, headers: Record<string, string> = {}) {
  return api.app.inject({ method: 'GET', url, headers });
}

beforeAll(async () => {
  scratch = await createScratchDatabase('api_dashboard');
  dist = mkdtempSync(join(tmpdir(), 'dashboard-dist-'));
  mkdirSync(join(dist, 'assets'));
  writeFileSync(
    join(dist, 'index.html'),
    '<!doctype html><meta name="staking-explorer-url" content=""><title>t</title><script src="/assets/app-1.js"></script>',
  );
  writeFileSync(join(dist, 'assets', 'app-1.js'), 'console.log(1)');
  writeFileSync(join(dist, 'assets', 'app-1.css'), 'body{}');
}, 60_000);
afterAll(async () => {
  for (const api of running) await api.stop();
  await scratch?.drop();
  rmSync(dist, { recursive: true, force: true });
});

describe('GET /v1/btc-info (ours, additive)', () => {
  it('answers the network and a null tip before the indexer reports, then its latest report', async () => {
    const api = await start({ enabled: false, dir: '' });
    const before = await get(api, '/v1/btc-info');
    expect(before.statusCode).toBe(200);
    expect(JSON.parse(before.body)).toEqual({
      data: { network: 'regtest', tip_height: null, confirmed_tvl: 0, unconfirmed_tvl: 0 },
    });
    await applyEvent(api.db, btcInfoEvent(321, 5_000, 7_000, 1));
    expect(JSON.parse((await get(api, '/v1/btc-info')).body)).toEqual({
      data: { network: 'regtest', tip_height: 321, confirmed_tvl: 5_000, unconfirmed_tvl: 7_000 },
    });
  });

  it('is described in the OpenAPI document with a nullable tip', async () => {
    const api = running[0]!;
    const doc = JSON.parse((await get(api, '/openapi.json')).body);
    const schema = doc.paths['/v1/btc-info'].get.responses['200'].content['application/json'].schema;
    expect(schema.properties.data.properties.tip_height).toMatchObject({ type: 'integer', nullable: true });
  });

  it('leaves / unanswered (404 JSON) when the dashboard is disabled', async () => {
    const r = await get(running[0]!, '/');
    expect(r.statusCode).toBe(404);
    expect(JSON.parse(r.body).code).toBe('API_NOT_FOUND');
  });
});

describe('the dashboard at / (dashboard.enabled)', () => {
  let api: RunningApi;
  beforeAll(async () => {
    api = await start({ enabled: true, dir: dist });
  });

  it('serves index.html at / under a same-origin-only content security policy, revalidated', async () => {
    const r = await get(api, '/');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(r.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.body).toContain('/assets/app-1.js');
  });

  it('serves assets with their type, cached for good, and answers 304 to a matching ETag', async () => {
    const js = await get(api, '/assets/app-1.js');
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toContain('immutable');
    expect(js.body).toBe('console.log(1)');
    const css = await get(api, '/assets/app-1.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const again = await get(api, '/assets/app-1.js', { 'if-none-match': String(js.headers.etag) });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers an unknown asset or a traversal attempt with the API’s 404, never a file', async () => {
    for (const url of ['/assets/nope.js', '/assets/../index.html', '/assets/%2e%2e%2fpackage.json']) {
      const r = await get(api, url);
      expect(r.statusCode, url).toBe(404);
      expect(JSON.parse(r.body).code, url).toBe('API_NOT_FOUND');
    }
  });

  it('keeps every API route working beside it', async () => {
    expect((await get(api, '/v1/stats')).statusCode).toBe(200);
    expect((await get(api, '/v1/btc-info')).statusCode).toBe(200);
  });

  it('names no explorer by default, and the configured one in the page’s meta tag', async () => {
    expect((await get(api, '/')).body).toContain('<meta name="staking-explorer-url" content="">');
    const linked = await start({ enabled: true, dir: dist, explorer_url: 'http://127.0.0.1:3002/explorer' });
    const r = await get(linked, '/');
    expect(r.body).toContain('<meta name="staking-explorer-url" content="http://127.0.0.1:3002/explorer">');
    // The ETag follows the served page, not the file on disk.
    expect(r.headers.etag).not.toBe((await get(api, '/')).headers.etag);
  });

  it('explains how to build it (503, not a blank page) when the directory holds no build', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'dashboard-empty-'));
    try {
      const bare = await start({ enabled: true, dir: empty });
      const r = await get(bare, '/');
      expect(r.statusCode).toBe(503);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.body).toContain('npm run build:web');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
