import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { CustodyBackend } from '../hsm/index.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { testKey } from '../test/keys.ts';
import { registerKeyRoutes } from './keyRoutes.ts';
import { createSignerMetrics } from './metrics.ts';

/*
 * The reference key routes' refusals that depend on custody's shape rather than on the caller: a
 * backend without a lock (the CustodyBackend interface makes lock optional; today's phase-2 capable
 * backends, file and pkcs11, both have one, so only a stand-in shows it), and a custody holding no
 * key. The routes throw coded errors for the server's error handler; a bare fastify shows the code.
 * The lock and unlock of real backends are in signer/phase2*.int.test.ts.
 */
const lockless = (): CustodyBackend => ({
  kind: 'bitcoind-wallet',
  async publicKeys() {
    return [testKey('key-routes').xOnly];
  },
  async sign() {
    throw new Error('not used');
  },
  audit: new MemoryAuditCustody(),
  async health() {
    return { ok: true, detail: 'unit' };
  },
  async close() {},
});

async function appWith(custody: CustodyBackend, held: readonly string[]) {
  const app = Fastify();
  const audited: unknown[] = [];
  app.decorateRequest('clientName', 'unit');
  registerKeyRoutes(app, {
    custody,
    heldKeys: () => new Set(held),
    metrics: createSignerMetrics(custody.kind),
    audit: async (f) => audited.push(f),
  });
  await app.ready();
  return { app, audited };
}

describe('key routes', () => {
  it('SIGNER_LOCK_UNSUPPORTED: lock and unlock on a backend without a lock, nothing audited as done', async () => {
    const { app, audited } = await appWith(lockless(), ['aa'.repeat(32)]);
    for (const url of ['/v1/lock', '/v1/unlock']) {
      const r = await app.inject({
        method: 'POST',
        url,
        payload: url === '/v1/unlock' ? { passphrase: 'x' } : undefined,
      });
      expect(r.json(), url).toMatchObject({ code: 'SIGNER_LOCK_UNSUPPORTED' });
    }
    expect(audited).toEqual([]);
    await app.close();
  });

  it('SIGNER_INTERNAL: /v1/public-key with custody holding no key', async () => {
    const { app } = await appWith(lockless(), []);
    const r = await app.inject({ method: 'GET', url: '/v1/public-key' });
    expect(r.json()).toMatchObject({ code: 'SIGNER_INTERNAL' });
    const held = await appWith(lockless(), ['bb'.repeat(32)]);
    expect((await held.app.inject({ method: 'GET', url: '/v1/public-key' })).json()).toEqual({
      data: { public_key_hex: `02${'bb'.repeat(32)}` },
    });
    await app.close();
    await held.app.close();
  });
});
