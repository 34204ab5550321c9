import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import type { XOnlyKey } from '../common/index.ts';
import {
  type CustodyBackend,
  generateKey,
  initToken,
  openCustody,
  parseCustodyConfig,
} from '../hsm/index.ts';
import { parsePhase2ParamsVersions } from '../params/index.ts';
import {
  babylonEncryptionKey,
  type SignTransactionsResponse,
  slashingSighash,
  verifyAdaptorSignature,
} from '../staking/index.ts';
import { buildPhase2Delegation, phase2ParamsDoc } from '../test/infra/phase2Delegation.ts';
import { startSignerHarness } from '../test/infra/signerHarness.ts';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';
import { testKey } from '../test/keys.ts';

/**
 * Phase 2 with the production custody backends: the pkcs11 backend on a real SoftHSM2 token makes
 * the adaptor pre-signatures; the bitcoind-wallet backend cannot, and the signer refuses to start.
 */
const logger = pino({ level: 'fatal' });
let hsm: SoftHsmDir;

beforeAll(async () => {
  hsm = await createSoftHsmDir();
});
afterAll(async () => {
  await hsm?.cleanup();
});

/** A params_versions file whose committee is `key` and the harness's two test members. */
function writeParams(key: XOnlyKey, name: string): string {
  const doc = phase2ParamsDoc([
    key,
    testKey('committee-member-0').xOnly,
    testKey('committee-member-1').xOnly,
  ]);
  const file = join(hsm.dir, name);
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

describe('phase 2 with the pkcs11 backend (SoftHSM2)', () => {
  let custody: CustodyBackend;
  let h: Awaited<ReturnType<typeof startSignerHarness>>;
  let paramsFile: string;
  beforeAll(async () => {
    const config = parseCustodyConfig({
      backend: 'pkcs11',
      pkcs11: { token_label: 'signer-p2', pin_file: await hsm.secretFile('pin', '246810') },
    });
    await initToken(config, { soPin: { file: await hsm.secretFile('so.pin', 'so-246810') } });
    await generateKey(config, { logger });
    custody = await openCustody(config, { logger });
    paramsFile = writeParams((await custody.publicKeys())[0]!, 'p2-pkcs11.json');
    h = await startSignerHarness(custody, {
      signerEnv: { SIGNER__PHASE2__ENABLED: 'true', SIGNER__PHASE2__PARAMS_FILE: paramsFile },
    });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await custody?.close();
  });

  it('signs a mined delegation; the token-made pre-signatures verify', async () => {
    const v0 = parsePhase2ParamsVersions(readFileSync(paramsFile)).versions[0]!;
    const d = await buildPhase2Delegation(v0, { chain: h });
    const r = await h.client.call('POST', '/v1/sign-transactions', d.body);
    expect(r.status).toBe(200);
    const a = (r.json as { data: SignTransactionsResponse }).data;
    const enc = babylonEncryptionKey(d.fps[0]!.xOnly);
    const sighash = slashingSighash(d.slashingTx, d.stakingTx, d.stakingOutputIdx, d.stakingInfo.slashing);
    expect(
      verifyAdaptorSignature(
        h.signerKey,
        sighash,
        enc,
        Buffer.from(a.slashing_transactions_signatures[0]!, 'hex'),
      ),
    ).toBe(true);
    const uSighash = slashingSighash(d.slashUnbondingTx, d.unbondingTx, 0, d.unbondingInfo.slashing);
    expect(
      verifyAdaptorSignature(
        h.signerKey,
        uSighash,
        enc,
        Buffer.from(a.slash_unbonding_transactions_signatures[0]!, 'hex'),
      ),
    ).toBe(true);
    const metrics = await (await fetch(`${h.signer.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /signer_phase2_requests_total\{outcome="signed",code="OK"[^}]*custody="pkcs11"\} 1/,
    );
  });

  it('locks and unlocks with the token PIN: locked, nothing is unsealed; a wrong PIN is refused', async () => {
    const v0 = parsePhase2ParamsVersions(readFileSync(paramsFile)).versions[0]!;
    const d = await buildPhase2Delegation(v0);
    expect((await h.client.call('POST', '/v1/lock')).status).toBe(200);
    const locked = await h.client.call('POST', '/v1/sign-transactions', d.body);
    expect({ status: locked.status, code: (locked.json as { code: string }).code }).toEqual({
      status: 500,
      code: 'SIGNER_LOCKED',
    });
    const wrong = await h.client.call('POST', '/v1/unlock', { passphrase: '000000' });
    expect((wrong.json as { code: string }).code).toBe('SIGNER_UNLOCK_FAILED');
    expect((await h.client.call('POST', '/v1/unlock', { passphrase: '246810' })).status).toBe(200);
    expect((await h.client.call('POST', '/v1/sign-transactions', d.body)).status).toBe(200);
  });
});

describe('phase 2 with the bitcoind-wallet backend', () => {
  let walletNode: RegtestNode;
  let custody: CustodyBackend;
  beforeAll(async () => {
    walletNode = await startRegtestNode();
    await walletNode.rpc.createwallet('covenant');
    const raw = { url: walletNode.rpcUrl, wallet: 'covenant', cookie_file: walletNode.cookieFile };
    const info = await generateKey(parseCustodyConfig({ backend: 'bitcoind-wallet', bitcoind_wallet: raw }), {
      logger,
    });
    custody = await openCustody(
      parseCustodyConfig({
        backend: 'bitcoind-wallet',
        bitcoind_wallet: { ...raw, key: info.xOnly, audit_key_file: join(hsm.dir, 'wallet-audit.key') },
      }),
      { logger },
    );
  }, 120_000);
  afterAll(async () => {
    await custody?.close();
    await walletNode?.stop();
  });

  it('refuses to start with phase 2 enabled (SIGNER_P2_CUSTODY_UNSUPPORTED), and starts with it off', async () => {
    expect(custody.adaptorSign).toBeUndefined();
    const paramsFile = writeParams((await custody.publicKeys())[0]!, 'p2-wallet.json');
    await expect(
      startSignerHarness(custody, {
        signerEnv: { SIGNER__PHASE2__ENABLED: 'true', SIGNER__PHASE2__PARAMS_FILE: paramsFile },
      }),
    ).rejects.toMatchObject({ code: 'SIGNER_P2_CUSTODY_UNSUPPORTED' });
    const h = await startSignerHarness(custody);
    try {
      const r = await h.client.call('POST', '/v1/sign-transactions', {});
      expect((r.json as { code: string }).code).toBe('SIGNER_NOT_FOUND');
    } finally {
      await h.stop();
    }
  });
});
