import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from './api.ts';
import { outputScriptOf } from './txbuild.ts';

/*
 * The dashboard's two codes about what it is given rather than what the wallet does: an API that
 * cannot be reached, answers something that is not JSON, or refuses (WEB_API_ERROR, each with a
 * sentence a person can act on), and an address not of the API's network (WEB_ADDRESS).
 */
let server: Server;
let base: string;
let closedBase: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/v1/stats') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          errorCode: 'SERVICE_UNAVAILABLE',
          message: 'the database is unavailable; retry later',
          code: 'API_DATABASE_UNAVAILABLE',
        }),
      );
    } else if (req.url === '/v1/btc-info') {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
    } else {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ data: { versions: [] } }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const spare = createServer();
  await new Promise<void>((r) => spare.listen(0, '127.0.0.1', () => r()));
  closedBase = `http://127.0.0.1:${(spare.address() as AddressInfo).port}`;
  await new Promise<void>((r) => spare.close(() => r()));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('WEB_API_ERROR', () => {
  it('a refusal carries the API’s sentence and code', async () => {
    await expect(createApi(base).stats()).rejects.toMatchObject({
      code: 'WEB_API_ERROR',
      message:
        'The staking API refused: the database is unavailable; retry later (API_DATABASE_UNAVAILABLE).',
      details: { status: 503, apiCode: 'API_DATABASE_UNAVAILABLE' },
    });
  });

  it('an answer that is not JSON, and an API that cannot be reached', async () => {
    await expect(createApi(base).btcInfo()).rejects.toMatchObject({
      code: 'WEB_API_ERROR',
      message: 'The staking API answered 502 with something that is not JSON.',
    });
    await expect(createApi(closedBase).stats()).rejects.toMatchObject({
      code: 'WEB_API_ERROR',
      message: expect.stringContaining('cannot be reached'),
    });
  });

  it('a good answer passes through', async () => {
    expect(await createApi(base).globalParams()).toEqual({ versions: [] });
  });
});

describe('WEB_ADDRESS', () => {
  it('refuses what is not an address of the network, and takes one that is', () => {
    const regtestTaproot = 'bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6';
    expect(outputScriptOf(regtestTaproot, 'regtest')).toHaveLength(34);
    for (const [address, network] of [
      ['not an address', 'regtest'],
      [regtestTaproot, 'mainnet'],
    ] as const) {
      expect(() => outputScriptOf(address, network), `${address} on ${network}`).toThrow(
        expect.objectContaining({ code: 'WEB_ADDRESS' }),
      );
    }
  });
});
