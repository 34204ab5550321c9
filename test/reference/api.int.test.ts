// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are untyped JSON in these tests
/**
 * Issue 25, the REST part: the API as a drop-in for the reference staking-api-service. Each test
 * names the reference file and commit it follows. Two snapshots are cited:
 * - P1 = babylonlabs-io/staking-api-service@e63b18c2bc6f0ab1e312f75aa0a152e816d9f1cf (phase-1 `dev`,
 *   2024-07-30; backend-services.md §3);
 * - HEAD = babylonlabs-io/staking-api-service@1166dbc055e3f96a4a1dbd1ac28dbf727acb228b (2026-01-21),
 *   whose v1 routes live under internal/v1 and internal/shared.
 * Against a real PostgreSQL (a scratch database per file, dropped at the end).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { address as btcAddress, crypto } from 'bitcoinjs-lib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stakerTaprootAddress } from '../../api/addresses.ts';
import { type RunningApi, startApi } from '../../api/app.ts';
import { applyEvent } from '../../api/apply.ts';
import type { ApiConfig } from '../../api/config.ts';
import {
  activeEvent,
  btcInfoEvent,
  expiredEvent,
  fakeHash,
  makeStake,
  PARAMS_DOC,
  type TestStake,
  testApiConfig,
  withdrawEvent,
} from '../../api/testkit.ts';
import { toHex } from '../../common/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../../db/index.ts';
import { testKey } from '../keys.ts';

let scratch: ScratchDatabase;
let api: RunningApi;
const logLines: any[] = [];
const configs: ApiConfig[] = [];
let seq = 0;
const next = () => ++seq;
const fps = Array.from({ length: 7 }, (_, i) => testKey(`ref-fp-${i}`));
const alice = testKey('ref-alice');
const aliceStakes: TestStake[] = [];

function config(o: Parameters<typeof testApiConfig>[0]): ApiConfig {
  const c = testApiConfig(o);
  configs.push(c);
  return c;
}
async function inject(
  a: RunningApi,
  method: 'GET' | 'POST',
  url: string,
  payload?: unknown,
  extra: { remoteAddress?: string } = {},
) {
  const r = await a.app.inject({
    method,
    url,
    ...(payload === undefined
      ? {}
      : {
          payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
          headers: { 'content-type': 'application/json' },
        }),
    ...extra,
  });
  return {
    status: r.statusCode,
    body:
      r.body === ''
        ? undefined
        : String(r.headers['content-type']).includes('json')
          ? JSON.parse(r.body)
          : r.body,
    headers: r.headers,
    text: r.body,
  };
}
const get = (url: string) => inject(api, 'GET', url);
const post = (url: string, payload: unknown) => inject(api, 'POST', url, payload);

beforeAll(async () => {
  scratch = await createScratchDatabase('api_reference');
  // Debug lines are collected: ignored fields must leave a trace.
  const logger = pino(
    { level: 'debug', base: { service: 'staking-api' } },
    { write: (line: string) => void logLines.push(JSON.parse(line)) },
  );
  // Page size 3 over seven providers: sort=random is checked across pages.
  api = await startApi(config({ dbUrl: scratch.url, fps: fps.slice(0, 7), paginationLimit: 3 }), { logger });
  for (let i = 0; i < 4; i++) {
    const s = makeStake(`ref-alice-${i}`, { staker: alice, fp: fps[i % 2]!, valueSat: 20_000 + i });
    aliceStakes.push(s);
    await applyEvent(api.db, activeEvent(s, { sequence: next(), height: 120 + i }));
  }
  // Providers 2..5 get stakes too (6 stays registry-only).
  for (let i = 2; i < 6; i++) {
    const s = makeStake(`ref-fp-stake-${i}`, { fp: fps[i]!, valueSat: 10_000 * i });
    await applyEvent(api.db, activeEvent(s, { sequence: next(), height: 130 }));
  }
}, 60_000);
afterAll(async () => {
  await api?.stop();
  await scratch?.drop();
  for (const c of configs) rmSync(dirname(c.params.file), { recursive: true, force: true });
});

describe('unknown query parameters and body fields are ignored (reference handlers read only what they know)', () => {
  // P1 internal/api/handlers/handler.go: parse*Query read named parameters with URL.Query().Get;
  // nothing looks at the others. simple-staking sends pagination_limit=50 on /v1/stats/staker.
  const pk = () => toHex(alice.xOnly);

  it('answers /v1/stats/staker?pagination_limit=50 as without it, and logs the ignored name at debug', async () => {
    const plain = await get('/v1/stats/staker');
    const r = await get('/v1/stats/staker?pagination_limit=50');
    expect(r.status).toBe(200);
    expect(r.body).toEqual(plain.body);
    const line = logLines.find((l) => l.msg === 'ignored unknown request fields');
    expect(line?.ignored).toContain('query.pagination_limit');
    expect(line?.level).toBe(20);
  });

  it.each([
    ['/v1/staker/delegations', () => `staker_btc_pk=${pk()}`],
    ['/v1/delegation', () => `staking_tx_hash_hex=${aliceStakes[0]!.txid}`],
    ['/v1/finality-providers', () => ''],
    ['/v1/unbonding/eligibility', () => `staking_tx_hash_hex=${aliceStakes[0]!.txid}`],
    ['/v1/staker/delegation/check', () => `address=${stakerTaprootAddress(alice.xOnly, 'regtest')}`],
  ])('%s ignores unknown parameters, even repeated ones', async (path, qs) => {
    const plain = await get(`${path}?${qs()}`);
    expect(plain.status).toBe(200);
    const r = await get(`${path}?${qs()}&pagination_limit=50&x=1&x=2&utm_source=galxe`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual(plain.body);
  });

  it.each([
    [
      'an unknown state',
      () => `/v1/staker/delegations?staker_btc_pk=${pk()}&state=overflow`,
      'API_BAD_REQUEST',
    ],
    ['a short key', () => '/v1/staker/delegations?staker_btc_pk=abcd&pagination_limit=50', 'API_BAD_REQUEST'],
    [
      'a key that is no curve point',
      () => `/v1/stats/staker?staker_btc_pk=${'F'.repeat(64)}`,
      'API_INVALID_STAKER_PK',
    ],
    [
      'a repeated known parameter',
      () => `/v1/delegation?staking_tx_hash_hex=${fakeHash('a')}&staking_tx_hash_hex=${fakeHash('b')}`,
      'API_BAD_REQUEST',
    ],
    ['a bad sort', () => '/v1/finality-providers?sort=tvl', 'API_BAD_REQUEST'],
  ])('still refuses a known parameter with a bad value: %s', async (_w, url, code) => {
    const r = await get(url());
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ errorCode: 'BAD_REQUEST', code });
  });

  it('accepts an unbonding request carrying an unknown field (P1 handlers/unbonding.go decodes into a struct)', async () => {
    const s = makeStake('ref-extra-field', { valueSat: 50_000 });
    await applyEvent(api.db, activeEvent(s, { sequence: next(), height: 140 }));
    const r = await post('/v1/unbonding', {
      ...s.unbondingBody(),
      client: 'simple-staking',
      nested: { a: 1 },
    });
    expect(r.status).toBe(202);
    expect((await get(`/v1/delegation?staking_tx_hash_hex=${s.txid}`)).body.data.state).toBe(
      'unbonding_requested',
    );
  });
});

describe('pending_action on /v1/staker/delegations (HEAD internal/v1/api/handlers/staker.go GetStakerDelegations)', () => {
  it('true: only the states a staker can still act on; false or absent: all; not a boolean: 400', async () => {
    const bob = testKey('ref-bob');
    const live = makeStake('ref-bob-live', { staker: bob });
    const done = makeStake('ref-bob-done', { staker: bob });
    await applyEvent(api.db, activeEvent(live, { sequence: next(), height: 150 }));
    await applyEvent(api.db, activeEvent(done, { sequence: next(), height: 151 }));
    await applyEvent(api.db, expiredEvent(done.txid, 'active', { sequence: next() }));
    await applyEvent(api.db, withdrawEvent(done.txid, 'staking', { sequence: next() }));
    const list = async (qs: string) =>
      (await get(`/v1/staker/delegations?staker_btc_pk=${toHex(bob.xOnly)}${qs}`)).body.data.map(
        (d: any) => `${d.staking_tx_hash_hex}:${d.state}`,
      );
    expect(await list('&pending_action=true')).toEqual([`${live.txid}:active`]);
    expect(await list('&pending_action=1')).toEqual([`${live.txid}:active`]);
    const all = [`${done.txid}:withdrawn`, `${live.txid}:active`];
    expect(await list('')).toEqual(all);
    expect(await list('&pending_action=false')).toEqual(all);
    expect(await list('&pending_action=true&state=withdrawn')).toEqual([]);
    const bad = await get(`/v1/staker/delegations?staker_btc_pk=${toHex(bob.xOnly)}&pending_action=yes`);
    expect(bad.status).toBe(400);
  });
});

describe('hex of any case (reference: Go hex decoding; ParseTxHashQuery lowercases, HEAD handler/handler.go)', () => {
  it('answers an uppercase staker_btc_pk as the lowercase one', async () => {
    const lower = await get(`/v1/staker/delegations?staker_btc_pk=${toHex(alice.xOnly)}`);
    const upper = await get(`/v1/staker/delegations?staker_btc_pk=${toHex(alice.xOnly).toUpperCase()}`);
    expect(upper.status).toBe(200);
    expect(upper.body).toEqual(lower.body);
    expect(upper.body.data.length).toBeGreaterThan(0);
    const stats = await get(`/v1/stats/staker?staker_btc_pk=${toHex(alice.xOnly).toUpperCase()}`);
    expect(stats.body.data[0].staker_pk_hex).toBe(toHex(alice.xOnly));
  });

  it('finds a delegation and its eligibility by a mixed-case hash, and answers in lowercase', async () => {
    const s = aliceStakes[1]!;
    const mixed = s.txid.replace(/[a-f]/g, (c, i: number) => (i % 2 ? c.toUpperCase() : c));
    expect(mixed).not.toBe(s.txid);
    const r = await get(`/v1/delegation?staking_tx_hash_hex=${mixed}`);
    expect(r.status).toBe(200);
    expect(r.body.data.staking_tx_hash_hex).toBe(s.txid);
    expect((await get(`/v1/unbonding/eligibility?staking_tx_hash_hex=${mixed.toUpperCase()}`)).status).toBe(
      200,
    );
  });

  it('accepts an unbonding request in uppercase hex and stores it in lowercase', async () => {
    const s = makeStake('ref-upper', { valueSat: 60_000 });
    await applyEvent(api.db, activeEvent(s, { sequence: next(), height: 141 }));
    const body = s.unbondingBody();
    const upper = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v.toUpperCase()]));
    const r = await post('/v1/unbonding', upper);
    expect(r.status).toBe(202);
    const row = await api.db.pool.query(
      'SELECT unbonding_tx_hash_hex, unbonding_tx_hex, staker_signature_hex FROM unbonding_requests WHERE staking_tx_hash_hex = $1',
      [s.txid],
    );
    expect(row.rows[0]).toEqual({
      unbonding_tx_hash_hex: body.unbonding_tx_hash_hex,
      unbonding_tx_hex: body.unbonding_tx_hex,
      staker_signature_hex: body.staker_signed_signature_hex,
    });
  });
});

describe('GET /v1/staker/pubkey-lookup (HEAD internal/v1/api/handlers/pubkey.go, v1/service/staker.go)', () => {
  const p2wpkh = (parity: 2 | 3) =>
    btcAddress.toBech32(
      crypto.hash160(Buffer.concat([Buffer.of(parity), Buffer.from(alice.xOnly)])),
      0,
      'bcrt',
    );

  it('maps the taproot and native segwit addresses of a staker with delegations to its x-only key', async () => {
    const taproot = stakerTaprootAddress(alice.xOnly, 'regtest');
    const nobody = stakerTaprootAddress(testKey('ref-nobody').xOnly, 'regtest');
    const r = await get(
      `/v1/staker/pubkey-lookup?address=${taproot}&address=${p2wpkh(2)}&address=${p2wpkh(3)}&address=${nobody}`,
    );
    expect(r.status).toBe(200);
    // Addresses without a delegation are left out, as the reference does.
    expect(r.body).toEqual({
      data: {
        [taproot]: toHex(alice.xOnly),
        [p2wpkh(2)]: toHex(alice.xOnly),
        [p2wpkh(3)]: toHex(alice.xOnly),
      },
    });
    expect((await get(`/v1/staker/pubkey-lookup?address=${nobody}`)).body).toEqual({ data: {} });
  });

  it('refuses no address, more than 10 (MAX_NUM_PK_LOOKUP_ADDRESSES) and an address of another network', async () => {
    const taproot = stakerTaprootAddress(alice.xOnly, 'regtest');
    expect((await get('/v1/staker/pubkey-lookup')).status).toBe(400);
    const eleven = Array.from({ length: 11 }, () => `address=${taproot}`).join('&');
    expect((await get(`/v1/staker/pubkey-lookup?${eleven}`)).body.code).toBe('API_BAD_REQUEST');
    const mainnet = stakerTaprootAddress(alice.xOnly, 'mainnet');
    const r = await get(`/v1/staker/pubkey-lookup?address=${mainnet}`);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('API_INVALID_ADDRESS');
  });
});

describe('POST /v1/ordinals/verify-utxos without an ordinals service (P1 internal/api/routes.go: registered only with `assets`)', () => {
  // tests/assets_checking_test.go @2f1c777cc6ac3913f23510431dccd329ba76e898
  // TestVerifyUtxosEndpointNotAvailableIfAssetsConfigNotSet posts an empty body and expects 404.
  it.each([
    ['an empty body', ''],
    ['a well-formed request', { address: 'bcrt1qxyz', utxos: [{ txid: fakeHash('u'), vout: 0 }] }],
    ['a body that is not JSON', '{"utxos'],
  ])('answers 404 to %s', async (_w, body) => {
    const r = await inject(api, 'POST', '/v1/ordinals/verify-utxos', body);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ errorCode: 'NOT_FOUND', code: 'API_ORDINALS_NOT_CONFIGURED' });
  });
});

describe('POST /log-terms-acceptance (staking-api-service@126a04757c9585b79882c2c6cd6a9c09ad54d7d6 internal/shared/api/handlers/handler/terms.go)', () => {
  it('stores the address and the key (lowercase) and answers {"data":{"status":true}}', async () => {
    const address = stakerTaprootAddress(alice.xOnly, 'regtest');
    const r = await post('/log-terms-acceptance', {
      address,
      public_key: toHex(alice.xOnly).toUpperCase(),
      wallet: 'okx',
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { status: true } });
    const rows = await api.db.pool.query('SELECT address, public_key_hex FROM terms_acceptances');
    expect(rows.rows).toEqual([{ address, public_key_hex: toHex(alice.xOnly) }]);
  });

  it.each([
    ['a missing key', { address: stakerTaprootAddress(alice.xOnly, 'regtest') }, 'API_BAD_REQUEST'],
    [
      'an address of another network',
      { address: stakerTaprootAddress(alice.xOnly, 'mainnet'), public_key: toHex(alice.xOnly) },
      'API_INVALID_ADDRESS',
    ],
    [
      'a key that is no curve point',
      { address: stakerTaprootAddress(alice.xOnly, 'regtest'), public_key: 'f'.repeat(64) },
      'API_INVALID_PUBLIC_KEY',
    ],
  ])('refuses %s with 400', async (_w, body, code) => {
    const r = await post('/log-terms-acceptance', body);
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ errorCode: 'BAD_REQUEST', code });
  });
});

describe('reference response shapes', () => {
  it('/v1/staker/delegation/check answers {"data": bool, "code": 0} (HEAD internal/v1/api/handlers/staker.go DelegationCheckPublicResponse)', async () => {
    const address = stakerTaprootAddress(alice.xOnly, 'regtest');
    expect((await get(`/v1/staker/delegation/check?address=${address}`)).body).toEqual({
      data: true,
      code: 0,
    });
    const other = stakerTaprootAddress(testKey('ref-nobody').xOnly, 'regtest');
    expect((await get(`/v1/staker/delegation/check?address=${other}`)).body).toEqual({
      data: false,
      code: 0,
    });
  });

  it('/v1/stats/staker?staker_btc_pk=<unknown> answers {"data": null}, a known one [one] without pagination (HEAD v1/api/handlers/stats.go)', async () => {
    const none = await get(`/v1/stats/staker?staker_btc_pk=${toHex(testKey('ref-nobody').xOnly)}`);
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ data: null });
    const one = await get(`/v1/stats/staker?staker_btc_pk=${toHex(alice.xOnly)}`);
    expect(Object.keys(one.body)).toEqual(['data']);
    expect(one.body.data).toHaveLength(1);
  });
});

describe('GET /v1/finality-providers?fp_btc_pk= and sort=random (HEAD v1/api/handlers/finality_provider.go; random: a3e8c7e10233a640abbed8b7a430a574d7e8658c)', () => {
  it('answers one provider by key, any case: with stake, registry-only with zeros, unknown as null', async () => {
    const staked = await get(`/v1/finality-providers?fp_btc_pk=${toHex(fps[2]!.xOnly).toUpperCase()}`);
    expect(staked.body).toEqual({
      data: [
        expect.objectContaining({ btc_pk: toHex(fps[2]!.xOnly), active_tvl: 20_000, active_delegations: 1 }),
      ],
    });
    expect(staked.body.data[0].description.moniker).toBe('fp-2');
    const idle = await get(`/v1/finality-providers?fp_btc_pk=${toHex(fps[6]!.xOnly)}`);
    expect(idle.body.data).toEqual([
      expect.objectContaining({ btc_pk: toHex(fps[6]!.xOnly), active_tvl: 0, total_tvl: 0 }),
    ]);
    const unknown = await get(`/v1/finality-providers?fp_btc_pk=${toHex(testKey('ref-nobody').xOnly)}`);
    expect(unknown.body).toEqual({ data: null });
  });

  async function allPages(extra: string) {
    const pages: string[][] = [];
    let key = '';
    do {
      const r = await get(`/v1/finality-providers?${extra}${key ? `&pagination_key=${key}` : ''}`);
      expect(r.status).toBe(200);
      pages.push(r.body.data.map((f: any) => f.btc_pk));
      key = r.body.pagination.next_key;
    } while (key);
    return pages;
  }

  it('shuffles within each page; the pages hold what they hold unsorted, so every provider comes once', async () => {
    const sorted = await allPages('');
    // The registry's seven, and the one the other stakes of this file use.
    expect(new Set(sorted.flat()).size).toBe(sorted.flat().length);
    expect(sorted.flat().length).toBeGreaterThanOrEqual(7);
    const orders = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const random = await allPages('sort=random');
      expect(random.map((p) => [...p].sort())).toEqual(sorted.map((p) => [...p].sort()));
      orders.add(JSON.stringify(random));
    }
    // 12 tries of pages of 3, 3 and 1+... providers: all alike has odds well under one in a million.
    expect(orders.size).toBeGreaterThan(1);
  });
});

describe('Swagger at /swagger/* (P1 internal/api/routes.go: httpSwagger) and /docs, served locally', () => {
  it.each(['/swagger/doc.json', '/openapi.json'])(
    '%s is the OpenAPI document of every route',
    async (path) => {
      const r = await get(path);
      expect(r.status).toBe(200);
      for (const p of [
        '/v1/stats',
        '/v1/staker/delegations',
        '/v1/staker/pubkey-lookup',
        '/v1/finality-providers',
        '/log-terms-acceptance',
        '/healthcheck',
      ]) {
        expect(r.body.paths[p], p).toBeDefined();
      }
      expect(r.body.paths['/swagger/doc.json']).toBeUndefined();
    },
  );

  it.each(['/swagger/', '/docs/'])(
    '%s is Swagger UI whose scripts and styles come from this origin only',
    async (path) => {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/text\/html/);
      const refs = [...r.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(refs.length).toBeGreaterThan(3);
      for (const ref of refs) expect(ref, ref).toMatch(/^\.\/static\//);
      expect(r.text).not.toMatch(/<script>|<style>|https?:\/\//);
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|https?:/);
      const bundle = await get(`${path}static/swagger-ui-bundle.js`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers['content-type']).toMatch(/javascript/);
      const init = await get(`${path}static/swagger-initializer.js`);
      expect(init.text).toContain("resolveUrl('./json')");
    },
  );

  it('redirects the reference UI page /swagger/index.html', async () => {
    const r = await get('/swagger/index.html');
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/swagger/');
  });
});

describe('the labs max-staking-transaction-height cutoff (api.max_staking_transaction_height)', () => {
  // Not in any version of the reference API (its history has no such option); it is the labs
  // covenant signer's (signerapp/signer.go, config key max-staking-transaction-height). Applied where
  // a request would reach those signers: unbonding and its eligibility. Default 0: off.
  it('refuses unbonding of a stake included above the cutoff, and only when set', async () => {
    const cut = await startApi(
      config({ dbUrl: scratch.url, env: { API__API__MAX_STAKING_TRANSACTION_HEIGHT: '121' } }),
    );
    try {
      const below = aliceStakes[1]!; // height 121
      const above = aliceStakes[2]!; // height 122
      expect(
        (await inject(cut, 'GET', `/v1/unbonding/eligibility?staking_tx_hash_hex=${below.txid}`)).status,
      ).toBe(200);
      const r = await inject(cut, 'GET', `/v1/unbonding/eligibility?staking_tx_hash_hex=${above.txid}`);
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ errorCode: 'FORBIDDEN', code: 'API_STAKING_TX_ABOVE_MAX_HEIGHT' });
      const p = await inject(cut, 'POST', '/v1/unbonding', above.unbondingBody());
      expect(p.body.code).toBe('API_STAKING_TX_ABOVE_MAX_HEIGHT');
      expect((await get(`/v1/delegation?staking_tx_hash_hex=${above.txid}`)).body.data.state).toBe('active');
      // The default instance has no cutoff.
      expect((await get(`/v1/unbonding/eligibility?staking_tx_hash_hex=${above.txid}`)).status).toBe(200);
    } finally {
      await cut.stop();
    }
  });
});

describe('rate limiting per client address (@fastify/rate-limit)', () => {
  it('answers 429 API_RATE_LIMITED in the error format beyond the limit, per address, and never limits loopback', async () => {
    const limited = await startApi(
      config({ dbUrl: scratch.url, env: { API__RATE_LIMIT__MAX: '3', API__RATE_LIMIT__WINDOW_MS: '60000' } }),
    );
    try {
      const from = (ip: string) =>
        inject(limited, 'GET', '/v1/global-params', undefined, { remoteAddress: ip });
      for (let i = 0; i < 3; i++) expect((await from('203.0.113.7')).status).toBe(200);
      const r = await from('203.0.113.7');
      expect(r.status).toBe(429);
      expect(r.body).toEqual({
        errorCode: 'TOO_MANY_REQUESTS',
        message: expect.any(String),
        code: 'API_RATE_LIMITED',
      });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(r.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect((await from('203.0.113.8')).status).toBe(200);
      // Unknown paths are limited too (a scanner walking 404s).
      const scan = (path: string) =>
        inject(limited, 'GET', path, undefined, { remoteAddress: '203.0.113.9' });
      for (let i = 0; i < 3; i++) expect((await scan(`/wp-admin/${i}`)).status).toBe(404);
      expect((await scan('/wp-admin/x')).body.code).toBe('API_RATE_LIMITED');
      for (let i = 0; i < 5; i++) expect((await from('127.0.0.1')).status).toBe(200);
      expect((await from('::1')).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });
});

/**
 * A TCP proxy to PostgreSQL that can be stopped: its port then refuses connections and the
 * connections it carried are cut, as a database host that went down.
 */
