import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CustodyBackend, generateKey, openCustody, parseCustodyConfig } from '../hsm/index.ts';
import { parsePhase2ParamsVersions } from '../params/index.ts';
import { buildPhase2Delegation, phase2ParamsDoc } from '../test/infra/phase2Delegation.ts';
import { type SignerHarness, startSignerHarness } from '../test/infra/signerHarness.ts';
import { testKey } from '../test/keys.ts';
import { hardenedHmacHeaders } from './hmac.ts';

/**
 * The hardened X-Covenant-HMAC on a real signer (file custody, real regtest node), in addition to
 * mutual TLS. The reference's body-only form (covenant-emulator@cdb5178:
 * covenant-signer/signerservice/middlewares/hmac_auth.go:71-102) is refused unless allowed.
 */
const KEY = 'hmac key shared with the emulator';
let h: SignerHarness;
let custody: CustodyBackend;
let dir: string;
let paramsFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-hmac-'));
  process.env.SIGNER_TEST_HMAC_PASSPHRASE = 'correct horse battery staple';
  const cfg = parseCustodyConfig({
    backend: 'file',
    file: {
      path: join(dir, 'covenant.key'),
      passphrase_env: 'SIGNER_TEST_HMAC_PASSPHRASE',
      allow_insecure_file_backend: true,
    },
  });
  const quiet = pino({ level: 'fatal' });
  await generateKey(cfg, { logger: quiet });
  custody = await openCustody(cfg, { logger: quiet });
  const [mine] = await custody.publicKeys();
  paramsFile = join(dir, 'params_versions.json');
  writeFileSync(
    paramsFile,
    JSON.stringify(
      phase2ParamsDoc([mine!, testKey('committee-member-0').xOnly, testKey('committee-member-1').xOnly]),
    ),
  );
  const keyFile = join(dir, 'hmac.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  h = await startSignerHarness(custody, {
    signerEnv: {
      SIGNER__PHASE2__ENABLED: 'true',
      SIGNER__PHASE2__PARAMS_FILE: paramsFile,
      SIGNER__PHASE2__HMAC__KEY_FILE: keyFile,
    },
  });
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await custody?.close();
  rmSync(dir, { recursive: true, force: true });
});

const nonce = () => randomBytes(16).toString('hex');
async function send(method: string, path: string, raw: string | undefined, headers: Record<string, string>) {
  const o = await h.client.send(method, path, undefined, raw, headers);
  if (o.kind !== 'http') throw new Error(o.error);
  return o.answer;
}
const auditOf = (correlationId: unknown) =>
  readFileSync(h.config.audit.file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((r) => r.correlation_id === correlationId);

describe('X-Covenant-HMAC, hardened, on the phase-2 routes', () => {
  it('GET /v1/public-key with a fresh timestamp and nonce: 200; the same headers again: 401 SIGNER_HMAC_REPLAY, audited', async () => {
    const headers = hardenedHmacHeaders(KEY, 'GET', '/v1/public-key', Buffer.alloc(0), nonce());
    expect((await send('GET', '/v1/public-key', undefined, headers)).status).toBe(200);
    const again = await send('GET', '/v1/public-key', undefined, headers);
    expect(again.status).toBe(401);
    expect(again.json).toMatchObject({ errorCode: 'UNAUTHORIZED', code: 'SIGNER_HMAC_REPLAY' });
    expect(auditOf(again.headers['x-correlation-id'])).toMatchObject({
      outcome: 'refused',
      code: 'SIGNER_HMAC_REPLAY',
    });
  });

  it('a stale timestamp: 401 SIGNER_HMAC_STALE; no MAC: SIGNER_HMAC_MISSING; the reference’s body-only MAC: SIGNER_HMAC_BODY_ONLY_REFUSED', async () => {
    const stale = hardenedHmacHeaders(
      KEY,
      'GET',
      '/v1/public-key',
      Buffer.alloc(0),
      nonce(),
      Math.floor(Date.now() / 1000) - 3600,
    );
    expect((await send('GET', '/v1/public-key', undefined, stale)).json).toMatchObject({
      code: 'SIGNER_HMAC_STALE',
    });
    expect((await send('GET', '/v1/public-key', undefined, {})).json).toMatchObject({
      code: 'SIGNER_HMAC_MISSING',
    });
    const { createHmac } = await import('node:crypto');
    const bodyOnly = { 'x-covenant-hmac': createHmac('sha256', KEY).update('').digest('hex') };
    expect((await send('GET', '/v1/public-key', undefined, bodyOnly)).json).toMatchObject({
      code: 'SIGNER_HMAC_BODY_ONLY_REFUSED',
    });
  });

  it('POST /v1/sign-transactions: signed with a MAC over the exact body; a body changed after MACing is refused and signs nothing', async () => {
    const v0 = parsePhase2ParamsVersions(readFileSync(paramsFile)).versions[0]!;
    const d = await buildPhase2Delegation(v0, { chain: h });
    const raw = JSON.stringify(d.body);
    // MACed over the true body, sent with another finality provider's key.
    const tampered = JSON.stringify({ ...d.body, fp_enc_keys: ['02'.padEnd(66, '1')] });
    const hTampered = hardenedHmacHeaders(KEY, 'POST', '/v1/sign-transactions', Buffer.from(raw), nonce());
    const bad = await send('POST', '/v1/sign-transactions', tampered, hTampered);
    expect(bad.json).toMatchObject({ code: 'SIGNER_HMAC_INVALID' });
    const good = await send(
      'POST',
      '/v1/sign-transactions',
      raw,
      hardenedHmacHeaders(KEY, 'POST', '/v1/sign-transactions', Buffer.from(raw), nonce()),
    );
    expect(good.status).toBe(200);
    expect(
      (good.json as { data: { slashing_transactions_signatures: string[] } }).data
        .slashing_transactions_signatures,
    ).toHaveLength(1);
  });
});
