import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unbondingSighash, verifySchnorr } from '../staking/index.ts';
import { newFileCustody, type TestFileCustody } from '../test/infra/fileCustody.ts';
import { type SignerHarness, type Stake, startSignerHarness } from '../test/infra/signerHarness.ts';
import { startSigner } from './app.ts';

/**
 * Issue 20, finding 1: params that grow must not re-decide stakes already on chain. Versions apply
 * by the staking tx's inclusion height, so a version appended with an activation height at or
 * below the tip changes the one unbonding tx a confirmed stake may have: a member that reloaded
 * would sign a different tx than the rest of the committee. Real Knots node, real file custody.
 */
let h: SignerHarness;
let keys: TestFileCustody;
let original: { versions: Array<Record<string, unknown>> };
const ROUTE = '/v1/sign-unbonding-tx';

beforeAll(async () => {
  keys = await newFileCustody('signer-growth-key-');
  h = await startSignerHarness(keys.custody);
  original = JSON.parse(readFileSync(h.paramsFile, 'utf8'));
});

afterAll(async () => {
  await h?.stop();
  await keys?.close();
});

/** Version 0 again as version 1, activating at `activation`, with another unbonding fee. */
function appendVersion(activation: number): void {
  const v0 = original.versions[0]!;
  const v1 = {
    ...v0,
    version: 1,
    activation_height: activation,
    unbonding_fee: Number(v0.unbonding_fee) + 500,
  };
  writeFileSync(h.paramsFile, JSON.stringify({ versions: [v0, v1] }));
}

function auditRecords(): Array<Record<string, unknown>> {
  return readFileSync(h.config.audit.file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('a params reload cannot change the rules for stakes already confirmed', () => {
  let stake: Stake;
  let tip: number;
  const depth = 2;

  it('refuses a version appended at the height of a confirmed, unsigned stake, and signs that stake as before', async () => {
    stake = await h.stake(200_000n);
    tip = await h.node.rpc.getblockcount();
    appendVersion(stake.height);
    const r = await h.signer.reloadParams();
    expect(r.ok).toBe(false);
    expect(r.message).toContain(
      `new params version 1 activates at height ${stake.height}, at or below the tip ${tip} plus the confirmation depth ${depth}`,
    );
    expect(r.message).toContain(h.paramsFile);
    expect(auditRecords().at(-1)).toMatchObject({
      event: 'params_reload_refused',
      code: 'PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY',
    });
    // The stake's unbonding tx is still the one every other member signs.
    const s = await h.client.call('POST', ROUTE, stake.body());
    expect(s.status).toBe(200);
    const sig = Buffer.from((s.json as { data: { signature_hex: string } }).data.signature_hex, 'hex');
    expect(verifySchnorr(unbondingSighash(stake.unbondingTx, stake.exp), h.signerKey, sig)).toBe(true);
  });

  it('refuses one within the confirmation depth above the tip, applies one beyond it', async () => {
    tip = await h.node.rpc.getblockcount();
    appendVersion(tip + depth);
    expect((await h.signer.reloadParams()).ok).toBe(false);
    appendVersion(tip + depth + 1);
    expect(await h.signer.reloadParams()).toMatchObject({ ok: true });
    expect(auditRecords().at(-1)).toMatchObject({ event: 'params_loaded', params_versions: 2 });
  });

  it('at start-up, refuses a version added since the last run that activates too early', async () => {
    // The file is rewritten while the signer is down: the last run's audit log knows 2 versions.
    const v = original.versions[0]!;
    // Above version 1's activation (tip + 3 above), so only the new rule can refuse it.
    const tipNow = await h.mine(5);
    const versions = JSON.parse(readFileSync(h.paramsFile, 'utf8')).versions as unknown[];
    const late = {
      ...v,
      version: 2,
      activation_height: tipNow,
      unbonding_fee: Number(v.unbonding_fee) + 700,
    };
    writeFileSync(h.paramsFile, JSON.stringify({ versions: [...versions, late] }));
    const e = await h.restart().then(
      () => undefined,
      (err: { code?: string; message: string }) => err,
    );
    expect(e?.code).toBe('PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY');
    expect(e?.message).toContain(`new params version 2 activates at height ${tipNow}`);
    expect(auditRecords().at(-1)).toMatchObject({ event: 'params_reload_refused', at: 'start' });

    // A brand-new signer, with no history, has no old versions to compare: it starts.
    // Its own custody too: the anchor is custody's, one custody for one audit log.
    const fresh = await startSigner(
      { ...h.config, audit: { file: join(h.dir, 'fresh-audit.jsonl') } },
      { custody: await keys.copy('fresh'), logger: pino({ level: 'fatal' }) },
    );
    await fresh.stop();

    writeFileSync(h.paramsFile, JSON.stringify({ versions }));
    await h.restart();
    expect((await h.client.call('GET', '/readyz')).status).toBe(200);
  });

  it('at start-up, refuses a file that changed or removed a version since the last run', async () => {
    const versions = JSON.parse(readFileSync(h.paramsFile, 'utf8')).versions as Array<
      Record<string, unknown>
    >;
    writeFileSync(h.paramsFile, JSON.stringify({ versions: [versions[0]] }));
    await expect(h.restart()).rejects.toMatchObject({ code: 'SIGNER_PARAMS_RELOAD_REFUSED' });
    writeFileSync(
      h.paramsFile,
      JSON.stringify({ versions: [versions[0], { ...versions[1], unbonding_fee: 1_234 }] }),
    );
    await expect(h.restart()).rejects.toMatchObject({ code: 'SIGNER_PARAMS_RELOAD_REFUSED' });
    writeFileSync(h.paramsFile, JSON.stringify({ versions }));
    await h.restart();
    expect((await h.client.call('GET', '/readyz')).status).toBe(200);
  });
});