async function stoppableProxy(target: URL) {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    return s;
  };
  const server: Server = createServer((client) => {
    track(client);
    const upstream = track(connect(Number(target.port), target.hostname));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(target);
  url.port = String((server.address() as AddressInfo).port);
  let stopped: Promise<void> | undefined;
  return {
    url: url.toString(),
    stop() {
      stopped ??= new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
      return stopped;
    },
  };
}

describe('a database outage (HEAD v1/service/finality_provider.go, shared/api/handlers/handler/health.go)', () => {
  it('serves the registry with zero statistics on /v1/finality-providers, and /healthcheck fails', async () => {
    const proxy = await stoppableProxy(new URL(scratch.url));
    const a = await startApi(
      config({ dbUrl: proxy.url, fps: fps.slice(0, 3), env: { API__DATABASE__CONNECT_TIMEOUT_MS: '1000' } }),
    );
    try {
      expect((await inject(a, 'GET', '/healthcheck')).status).toBe(200);
      const before = await inject(a, 'GET', '/v1/finality-providers');
      expect(before.body.data.some((f: any) => f.active_tvl > 0)).toBe(true);
      await proxy.stop();
      const r = await inject(a, 'GET', '/v1/finality-providers');
      expect(r.status).toBe(200);
      expect(r.body.pagination).toEqual({ next_key: '' });
      expect(r.body.data.map((f: any) => f.btc_pk)).toEqual(fps.slice(0, 3).map((k) => toHex(k.xOnly)));
      for (const f of r.body.data) {
        expect(f).toMatchObject({ active_tvl: 0, total_tvl: 0, active_delegations: 0, total_delegations: 0 });
        expect(f.description.moniker).toMatch(/^fp-\d$/);
      }
      expect(await a.metrics.registry.getSingleMetricAsString('api_database_up')).toMatch(
        /api_database_up 0/,
      );
      // The reference answers 500 INTERNAL_SERVICE_ERROR here; we answer 503 (README: why).
      const health = await inject(a, 'GET', '/healthcheck');
      expect(health.status).toBe(503);
      expect(health.body).toEqual({
        errorCode: 'SERVICE_UNAVAILABLE',
        message: 'the database is unavailable; retry later',
        code: 'API_DATABASE_UNAVAILABLE',
      });
    } finally {
      await proxy.stop();
      await a.stop();
    }
  });
});

describe('params reload (SIGHUP): appended versions only, above the tip the btc-info events reported', () => {
  const v1 = (activation: number) => ({
    ...PARAMS_DOC.versions[0],
    version: 1,
    activation_height: activation,
  });
  const write = (c: ApiConfig, doc: unknown) =>
    writeFileSync(c.params.file, typeof doc === 'string' ? doc : JSON.stringify(doc));

  it('refuses appended versions while no tip is known, refuses bad files, applies a good one', async () => {
    const other = await createScratchDatabase('api_reference_reload');
    const c = config({ dbUrl: other.url });
    const a = await startApi(c);
    try {
      const versions = async () => (await inject(a, 'GET', '/v1/global-params')).body.data.versions.length;
      write(c, { versions: [...PARAMS_DOC.versions, v1(10_000)] });
      let r = await a.reloadParams();
      expect(r).toMatchObject({ ok: false, code: 'API_PARAMS_RELOAD_REFUSED' });
      expect(r.message).toMatch(/no btc-info event/);
      expect(await versions()).toBe(1);

      await applyEvent(a.db, btcInfoEvent(500, 0, 0, 1));
      write(c, {
        versions: [...PARAMS_DOC.versions, v1(500 + (PARAMS_DOC.versions[0]!.confirmation_depth as number))],
      });
      r = await a.reloadParams();
      expect(r).toMatchObject({ ok: false, code: 'PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY' });
      // params/'s append-only rule, the same code in every service that reloads params.
      write(c, { versions: [{ ...PARAMS_DOC.versions[0], unbonding_fee: 2_000 }] });
      expect(await a.reloadParams()).toMatchObject({ ok: false, code: 'PARAMS_VERSIONS_CHANGED' });
      write(c, '{"versions": [');
      expect((await a.reloadParams()).ok).toBe(false);
      expect(await versions()).toBe(1);

      write(c, { versions: [...PARAMS_DOC.versions, v1(10_000)] });
      r = await a.reloadParams();
      expect(r).toEqual({ ok: true, message: 'params reloaded: 1 version(s) added' });
      expect(await versions()).toBe(2);
      expect(a.params.current.versions[1]!.activationHeight).toBe(10_000);
    } finally {
      await a.stop();
      await other.drop();
    }
  });
});
