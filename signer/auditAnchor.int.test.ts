import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import {
  type CustodyBackend,
  generateKey,
  initToken,
  openCustody,
  parseCustodyConfig,
} from '../hsm/index.ts';
import { deleteAndRechain, parseLines } from '../test/infra/auditTamper.ts';
import { type SignerHarness, type Stake, startSignerHarness } from '../test/infra/signerHarness.ts';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';
import { AuditLog, readAnchor } from './audit.ts';

/**
 * Issue 20, finding 2, end to end: a real signer with SoftHSM custody and a real Knots node. The audit
 * log is the anti-replay memory; whoever can write it but holds no token secret must not be able to
 * make the signer forget a signature (delete + rechain, truncate, restore an older copy).
 */
const logger = pino({ level: 'fatal' });
const ROUTE = '/v1/sign-unbonding-tx';
let hsm: SoftHsmDir;
let custody: CustodyBackend;
let h: SignerHarness;

beforeAll(async () => {
  hsm = await createSoftHsmDir();
  const config = parseCustodyConfig({
    backend: 'pkcs11',
    pkcs11: { token_label: 'audit-anchor', pin_file: await hsm.secretFile('pin', '13579') },
  });
  await initToken(config, { soPin: { file: await hsm.secretFile('so.pin', 'so-13579') } });
  await generateKey(config, { logger });
  custody = await openCustody(config, { logger });
  h = await startSignerHarness(custody);
});
afterAll(async () => {
  await h?.stop();
  await custody?.close();
  await hsm?.cleanup();
});

/** Records, as the signer itself would, that it signed another unbonding tx for `stake` (stopped signer). */
async function recordOtherSignature(stake: Stake): Promise<void> {
  const log = await AuditLog.open(h.config.audit.file, custody.audit);
  await log.append({
    event: 'decision',
    outcome: 'signed',
    staking_txid: stake.txid,
    staking_vout: stake.data.stakingOutputIndex,
    unbonding_txid: 'ee'.repeat(32),
    covenant_key: toHex(h.signerKey),
    signature: '00'.repeat(64),
  });
  await log.close();
}

async function startRefusal(): Promise<unknown> {
  return h.restart().then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('the audit log cannot be made to forget a signature (issue 20, finding 2)', () => {
  let stake: Stake;
  let intact: string;

  it('refuses a second, different unbonding tx for a signed output across a restart (the baseline)', async () => {
    stake = await h.stake(300_000n);
    await h.signer.stop();
    await recordOtherSignature(stake);
    await h.restart();
    const r = await h.client.call('POST', ROUTE, stake.body());
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ code: 'SIGNER_ALREADY_SIGNED_OTHER' });
    await h.signer.stop();
    intact = readFileSync(h.config.audit.file, 'utf8');
  });

  it('refuses to start on a log whose signed record was deleted and whose sha256 chain was recomputed', async () => {
    writeFileSync(
      h.config.audit.file,
      deleteAndRechain(intact, (r) => r.outcome === 'signed' && r.staking_txid === stake.txid),
    );
    const err = await startRefusal();
    // Whatever the start did, no signature for this output leaves a second time.
    const r = await h.client.call('POST', ROUTE, stake.body()).catch(() => undefined);
    expect(r?.status).not.toBe(200);
    expect(err).toMatchObject({ code: expect.stringMatching(/^SIGNER_AUDIT_(CORRUPT|ROLLBACK)$/) });
  });

  it('refuses to start on a log truncated before the signed record', async () => {
    const records = intact.split('\n').filter(Boolean);
    const at = parseLines(intact).findIndex((r) => r.outcome === 'signed' && r.staking_txid === stake.txid);
    writeFileSync(h.config.audit.file, `${records.slice(0, at).join('\n')}\n`);
    expect(await startRefusal()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
  });

  it('refuses to start on an older copy of the log restored over it', async () => {
    const backup = `${h.config.audit.file}.bak`;
    writeFileSync(h.config.audit.file, intact);
    copyFileSync(h.config.audit.file, backup);
    await h.restart();
    const r = await h.client.call('POST', ROUTE, stake.body());
    expect(r.status).toBe(409);
    await h.signer.stop();
    copyFileSync(backup, h.config.audit.file);
    // The backup was taken before the last start, stop and refusal: the anchor has moved past it.
    expect(await startRefusal()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
  });

  it('starts again only after the operator accepts the restored copy: audited, re-anchored, and it still refuses the other tx', async () => {
    const { record } = await AuditLog.accept(
      h.config.audit.file,
      custody.audit,
      'restored the backup on purpose',
    );
    expect(record).toMatchObject({ event: 'audit_log_accepted', reason: 'restored the backup on purpose' });
    await h.restart();
    const r = await h.client.call('POST', ROUTE, stake.body());
    expect(r.status).toBe(409);
    const events = parseLines(readFileSync(h.config.audit.file, 'utf8')).map((l) => l.event);
    expect(events.slice(-3)).toEqual(['audit_log_accepted', 'start', 'decision']);
  });

  it('completes a log that lost its last batch in a crash (the token’s anchor carries it): the signer starts and still refuses the other tx', async () => {
    await h.signer.stop();
    const before = readFileSync(h.config.audit.file, 'utf8');
    const other = await h.stake(305_000n);
    // A record as large as an anchor carries (its padding brings the anchor near the 8,192-character
    // cap): SoftHSM keeps it in a slot's label, about 11 KB of base64.
    const log = await AuditLog.open(h.config.audit.file, custody.audit);
    await log.append({
      event: 'decision',
      outcome: 'signed',
      staking_txid: other.txid,
      staking_vout: other.data.stakingOutputIndex,
      unbonding_txid: 'dd'.repeat(32),
      covenant_key: toHex(h.signerKey),
      signature: '00'.repeat(64),
      padding: 'p'.repeat(7000),
    });
    await log.close();
    const full = readFileSync(h.config.audit.file, 'utf8');
    const read = await readAnchor(custody.audit);
    expect(read).toMatchObject({ state: 'valid', anchor: { batch: [expect.any(String)] } });
    expect(read.state === 'valid' && read.raw.length).toBeGreaterThan(7500);
    // The crash: the anchor was written, the log's write was cut mid-line.
    writeFileSync(h.config.audit.file, full.slice(0, before.length + 4000));
    await h.restart();
    expect(readFileSync(h.config.audit.file, 'utf8').startsWith(full)).toBe(true);
    const r = await h.client.call('POST', ROUTE, other.body());
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ code: 'SIGNER_ALREADY_SIGNED_OTHER' });
  });

  it('an accept run under a live signer moves the anchor from under it: it signs nothing more and is not ready', async () => {
    const fresh = await h.stake(310_000n);
    await AuditLog.accept(h.config.audit.file, custody.audit, 'run by mistake while the signer was up');
    const r = await h.client.call('POST', ROUTE, fresh.body());
    expect(r.status).toBe(500);
    const ready = await fetch(`${h.signer.metricsUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { audit: unknown } }).checks.audit).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/audit anchor .* changed since this process last wrote it/),
    });
    // Two writers interleaved in one file (why the operator stops the signer first): it will not start on it.
    await h.signer.stop();
    expect(await startRefusal()).toMatchObject({
      code: expect.stringMatching(/^SIGNER_AUDIT_(CORRUPT|ROLLBACK)$/),
    });
  });
});
