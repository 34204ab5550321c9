// biome-ignore-all lint/suspicious/noExplicitAny: response bodies are untyped JSON in these tests
import { address as btcAddress, crypto, Transaction } from 'bitcoinjs-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import { createScratchDatabase, getUnbondingRequest, type ScratchDatabase } from '../db/index.ts';
import { testKey } from '../test/keys.ts';
import { stakerTaprootAddress } from './addresses.ts';
import { type RunningApi, startApi } from './app.ts';
import { applyEvent } from './apply.ts';
import {
  activeEvent,
  btcInfoEvent,
  expiredEvent,
  fakeHash,
  makeStake,
  type TestStake,
  testApiConfig,
  unbondingEvent,
  withdrawEvent,
} from './testkit.ts';

/** Every route of the API against a real PostgreSQL (events applied directly; the consumer has its own tests). */
let scratch: ScratchDatabase;
let api: RunningApi;
let seq = 0;
const next = () => ++seq;
const fps = [testKey('fp-a'), testKey('fp-b'), testKey('fp-c')];
const alice = testKey('alice');

async function get(url: string) {
  const r = await api.app.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.body === '' ? undefined : JSON.parse(r.body), headers: r.headers };
}
async function post(url: string, payload: unknown, headers: Record<string, string> = {}) {
  const r = await api.app.inject({
    method: 'POST',
    url,
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: r.statusCode, body: r.body === '' ? undefined : JSON.parse(r.body) };
}
/** The tx with its output value changed by `delta` satoshis. */
function withValue(hex: string, delta: bigint): string {
  const tx = Transaction.fromHex(hex);
  tx.outs[0]!.value += delta;
  return tx.toHex();
}
const expectError = (r: { status: number; body: any }, status: number, errorCode: string, code?: string) => {
  expect(r.status).toBe(status);
  expect(r.body.errorCode).toBe(errorCode);
  expect(typeof r.body.message).toBe('string');
  if (code) expect(r.body.code).toBe(code);
};

// Alice: 25 delegations, many at the same height (the reference's cursor bug needs ties).
const aliceStakes: TestStake[] = [];

beforeAll(async () => {
  scratch = await createScratchDatabase('api_routes');
  api = await startApi(testApiConfig({ dbUrl: scratch.url, fps: [fps[0]!, fps[1]!, fps[2]!] }));
  for (let i = 0; i < 25; i++) {
    const s = makeStake(`alice-${i}`, { staker: alice, fp: fps[i % 2]!, valueSat: 10_000 + i * 1000 });
    aliceStakes.push(s);
    await applyEvent(api.db, activeEvent(s, { sequence: next(), height: 200 + Math.floor(i / 6) }));
  }
  // 21 other stakers with one stake each; equal values to create active_tvl ties.
  for (let i = 0; i < 21; i++) {
    const s = makeStake(`other-${i}`, { fp: fps[0]!, valueSat: 50_000 });
    await applyEvent(api.db, activeEvent(s, { sequence: next(), height: 300 }));
  }
}, 60_000);
afterAll(async () => {
  await api?.stop();
  await scratch?.drop();
});

describe('GET /v1/stats', () => {
  it('serves the reference fields with the totals of non-overflow delegations', async () => {
    const r = await get('/v1/stats');
    expect(r.status).toBe(200);
    const aliceTvl = aliceStakes.reduce((a, s) => a + s.valueSat, 0);
    expect(r.body).toEqual({
      data: {
        active_tvl: aliceTvl + 21 * 50_000,
        total_tvl: aliceTvl + 21 * 50_000,
        active_delegations: 46,
        total_delegations: 46,
        total_stakers: 22,
        unconfirmed_tvl: 0,
        pending_tvl: 0,
      },
    });
  });

  it('takes unconfirmed TVL from the latest btc-info and never lets pending_tvl go negative', async () => {
    await applyEvent(api.db, btcInfoEvent(500, 1_000_000, 1_300_000, next()));
    expect((await get('/v1/stats')).body.data).toMatchObject({
      unconfirmed_tvl: 1_300_000,
      pending_tvl: 300_000,
    });
    // An older height does not replace it; a newer one with unbondings in the window clamps at 0.
    await applyEvent(api.db, btcInfoEvent(499, 1, 2, next()));
    expect((await get('/v1/stats')).body.data.unconfirmed_tvl).toBe(1_300_000);
    await applyEvent(api.db, btcInfoEvent(501, 1_000_000, 900_000, next()));
    expect((await get('/v1/stats')).body.data).toMatchObject({ unconfirmed_tvl: 900_000, pending_tvl: 0 });
  });

  it('ignores query parameters on a route that takes none (cache busters)', async () => {
    const r = await get('/v1/stats?foo=1');
    expect(r.status).toBe(200);
  });
});

describe('GET /v1/staker/delegations', () => {
  const pk = toHex(alice.xOnly);

  it('pages through every delegation exactly once, newest first, across equal heights', async () => {
    const seen: string[] = [];
    let key = '';
    let pages = 0;
    do {
      const r = await get(`/v1/staker/delegations?staker_btc_pk=${pk}&pagination_key=${key}`);
      expect(r.status).toBe(200);
      expect(r.body.data.length).toBeLessThanOrEqual(10);
      seen.push(...r.body.data.map((d: any) => d.staking_tx_hash_hex));
      key = r.body.pagination.next_key;
      pages++;
    } while (key !== '' && pages < 10);
    expect(pages).toBe(3);
    expect(seen.length).toBe(25);
    expect(new Set(seen).size).toBe(25);
    expect(new Set(seen)).toEqual(new Set(aliceStakes.map((s) => s.txid)));
  });

  it('answers concurrent first pages (batched into shared queries) exactly as one at a time', async () => {
    const others = await get('/v1/stats/staker');
    const urls = [
      ...others.body.data.map((x: any) => `/v1/staker/delegations?staker_btc_pk=${x.staker_pk_hex}`),
      `/v1/staker/delegations?staker_btc_pk=${pk}`,
      `/v1/staker/delegations?staker_btc_pk=${pk}&state=active`,
      `/v1/staker/delegations?staker_btc_pk=${toHex(testKey('nobody').xOnly)}`,
    ];
    const one = [];
    for (const u of urls) one.push(await get(u));
    const all = await Promise.all([...urls, ...urls].map((u) => get(u)));
    expect(all.map((r) => r.body)).toEqual([...one, ...one].map((r) => r.body));
    expect(one.at(-1)!.body).toEqual({ data: [], pagination: { next_key: '' } });
  });

  it('returns the reference DelegationPublic shape', async () => {
    const r = await get(`/v1/staker/delegations?staker_btc_pk=${pk}`);
    const d = r.body.data[0];
    expect(Object.keys(d)).toEqual([
      'staking_tx_hash_hex',
      'staker_pk_hex',
      'finality_provider_pk_hex',
      'state',
      'staking_value',
      'staking_tx',
      'is_overflow',
    ]);
    expect(d.staking_tx).toEqual({
      tx_hex: expect.stringMatching(/^[0-9a-f]+$/),
      output_index: 0,
      start_timestamp: '2024-11-07T17:20:00Z',
      start_height: 204,
      timelock: 1000,
    });
    expect(r.body.pagination.next_key).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('filters by state', async () => {
    await applyEvent(api.db, unbondingEvent(aliceStakes[0]!.txid, { sequence: next() }));
    const r = await get(`/v1/staker/delegations?staker_btc_pk=${pk}&state=unbonding`);
    expect(r.body.data.map((d: any) => d.staking_tx_hash_hex)).toEqual([aliceStakes[0]!.txid]);
    expect(r.body.data[0].unbonding_tx).toMatchObject({ start_height: 130, timelock: 3, output_index: 0 });
    expect(r.body.pagination.next_key).toBe('');
    const none = await get(`/v1/staker/delegations?staker_btc_pk=${pk}&state=withdrawn`);
    expect(none.body).toEqual({ data: [], pagination: { next_key: '' } });
  });

  it('accepts its token in standard base64 too (the reference refused URL-safe ones)', async () => {
    const first = await get(`/v1/staker/delegations?staker_btc_pk=${pk}`);
    const token: string = first.body.pagination.next_key;
    const std = Buffer.from(token, 'base64url').toString('base64');
    const a = await get(`/v1/staker/delegations?staker_btc_pk=${pk}&pagination_key=${token}`);
    const b = await get(
      `/v1/staker/delegations?staker_btc_pk=${pk}&pagination_key=${encodeURIComponent(std)}`,
    );
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
  });

  it.each([
    ['a missing staker_btc_pk', '', 'API_BAD_REQUEST'],
    ['a short staker_btc_pk', 'staker_btc_pk=abcd', 'API_BAD_REQUEST'],
    ['a staker_btc_pk that is no curve point', `staker_btc_pk=${'f'.repeat(64)}`, 'API_INVALID_STAKER_PK'],
    ['two staker_btc_pk', `staker_btc_pk=${pk}&staker_btc_pk=${pk}`, 'API_BAD_REQUEST'],
    ['an unknown state', `staker_btc_pk=${pk}&state=overflow`, 'API_BAD_REQUEST'],
    ['a garbage pagination_key', `staker_btc_pk=${pk}&pagination_key=***`, 'API_INVALID_PAGINATION_KEY'],
    [
      'a pagination_key of another route',
      `staker_btc_pk=${pk}&pagination_key=${Buffer.from('{"staker_pk_hex":"00","active_tvl":1}').toString('base64url')}`,
      'API_INVALID_PAGINATION_KEY',
    ],
    [
      'a pagination_key that is not JSON',
      `staker_btc_pk=${pk}&pagination_key=bm90IGpzb24`,
      'API_INVALID_PAGINATION_KEY',
    ],
  ])('refuses %s with 400', async (_what, qs, code) => {
    expectError(await get(`/v1/staker/delegations?${qs}`), 400, 'BAD_REQUEST', code);
  });

  // Issue 25: the reference ignores unknown parameters and accepts hex of any case
  // (test/reference/api.int.test.ts has the rest).
  it('ignores an unknown parameter and reads an uppercase staker_btc_pk as lowercase', async () => {
    const plain = await get(`/v1/staker/delegations?staker_btc_pk=${pk}`);
    expect((await get(`/v1/staker/delegations?staker_btc_pk=${pk}&limit=5`)).body).toEqual(plain.body);
    expect((await get(`/v1/staker/delegations?staker_btc_pk=${pk.toUpperCase()}`)).body).toEqual(plain.body);
  });
});

describe('GET /v1/delegation', () => {
  it('returns one delegation', async () => {
    const s = aliceStakes[3]!;
    const r = await get(`/v1/delegation?staking_tx_hash_hex=${s.txid}`);
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({
      staking_tx_hash_hex: s.txid,
      staker_pk_hex: toHex(alice.xOnly),
      finality_provider_pk_hex: toHex(s.fp.xOnly),
      state: 'active',
      staking_value: s.valueSat,
      is_overflow: false,
    });
    expect(r.body.data.staking_tx.tx_hex).toBe(s.hex);
  });

  it('answers 404 NOT_FOUND for an unknown hash (an unknown parameter beside it is ignored)', async () => {
    const r = await get(`/v1/delegation?staking_tx_hash_hex=${fakeHash('nope')}`);
    expectError(r, 404, 'NOT_FOUND', 'API_DELEGATION_NOT_FOUND');
    expect(r.body.message).toBe('staking delegation not found, please retry');
    expect((await get(`/v1/delegation?staking_tx_hash_hex=${fakeHash('nope')}&x=1`)).body).toEqual(r.body);
  });

  it.each([
    ['missing', ''],
    ['short', 'staking_tx_hash_hex=abc'],
    ['non-hex', `staking_tx_hash_hex=${'z'.repeat(64)}`],
  ])('refuses a %s staking_tx_hash_hex with 400', async (_w, qs) => {
    expectError(await get(`/v1/delegation?${qs}`), 400, 'BAD_REQUEST', 'API_BAD_REQUEST');
  });
});

describe('GET /v1/staker/delegation/check', () => {
  it('finds an active delegation by the staker’s taproot address', async () => {
    const r = await get(
      `/v1/staker/delegation/check?address=${stakerTaprootAddress(alice.xOnly, 'regtest')}`,
    );
    expect(r.body).toEqual({ data: true, code: 0 });
  });

  it('finds it by the P2WPKH address of either parity of the key (the reference matched taproot only)', async () => {
    for (const prefix of [0x02, 0x03]) {
      const h = crypto.hash160(Uint8Array.from([prefix, ...alice.xOnly]));
      const addr = btcAddress.toBech32(h, 0, 'bcrt');
      expect((await get(`/v1/staker/delegation/check?address=${addr}`)).body).toEqual({
        data: true,
        code: 0,
      });
    }
  });

  it('is false for an address with no active delegation, and for timeframe=today on old stakes', async () => {
    const other = stakerTaprootAddress(testKey('nobody').xOnly, 'regtest');
    expect((await get(`/v1/staker/delegation/check?address=${other}`)).body).toEqual({
      data: false,
      code: 0,
    });
    const mine = stakerTaprootAddress(alice.xOnly, 'regtest');
    expect((await get(`/v1/staker/delegation/check?address=${mine}&timeframe=today`)).body).toEqual({
      data: false,
      code: 0,
    });
    const today = makeStake('today', { staker: testKey('today-staker') });
    await applyEvent(
      api.db,
      activeEvent(today, { sequence: next(), timestamp: Math.floor(Date.now() / 1000) }),
    );
    const addr = stakerTaprootAddress(today.staker.xOnly, 'regtest');
    expect((await get(`/v1/staker/delegation/check?address=${addr}&timeframe=today`)).body).toEqual({
      data: true,
      code: 0,
    });
  });

  it.each([
    ['missing address', ''],
    ['garbage address', 'address=notanaddress12345'],
    ['mainnet address on regtest', `address=${stakerTaprootAddress(alice.xOnly, 'mainnet')}`],
    ['P2WSH address', `address=${btcAddress.toBech32(new Uint8Array(32), 0, 'bcrt')}`],
    ['unknown timeframe', `address=${stakerTaprootAddress(alice.xOnly, 'regtest')}&timeframe=week`],
  ])('refuses a %s with 400', async (_w, qs) => {
    expectError(await get(`/v1/staker/delegation/check?${qs}`), 400, 'BAD_REQUEST');
  });
});

describe('GET /v1/stats/staker', () => {
  it('pages through every staker exactly once, highest active TVL first, across ties', async () => {
    const seen: any[] = [];
    let key = '';
    do {
      const r = await get(`/v1/stats/staker${key ? `?pagination_key=${key}` : ''}`);
      expect(r.status).toBe(200);
      seen.push(...r.body.data);
      key = r.body.pagination.next_key;
    } while (key !== '');
    expect(seen.length).toBe(23);
    expect(new Set(seen.map((s) => s.staker_pk_hex)).size).toBe(23);
    const tvls = seen.map((s) => s.active_tvl);
    expect([...tvls].sort((a, b) => b - a)).toEqual(tvls);
    expect(seen[0]).toEqual({
      staker_pk_hex: toHex(alice.xOnly),
      active_tvl: expect.any(Number),
      total_tvl: expect.any(Number),
      active_delegations: 24,
      total_delegations: 25,
    });
  });

  it('answers for one staker', async () => {
    const r = await get(`/v1/stats/staker?staker_btc_pk=${toHex(alice.xOnly)}`);
    expect(r.body.data).toHaveLength(1);
    expect(r.body.data[0].total_delegations).toBe(25);
    const none = await get(`/v1/stats/staker?staker_btc_pk=${toHex(testKey('nobody').xOnly)}`);
    // Issue 25: the reference's answer for a staker it does not know.
    expect(none.body).toEqual({ data: null });
  });

  it.each([
    ['a bad pagination_key', 'pagination_key=%25%25'],
    [
      'a delegations token',
      `pagination_key=${Buffer.from(JSON.stringify({ staking_tx_hash_hex: fakeHash('a'), staking_start_height: 1 })).toString('base64url')}`,
    ],
    ['a bad staker_btc_pk', 'staker_btc_pk=xyz'],
  ])('refuses %s with 400', async (_w, qs) => {
    expectError(await get(`/v1/stats/staker?${qs}`), 400, 'BAD_REQUEST');
  });
});

describe('GET /v1/finality-providers', () => {
  it('lists providers with stakes by active TVL, then registry ones without, with zeros, on the last page', async () => {
    const r = await get('/v1/finality-providers');
    expect(r.status).toBe(200);
    expect(r.body.pagination.next_key).toBe('');
    const byPk = new Map(r.body.data.map((f: any) => [f.btc_pk, f]));
    const order = r.body.data.map((f: any) => f.btc_pk);
    expect(order.slice(0, 2)).toEqual([toHex(fps[0]!.xOnly), toHex(fps[1]!.xOnly)]);
    expect(order.at(-1)).toBe(toHex(fps[2]!.xOnly));
    expect(order).toHaveLength(4);
    expect(byPk.get(toHex(fps[0]!.xOnly))).toMatchObject({
      description: { moniker: 'fp-0', website: 'https://fp0.example', security_contact: 'sec@fp0.example' },
      commission: '0.05',
      active_delegations: 13 + 21 - 1, // alice's first stake unbonded
    });
    expect(byPk.get(toHex(fps[2]!.xOnly))).toMatchObject({
      active_tvl: 0,
      total_tvl: 0,
      active_delegations: 0,
    });
    // A provider with stakes but no registry entry: empty description, commission "".
    const stranger = r.body.data.find((f: any) => f.description.moniker === '');
    expect(stranger).toMatchObject({
      commission: '',
      description: { moniker: '', identity: '', website: '' },
    });
  });

  it('refuses a bad pagination_key with 400 and ignores unknown parameters', async () => {
    expectError(
      await get('/v1/finality-providers?pagination_key=abc'),
      400,
      'BAD_REQUEST',
      'API_INVALID_PAGINATION_KEY',
    );
    const x = await get('/v1/finality-providers?x=1');
    expect(x.status).toBe(200);
    expect(x.body).toEqual((await get('/v1/finality-providers')).body);
  });
});

describe('GET /v1/global-params', () => {
  it('serves every version in the reference shape', async () => {
    const r = await get('/v1/global-params');
    expect(r.body.data.versions).toHaveLength(1);
    expect(r.body.data.versions[0]).toMatchObject({
      version: 0,
      activation_height: 100,
      staking_cap: 10_000_000_000,
      cap_height: 0,
      tag: '01020304',
      covenant_quorum: 2,
      unbonding_time: 3,
      unbonding_fee: 1_000,
      confirmation_depth: 2,
    });
    expect(r.body.data.versions[0].covenant_pks).toHaveLength(3);
  });
});

describe('POST /v1/unbonding and GET /v1/unbonding/eligibility', () => {
  let bob: TestStake;
  beforeAll(async () => {
    bob = makeStake('bob-1', { staker: testKey('bob'), fp: fps[1]! });
    await applyEvent(api.db, activeEvent(bob, { sequence: next() }));
  });

  it('says an active delegation is eligible (200 null)', async () => {
    const r = await api.app.inject({
      method: 'GET',
      url: `/v1/unbonding/eligibility?staking_tx_hash_hex=${bob.txid}`,
    });
    expect(r.statusCode).toBe(200);
    expect(r.body).toBe('null');
  });

  it.each([
    [
      'a wrong unbonding_tx_hash_hex',
      (b: any) => ({ ...b, unbonding_tx_hash_hex: fakeHash('x') }),
      403,
      'VALIDATION_ERROR',
      'API_UNBONDING_TX_HASH_MISMATCH',
    ],
    [
      'a signature by another key',
      (b: any) => ({ ...b, staker_signed_signature_hex: 'ab'.repeat(64) }),
      403,
      'VALIDATION_ERROR',
      'API_INVALID_STAKER_SIGNATURE',
    ],
    [
      'an unbonding tx paying a different value',
      (b: any) => ({
        ...b,
        unbonding_tx_hex: withValue(b.unbonding_tx_hex, -1n),
      }),
      403,
      'VALIDATION_ERROR',
      'STAKING_UNBONDING_WRONG_VALUE',
    ],
    [
      'a malformed unbonding tx',
      (b: any) => ({ ...b, unbonding_tx_hex: 'deadbeef' }),
      400,
      'BAD_REQUEST',
      'API_INVALID_UNBONDING_TX',
    ],
    [
      'a missing field',
      (b: any) => ({ ...b, staker_signed_signature_hex: undefined }),
      400,
      'BAD_REQUEST',
      'API_BAD_REQUEST',
    ],
    [
      'a 65-byte signature',
      (b: any) => ({ ...b, staker_signed_signature_hex: `${b.staker_signed_signature_hex}01` }),
      400,
      'BAD_REQUEST',
      'API_BAD_REQUEST',
    ],
    [
      'odd-length tx hex',
      (b: any) => ({ ...b, unbonding_tx_hex: `${b.unbonding_tx_hex}0` }),
      400,
      'BAD_REQUEST',
      'API_BAD_REQUEST',
    ],
    [
      'a number for a hash',
      (b: any) => ({ ...b, unbonding_tx_hash_hex: 5 }),
      400,
      'BAD_REQUEST',
      'API_BAD_REQUEST',
    ],
  ])('refuses %s', async (_w, mutate, status, errorCode, code) => {
    expectError(await post('/v1/unbonding', mutate(bob.unbondingBody())), status, errorCode, code);
    expect((await get(`/v1/delegation?staking_tx_hash_hex=${bob.txid}`)).body.data.state).toBe('active');
  });

  it('refuses a body that is not JSON, too large, or of another media type', async () => {
    expectError(await post('/v1/unbonding', '{"staking'), 400, 'BAD_REQUEST');
    expectError(
      await post('/v1/unbonding', { pad: 'x'.repeat(5000) }),
      413,
      'REQUEST_ENTITY_TOO_LARGE',
      'API_BODY_TOO_LARGE',
    );
    expectError(
      await post('/v1/unbonding', 'a=b', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'BAD_REQUEST',
      'API_UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('accepts a valid request once (202 null), stores it for the pipeline, moves the delegation to unbonding_requested', async () => {
    const body = bob.unbondingBody();
    const results = await Promise.all([
      post('/v1/unbonding', body),
      post('/v1/unbonding', body),
      post('/v1/unbonding', body),
    ]);
    const accepted = results.filter((r) => r.status === 202);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.body).toBeNull();
    for (const r of results.filter((x) => x.status !== 202)) {
      expectError(r, 403, 'FORBIDDEN', 'API_UNBONDING_ALREADY_REQUESTED');
    }
    expect((await get(`/v1/delegation?staking_tx_hash_hex=${bob.txid}`)).body.data.state).toBe(
      'unbonding_requested',
    );
    const stored = await getUnbondingRequest(api.db, bob.txid);
    expect(stored).toMatchObject({
      state: 'pending',
      attempts: 0,
      unbondingTxHashHex: body.unbonding_tx_hash_hex,
      stakerSignatureHex: body.staker_signed_signature_hex,
      stakingValue: bob.valueSat,
      paramsVersion: 0,
    });
    expectError(await post('/v1/unbonding', body), 403, 'FORBIDDEN', 'API_UNBONDING_ALREADY_REQUESTED');
    expectError(
      await get(`/v1/unbonding/eligibility?staking_tx_hash_hex=${bob.txid}`),
      403,
      'FORBIDDEN',
      'API_UNBONDING_ALREADY_REQUESTED',
    );
  });

  it('refuses unknown and non-active delegations with the reference’s 403 codes', async () => {
    const ghost = makeStake('ghost');
    expectError(
      await post('/v1/unbonding', ghost.unbondingBody()),
      403,
      'NOT_FOUND',
      'API_UNBONDING_DELEGATION_NOT_FOUND',
    );
    expectError(await get(`/v1/unbonding/eligibility?staking_tx_hash_hex=${ghost.txid}`), 403, 'NOT_FOUND');
    const carol = makeStake('carol-1', { staker: testKey('carol') });
    await applyEvent(api.db, activeEvent(carol, { sequence: next() }));
    await applyEvent(api.db, expiredEvent(carol.txid, 'active', { sequence: next() }));
    expectError(
      await post('/v1/unbonding', carol.unbondingBody()),
      403,
      'FORBIDDEN',
      'API_DELEGATION_NOT_ACTIVE',
    );
    expectError(
      await get(`/v1/unbonding/eligibility?staking_tx_hash_hex=${carol.txid}`),
      403,
      'FORBIDDEN',
      'API_DELEGATION_NOT_ACTIVE',
    );
    await applyEvent(api.db, withdrawEvent(carol.txid, 'staking', { sequence: next() }));
    expect((await get(`/v1/delegation?staking_tx_hash_hex=${carol.txid}`)).body.data.state).toBe('withdrawn');
  });

  it('accepts an overflow delegation (it is active too)', async () => {
    const over = makeStake('over-1', { staker: testKey('dave') });
    await applyEvent(api.db, activeEvent(over, { sequence: next(), overflow: true }));
    expect((await post('/v1/unbonding', over.unbondingBody())).status).toBe(202);
  });

  it.each([
    ['missing', ''],
    ['bad', 'staking_tx_hash_hex=12'],
    ['doubled', `staking_tx_hash_hex=${fakeHash('a')}&staking_tx_hash_hex=${fakeHash('b')}`],
  ])('eligibility refuses a %s hash with 400', async (_w, qs) => {
    expectError(await get(`/v1/unbonding/eligibility?${qs}`), 400, 'BAD_REQUEST', 'API_BAD_REQUEST');
  });
});

describe('health, documentation and the edges', () => {
  it('/healthcheck pings the database; /healthz answers; readiness is not on the public port', async () => {
    expect((await get('/healthcheck')).body).toEqual({ data: 'Server is up and running' });
    expect((await get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await get('/readyz')).status).toBe(404);
  });

  it('serves an OpenAPI document covering every route, and an offline docs page', async () => {
    const doc = (await get('/openapi.json')).body;
    expect(doc.openapi).toBe('3.0.3');
    for (const p of [
      '/v1/stats',
      '/v1/stats/staker',
      '/v1/staker/delegations',
      '/v1/delegation',
      '/v1/staker/delegation/check',
      '/v1/unbonding',
      '/v1/unbonding/eligibility',
      '/v1/finality-providers',
      '/v1/global-params',
      '/healthcheck',
    ]) {
      expect(doc.paths[p], p).toBeDefined();
    }
    expect(doc.paths['/v1/unbonding'].post.requestBody.content['application/json'].schema.required).toContain(
      'staker_signed_signature_hex',
    );
    // Issue 25: /docs is Swagger UI (@fastify/swagger-ui), its scripts served from this origin,
    // none inline and nothing from elsewhere.
    const page = await api.app.inject({ method: 'GET', url: '/docs' });
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('/docs/static/swagger-ui-bundle.js');
    expect(page.body).not.toMatch(/<script>|https?:\/\//);
  });

  it('answers an unknown route with the reference error body and a correlation id', async () => {
    const r = await get('/v2/whatever');
    expectError(r, 404, 'NOT_FOUND', 'API_NOT_FOUND');
    expect(r.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers CORS preflights and sets the allow-origin header', async () => {
    const pre = await api.app.inject({
      method: 'OPTIONS',
      url: '/v1/unbonding',
      headers: { origin: 'https://dash.example', 'access-control-request-method': 'POST' },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    const r = await api.app.inject({
      method: 'GET',
      url: '/v1/stats',
      headers: { origin: 'https://dash.example' },
    });
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });

  it('exports request metrics under the reference name', async () => {
    const text = await api.metrics.registry.metrics();
    expect(text).toMatch(/http_request_duration_seconds_count\{endpoint="\/v1\/stats",status="200"\}/);
  });
});

describe('when the database goes away', () => {
  it('answers 503 with no detail and reports not ready', async () => {
    const other = await createScratchDatabase('api_gone');
    const a = await startApi(testApiConfig({ dbUrl: other.url, ops: true }));
    try {
      await other.drop();
      const r = await a.app.inject({
        method: 'GET',
        url: `/v1/delegation?staking_tx_hash_hex=${fakeHash('z')}`,
      });
      expect(r.statusCode).toBe(503);
      const body = JSON.parse(r.body);
      expect(body).toEqual({
        errorCode: 'SERVICE_UNAVAILABLE',
        message: 'the database is unavailable; retry later',
        code: 'API_DATABASE_UNAVAILABLE',
      });
      const health = await a.app.inject({ method: 'GET', url: '/healthcheck' });
      expect(health.statusCode).toBe(503);
      expect(JSON.parse(health.body).code).toBe('API_DATABASE_UNAVAILABLE');
      expect(health.body).not.toContain(other.name);
      const ready = await fetch(`${a.metricsUrl}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await a.stop();
    }
  });
});
