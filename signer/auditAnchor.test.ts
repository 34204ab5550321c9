import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodedError } from '../common/index.ts';
import { deleteAndRechain, parseLines, rechain } from '../test/infra/auditTamper.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import {
  type AuditFields,
  AuditLog,
  checkAnchor,
  readAnchor,
  repairFromAnchor,
  verifyAuditText,
  verifyKeyedAudit,
} from './audit.ts';
import { replayCollector } from './service.ts';

/**
 * The keyed, anchored audit chain (issue 20, finding 2) with custody's audit capability faked at its
 * boundary (hsm/ and signer/auditAnchor.int.test.ts run the real backends). The log is the signer's
 * anti-replay memory: no edit by someone without the key may make it forget a signature.
 */

let dir: string;
let file: string;
let custody: MemoryAuditCustody;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-anchor-'));
  file = join(dir, 'audit.jsonl');
  custody = new MemoryAuditCustody();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const signed = (slot: number, txid = 'aa'): AuditFields => ({
  event: 'decision',
  outcome: 'signed',
  staking_txid: `${slot}`.padStart(64, '0'),
  staking_vout: 0,
  covenant_key: '11'.repeat(32),
  unbonding_txid: txid.repeat(32),
  signature: 'ab'.repeat(64),
});
const refused: AuditFields = { event: 'decision', outcome: 'refused', code: 'SIGNER_KEY_NOT_HELD' };

async function write(records: readonly AuditFields[], c: MemoryAuditCustody = custody): Promise<string> {
  const log = await AuditLog.open(file, c);
  await Promise.all(records.map((r) => log.append(r)));
  await log.close();
  return readFileSync(file, 'utf8');
}

/** One batch per record: each append is on disk and anchored before the next is made. */
async function writeEach(records: readonly AuditFields[], c: MemoryAuditCustody = custody): Promise<string> {
  const log = await AuditLog.open(file, c);
  for (const r of records) await log.append(r);
  await log.close();
  return readFileSync(file, 'utf8');
}

const openError = (c: MemoryAuditCustody = custody) =>
  AuditLog.open(file, c).then(
    async (log) => {
      await log.close();
      return undefined;
    },
    (e: unknown) => e,
  );

/** What `verify-audit --config` decides: a log the anchor completes, or the MACs, then the anchor. */
async function verifiesInFull(text: string, c: MemoryAuditCustody = custody): Promise<boolean> {
  if (await repairFromAnchor(file, text, await readAnchor(c), c)) return true;
  const v = await verifyKeyedAudit(text, c);
  if (!v.ok) return false;
  try {
    checkAnchor(file, v.recordsList, await readAnchor(c));
    return true;
  } catch {
    return false;
  }
}

describe('keyed chain', () => {
  it('writes a mac after the hash of every record, and verifies under the key but not under another', async () => {
    const text = await write([signed(1), refused]);
    const lines = parseLines(text);
    expect(lines.every((l) => /^[0-9a-f]{64}$/.test(String(l.mac)))).toBe(true);
    expect(text.split('\n')[0]).toMatch(/,"hash":"[0-9a-f]{64}","mac":"[0-9a-f]{64}"}$/);
    expect(await verifyKeyedAudit(text, custody)).toMatchObject({ ok: true, records: 2, unkeyed: 0 });
    expect(await verifyKeyedAudit(text, new MemoryAuditCustody())).toMatchObject({
      ok: false,
      code: 'SIGNER_AUDIT_CORRUPT',
      line: 1,
    });
  });

  it('catches the attack: a signed record deleted and the sha256 chain recomputed passes the structure check, not the key', async () => {
    const text = await write([signed(1), signed(2), refused]);
    const forged = deleteAndRechain(text, (r) => r.staking_txid === signed(1).staking_txid);
    expect(verifyAuditText(forged)).toMatchObject({ ok: true, records: 2 });
    expect(await verifyKeyedAudit(forged, custody)).toMatchObject({ ok: false, line: 1 });
    writeFileSync(file, forged);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_CORRUPT' });
  });

  it('refuses an unkeyed record after keyed ones (the mac stripped from a rechained tail)', async () => {
    const text = await write([signed(1), signed(2)]);
    const records = parseLines(text);
    const keyedHead = text.split('\n')[0]!;
    const tail = rechain(records, { dropMacs: true }).split('\n')[1];
    // The second line, rechained without its mac, after the genuine first: it cannot even chain.
    expect(verifyAuditText(`${keyedHead}\n${tail}\n`)).toMatchObject({ ok: false, line: 2 });
  });
});

describe('anchor in custody', () => {
  it('moves the anchor to each record before its append resolves, one MAC call and one anchor per batch', async () => {
    const log = await AuditLog.open(file, custody);
    const rec = await log.append(signed(1));
    let read = await readAnchor(custody);
    // The anchor carries the batch's record as written, without its hash and MAC.
    const { hash: _h, mac: _m, ...body } = parseLines(readFileSync(file, 'utf8'))[0]!;
    expect(read).toMatchObject({
      state: 'valid',
      anchor: { seq: rec.seq, hash: rec.hash, signed: 1, batch: [JSON.stringify(body)] },
    });
    const before = custody.macCalls;
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(signed(100 + i))));
    // Batches: the first append flushes alone, the other 49 share the next flush (one MAC call each,
    // the records' and the anchor's together).
    expect(custody.macCalls - before).toBeLessThanOrEqual(3);
    read = await readAnchor(custody);
    expect(read).toMatchObject({ state: 'valid', anchor: { seq: 51, signed: 51 } });
    await log.close();
  });

  it('lets a batch wait for a decision under way, so both records share one MAC call and one anchor', async () => {
    const log = await AuditLog.open(file, custody);
    await log.append(refused);
    const anchorBefore = await readAnchor(custody);
    const macsBefore = custody.macCalls;
    const appending = log.expect();
    const first = log.append(signed(1));
    // The expected decision appends: the waiting batch now holds both records.
    appending();
    const second = log.append(signed(2));
    const [a, b] = await Promise.all([first, second]);
    expect([a.seq, b.seq]).toEqual([2, 3]);
    // One batch: one MAC call for its records and its anchor, and the anchor counter moved once.
    expect(custody.macCalls - macsBefore).toBe(1);
    const after = await readAnchor(custody);
    if (anchorBefore.state !== 'valid') throw new Error('no anchor after the first record');
    expect(after).toMatchObject({
      state: 'valid',
      anchor: { counter: anchorBefore.anchor.counter + 1, seq: 3, signed: 2 },
    });
    await log.close();
    expect(await verifiesInFull(readFileSync(file, 'utf8'))).toBe(true);
  });

  it('writes a waiting batch as soon as the expected decision says it will not append, and at close', async () => {
    const log = await AuditLog.open(file, custody);
    const gaveUp = log.expect();
    const first = log.append(signed(1));
    gaveUp();
    gaveUp(); // idempotent: the count of decisions under way is not driven below zero
    expect(await first).toMatchObject({ seq: 1 });
    log.expect(); // never appends: close still writes what was appended
    const second = log.append(signed(2));
    await log.close();
    expect(await second).toMatchObject({ seq: 2 });
    expect(await readAnchor(custody)).toMatchObject({ state: 'valid', anchor: { seq: 2, signed: 2 } });
  });

  it('refuses a log shorter than the anchor by more than its last batch, naming both seqs (SIGNER_AUDIT_ROLLBACK)', async () => {
    const text = await writeEach([signed(1), refused, refused]);
    writeFileSync(file, `${text.split('\n')[0]}\n`);
    const err = await openError();
    expect(err).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    expect((err as Error).message).toMatch(/ends at seq 1, but custody's anchor is at seq 3/);
  });

  it('refuses an older copy restored over the log, and a log that diverges from the anchor', async () => {
    const base = await write([signed(1)]);
    const baseAnchor = custody.anchor;
    const one = await write([signed(2), refused]);
    const oneAnchor = custody.anchor;
    writeFileSync(file, base);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    // Another history from the same base, as a second signer on the same custody would write it.
    custody.anchor = baseAnchor;
    await write([refused, refused, refused]);
    custody.anchor = oneAnchor;
    const err = await openError();
    expect(err).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    expect((err as Error).message).toMatch(/seq 3 is not the one custody's anchor sealed/);
    writeFileSync(file, one);
    expect(await openError()).toBeUndefined();
  });

  it('accepts a log longer than its anchor that chains from it (a crash between fdatasync and the anchor write)', async () => {
    await write([signed(1)]);
    const anchored = custody.anchor;
    const log = await AuditLog.open(file, custody);
    const writeAnchor = custody.writeAnchor.bind(custody);
    custody.writeAnchor = async () => {
      throw new Error('power lost');
    };
    await expect(log.append(signed(2))).rejects.toMatchObject({ code: 'SIGNER_AUDIT_UNWRITABLE' });
    // A signer that cannot anchor signs nothing more.
    await expect(log.append(signed(3))).rejects.toMatchObject({ code: 'SIGNER_AUDIT_UNWRITABLE' });
    await log.close();
    custody.writeAnchor = writeAnchor;
    expect(custody.anchor).toBe(anchored);
    const replay = replayCollector();
    const reopened = await AuditLog.open(file, custody, replay.onRecord);
    expect(reopened.records).toBe(2);
    expect(replay.index.size).toBe(2);
    await reopened.close();
  });

  it('refuses a missing anchor while the log has keyed records, and a forged anchor', async () => {
    const text = await write([signed(1)]);
    const real = custody.anchor!;
    custody.anchor = undefined;
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    const forged = Buffer.from(
      Buffer.from(real)
        .toString('utf8')
        .replace(/"counter":\d+/, '"counter":99'),
    );
    custody.anchor = forged;
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    custody.anchor = real;
    writeFileSync(file, text);
    expect(await openError()).toBeUndefined();
  });

  it('catches a second writer on the same custody: its anchor write fails and it signs nothing more', async () => {
    await write([refused]);
    const a = await AuditLog.open(file, custody);
    const other = join(dir, 'other.jsonl');
    writeFileSync(other, readFileSync(file));
    const b = await AuditLog.open(other, custody);
    await a.append(signed(1));
    await expect(b.append(signed(1, 'bb'))).rejects.toMatchObject({ code: 'SIGNER_AUDIT_UNWRITABLE' });
    await a.close();
    await b.close();
  });
});

/** Appends `n` records as one batch, as concurrent decisions do (expect). */
async function writeBatch(records: readonly AuditFields[], c: MemoryAuditCustody = custody): Promise<string> {
  const log = await AuditLog.open(file, c);
  const pending = records.slice(1).map(() => log.expect());
  const all = [log.append(records[0]!)];
  for (const [i, appending] of pending.entries()) {
    appending();
    all.push(log.append(records[i + 1]!));
  }
  await Promise.all(all);
  await log.close();
  return readFileSync(file, 'utf8');
}

/** An anchor sealed with custody's key, as only the signer (or a faulty one) could write it. */
async function sealed(fields: Record<string, unknown>, c: MemoryAuditCustody = custody): Promise<Uint8Array> {
  const body = JSON.stringify(fields);
  const [mac] = await c.mac([Buffer.from(`babylon-covenant-signer/audit-anchor/v1\n${body}`, 'utf8')]);
  return Buffer.from(`${body.slice(0, -1)},"anchor_mac":"${Buffer.from(mac!).toString('hex')}"}`, 'utf8');
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** A record line without its hash and mac: what the anchor carries. */
const bodyOf = (line: string) => `${line.slice(0, line.indexOf(',"hash":'))}}`;

describe('a crash between the anchor write and the log’s write, which run together', () => {
  /** Three batches: [signed 1], [refused], then [signed 2, refused, signed 3]; the text before the last. */
  async function threeBatches(): Promise<{ full: string; before: string }> {
    const before = await writeEach([signed(1), refused]);
    const full = await writeBatch([signed(2), refused, signed(3)]);
    return { full, before };
  }

  it('completes a log that lacks its whole last batch at open, with the exact records, and goes on', async () => {
    const { full, before } = await threeBatches();
    writeFileSync(file, before);
    const replay = replayCollector();
    const log = await AuditLog.open(file, custody, replay.onRecord);
    expect(log.repaired).toEqual({ from: 3, to: 5, torn: 0 });
    expect(log.records).toBe(5);
    expect(readFileSync(file, 'utf8')).toBe(full);
    expect(replay.index.size).toBe(3);
    await log.append(refused);
    await log.close();
    expect(await verifiesInFull(readFileSync(file, 'utf8'))).toBe(true);
    const again = await AuditLog.open(file, custody);
    expect(again.repaired).toBeUndefined();
    await again.close();
  });

  it('cuts the torn line an interrupted write left, wherever it was cut, and completes the batch', async () => {
    const { full, before } = await threeBatches();
    const anchor = custody.anchor;
    for (let at = before.length + 1; at < full.length; at += 37) {
      writeFileSync(file, full.slice(0, at));
      custody.anchor = anchor;
      const log = await AuditLog.open(file, custody);
      const tail = full.slice(0, at);
      const whole = tail.lastIndexOf('\n') + 1;
      expect(log.repaired).toEqual({
        from: full.slice(0, whole).split('\n').length,
        to: 5,
        torn: at - whole,
      });
      await log.close();
      expect(readFileSync(file, 'utf8')).toBe(full);
    }
  });

  it('verify-audit says the same: a log lacking only its last batch verifies once completed, and is not changed by it', async () => {
    const { before } = await threeBatches();
    const cut = `${before}{"seq":3,"ti`;
    writeFileSync(file, cut);
    const repair = await repairFromAnchor(file, cut, await readAnchor(custody), custody);
    expect(repair).toMatchObject({ from: 3, to: 5, torn: 12, verification: { ok: true, records: 5 } });
    expect(readFileSync(file, 'utf8')).toBe(cut);
  });

  it('still refuses a log that lacks more than its last batch, torn or not', async () => {
    const { before } = await threeBatches();
    const first = `${before.split('\n')[0]}\n`;
    writeFileSync(file, first);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    writeFileSync(file, before.slice(0, -5));
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_CORRUPT' });
    writeFileSync(file, '');
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    expect(readFileSync(file, 'utf8')).toBe('');
  });

  it('completes a first batch into an empty log', async () => {
    const full = await writeBatch([signed(1), refused]);
    writeFileSync(file, '');
    const log = await AuditLog.open(file, custody);
    expect(log.repaired).toEqual({ from: 1, to: 2, torn: 0 });
    await log.close();
    expect(readFileSync(file, 'utf8')).toBe(full);
  });

  it('completes the log before the accept command accepts it, so accepting forgets nothing the anchor holds', async () => {
    const { full: longer, before } = await threeBatches();
    writeFileSync(file, before);
    const { record } = await AuditLog.accept(file, custody, 'checked');
    expect(record).toMatchObject({ seq: 6, accepted_head: { seq: 5 } });
    expect(readFileSync(file, 'utf8').startsWith(longer)).toBe(true);
  });

  it('refuses a carried batch that does not end at the anchored hash or does not chain from the log, even under a valid anchor MAC', async () => {
    const { before } = await threeBatches();
    const read = await readAnchor(custody);
    if (read.state !== 'valid') throw new Error('anchor');
    const { counter, seq, hash, signed: n, batch } = read.anchor;
    writeFileSync(file, before);
    // An edited record in the batch: its hash is no longer the anchored one.
    const edited = [batch![0]!.replace('"outcome":"signed"', '"outcome":"refused"'), ...batch!.slice(1)];
    custody.anchor = await sealed({ v: 2, counter, seq, hash, signed: n, batch: edited });
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    // A batch rechained from another prev, its last hash anchored: it does not chain from the log.
    let prev = 'ff'.repeat(32);
    const rechained = batch!.map((b) => {
      const body = b.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${prev}"`);
      prev = sha256(`${prev}\n${body}`);
      return body;
    });
    custody.anchor = await sealed({ v: 2, counter, seq, hash: prev, signed: n, batch: rechained });
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    // A carried batch edited without the key: the anchor itself does not verify.
    custody.anchor = Buffer.from(
      Buffer.from(read.raw).toString('utf8').replace('"outcome\\":\\"signed', '"outcome\\":\\"refusd'),
    );
    expect(await readAnchor(custody)).toMatchObject({ state: 'invalid' });
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('refuses when the lines the interrupted write left are not the carried ones, even if they verify under the key', async () => {
    const { full, before } = await threeBatches();
    const carried = full.slice(before.length).split('\n')[0]!;
    // Another record at seq 3, chained from the same prev and MACed under the key (a second writer's).
    const body = bodyOf(carried).replace('"outcome":"signed"', '"outcome":"refused"');
    const hash = sha256(`${JSON.parse(carried).prev}\n${body}`);
    const [mac] = await custody.mac([Buffer.from(`babylon-covenant-signer/audit-record/v1\n${hash}`)]);
    const other = `${body.slice(0, -1)},"hash":"${hash}","mac":"${Buffer.from(mac!).toString('hex')}"}\n`;
    writeFileSync(file, `${before}${other}`);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    writeFileSync(file, `${before}${other}{"seq":4`);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_CORRUPT' });
    expect(readFileSync(file, 'utf8')).toBe(`${before}${other}{"seq":4`);
  });

  it('anchors a batch too large to carry only after its write, carrying nothing: losing it stays a rollback', async () => {
    await writeEach([signed(1)]);
    const big: AuditFields = { ...refused, reason: 'x'.repeat(9000) };
    const log = await AuditLog.open(file, custody);
    const writeAnchor = custody.writeAnchor.bind(custody);
    const atAnchor: string[] = [];
    custody.writeAnchor = async (next, expected) => {
      atAnchor.push(readFileSync(file, 'utf8'));
      return writeAnchor(next, expected);
    };
    await log.append(big);
    await log.close();
    custody.writeAnchor = writeAnchor;
    const full = readFileSync(file, 'utf8');
    // The record was on disk when the anchor was written.
    expect(atAnchor).toEqual([full]);
    expect(await readAnchor(custody)).toMatchObject({ state: 'valid', anchor: { seq: 2, batch: [] } });
    writeFileSync(file, `${full.split('\n')[0]}\n`);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
  });

  it('falls back to anchors without their batch, after the write, when custody refuses a long one (a token limiting its label)', async () => {
    await writeEach([refused]);
    const writeAnchor = custody.writeAnchor.bind(custody);
    const refusedSizes: number[] = [];
    custody.writeAnchor = async (next, expected) => {
      if (next.length > 600) {
        refusedSizes.push(next.length);
        throw new CodedError(
          'HSM_PKCS11_ERROR',
          'writing the audit anchor failed (CKR_ATTRIBUTE_VALUE_INVALID)',
        );
      }
      return writeAnchor(next, expected);
    };
    const log = await AuditLog.open(file, custody);
    await log.append(signed(1));
    await log.append(signed(2));
    await log.close();
    // One refusal, then the head alone for that batch and every later one.
    expect(refusedSizes).toHaveLength(1);
    expect(await readAnchor(custody)).toMatchObject({
      state: 'valid',
      anchor: { seq: 3, signed: 2, batch: [] },
    });
    custody.writeAnchor = writeAnchor;
    expect(await verifiesInFull(readFileSync(file, 'utf8'))).toBe(true);
  });

  it('still reads a version 1 anchor (head and record MAC, no batch), and the next write replaces it with version 2', async () => {
    const text = await writeEach([signed(1), refused]);
    const last = parseLines(text).at(-1)!;
    const read = await readAnchor(custody);
    if (read.state !== 'valid') throw new Error('anchor');
    const v1 = { v: 1, counter: read.anchor.counter, seq: 2, hash: last.hash, mac: last.mac, signed: 1 };
    custody.anchor = await sealed(v1);
    expect(await readAnchor(custody)).toMatchObject({
      state: 'valid',
      anchor: { seq: 2, hash: last.hash, mac: last.mac, signed: 1 },
    });
    const log = await AuditLog.open(file, custody);
    await log.append(signed(2));
    await log.close();
    expect(await readAnchor(custody)).toMatchObject({
      state: 'valid',
      anchor: { counter: read.anchor.counter + 1, seq: 3, signed: 2, batch: [expect.any(String)] },
    });
    // Version 1 carries no batch: a log without its last record is a rollback, as it always was.
    custody.anchor = await sealed(v1);
    writeFileSync(file, `${text.split('\n')[0]}\n`);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    // And its record MAC is still compared.
    custody.anchor = await sealed({ ...v1, mac: 'ee'.repeat(32) });
    writeFileSync(file, text);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
  });
});

describe('accept-audit-log and migration', () => {
  /** A log as an older version wrote it: the sha256 chain, no mac, no anchor. */
  function legacyLog(records: readonly AuditFields[]): string {
    return rechain(records.map((r, i) => ({ seq: i + 1, time: new Date(0).toISOString(), prev: '', ...r })));
  }

  it('refuses an older version’s unkeyed log (SIGNER_AUDIT_UNKEYED); accepting keys it and keeps its memory', async () => {
    writeFileSync(file, legacyLog([signed(1), refused]));
    const err = await openError();
    expect(err).toMatchObject({ code: 'SIGNER_AUDIT_UNKEYED' });
    expect((err as Error).message).toMatch(/accept-audit-log/);
    const { record } = await AuditLog.accept(file, custody, 'migrating from v1');
    expect(record).toMatchObject({
      event: 'audit_log_accepted',
      seq: 3,
      reason: 'migrating from v1',
      previous_anchor: 'none',
      accepted_head: { seq: 2 },
      unkeyed_records: 2,
    });
    const replay = replayCollector();
    const log = await AuditLog.open(file, custody, replay.onRecord);
    expect(replay.index.size).toBe(1);
    await log.close();
    // The unkeyed prefix is vouched for by the keyed accept record: editing it is caught.
    const text = readFileSync(file, 'utf8');
    const edited = deleteAndRechain(text, (r) => r.outcome === 'signed');
    expect(await verifiesInFull(edited)).toBe(false);
    writeFileSync(file, edited);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_CORRUPT' });
  });

  it('re-anchors a rolled-back log only by the explicit, audited accept, whose counter goes on rising', async () => {
    const base = await write([signed(1)]);
    await writeEach([signed(2), refused]);
    const before = await readAnchor(custody);
    writeFileSync(file, base);
    expect(await openError()).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    const { record } = await AuditLog.accept(file, custody, 'restored from backup after disk loss');
    if (before.state !== 'valid') throw new Error('anchor');
    expect(record.previous_anchor).toEqual({
      counter: before.anchor.counter,
      seq: before.anchor.seq,
      hash: before.anchor.hash,
    });
    const after = await readAnchor(custody);
    expect(after).toMatchObject({ state: 'valid', anchor: { seq: record.seq } });
    if (after.state !== 'valid') throw new Error('anchor');
    expect(after.anchor.counter).toBeGreaterThan(before.anchor.counter);
    expect(await openError()).toBeUndefined();
  });

  it('never accepts a forged record (SIGNER_AUDIT_CORRUPT), and names the line to truncate before', async () => {
    const text = await write([signed(1), refused]);
    writeFileSync(
      file,
      deleteAndRechain(text, (r) => r.outcome === 'signed'),
    );
    const err = await AuditLog.accept(file, custody, 'x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SIGNER_AUDIT_CORRUPT' });
    expect((err as Error).message).toMatch(/line 1/);
  });
});

describe('property: no edit by someone without the key makes the signer forget a signature', () => {
  type Edit =
    | { kind: 'delete'; at: number; keepMacs: boolean }
    | { kind: 'swap'; a: number; b: number }
    | { kind: 'truncate'; keep: number }
    | { kind: 'cut'; at: number }
    | { kind: 'restore'; snapshot: number }
    | { kind: 'flip'; at: number; offset: number }
    | { kind: 'rechainUnkeyed' };

  const op = fc.oneof(
    fc.record({
      t: fc.constant('signed' as const),
      slot: fc.integer({ min: 0, max: 4 }),
      tx: fc.constantFrom('aa', 'bb'),
    }),
    fc.record({ t: fc.constant('refused' as const) }),
    fc.record({ t: fc.constant('batch' as const), n: fc.integer({ min: 2, max: 4 }) }),
    fc.record({ t: fc.constant('restart' as const) }),
    fc.record({ t: fc.constant('snapshot' as const) }),
  );
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), keepMacs: fc.boolean() }),
    fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
    fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('restore' as const), snapshot: fc.nat() }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), offset: fc.nat() }),
    fc.record({ kind: fc.constant('rechainUnkeyed' as const) }),
  );

  function applyEdit(text: string, e: Edit, snapshots: readonly string[]): string {
    const lines = text.split('\n').filter(Boolean);
    const records = parseLines(text);
    const n = records.length;
    if (n === 0 && e.kind !== 'restore') return text;
    switch (e.kind) {
      case 'delete':
        records.splice(e.at % n, 1);
        return rechain(records, { dropMacs: !e.keepMacs });
      case 'swap': {
        const [a, b] = [e.a % n, e.b % n];
        [records[a], records[b]] = [records[b]!, records[a]!];
        return rechain(records);
      }
      case 'truncate':
        return lines.length === 0 ? '' : `${lines.slice(0, e.keep % n).join('\n')}\n`.replace(/^\n$/, '');
      case 'cut':
        // Any byte: whole lines lost, or a torn line left, as an interrupted write or an editor would.
        return text.slice(0, e.at % text.length);
      case 'restore':
        return snapshots.length === 0 ? text : snapshots[e.snapshot % snapshots.length]!;
      case 'flip': {
        const line = lines[e.at % n]!;
        const i = e.offset % line.length;
        const c = line[i] === 'a' ? 'b' : 'a';
        lines[e.at % n] = `${line.slice(0, i)}${c}${line.slice(i + 1)}`;
        return `${lines.join('\n')}\n`;
      }
      case 'rechainUnkeyed':
        return rechain(records, { dropMacs: true });
    }
  }

  it('any delete, reorder, rechain, truncation, older copy or flipped byte is refused at start and by verify-audit, except a log that lacks only (part of) its last batch, which is completed to the exact log', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), edit, async (ops, e) => {
        rmSync(file, { force: true });
        const c = new MemoryAuditCustody();
        const snapshots: string[] = [];
        const firstSigned = new Map<number, string>();
        /** Where the last batch begins in the file: what a crash during its write could lose. */
        let lastBatchAt: number | undefined;
        const batchStarts = () => {
          lastBatchAt = readFileSync(file, 'utf8').length;
        };
        let log = await AuditLog.open(file, c);
        for (const o of ops) {
          if (o.t === 'signed') {
            // The signer signs at most once per output (its own rule); the log records what it did.
            if (firstSigned.has(o.slot)) continue;
            firstSigned.set(o.slot, o.tx.repeat(32));
            batchStarts();
            await log.append(signed(o.slot, o.tx));
          } else if (o.t === 'refused') {
            batchStarts();
            await log.append(refused);
          } else if (o.t === 'batch') {
            // Decisions under way share one batch, as concurrent requests do.
            batchStarts();
            const pending = Array.from({ length: o.n - 1 }, () => log.expect());
            const all = [log.append(refused)];
            for (const appending of pending) {
              appending();
              all.push(log.append(refused));
            }
            await Promise.all(all);
          } else if (o.t === 'restart') {
            await log.close();
            log = await AuditLog.open(file, c);
          } else snapshots.push(readFileSync(file, 'utf8'));
        }
        await log.close();
        const original = readFileSync(file, 'utf8');
        const edited = applyEdit(original, e, snapshots);
        fc.pre(edited !== original);
        writeFileSync(file, edited);
        const repairable =
          lastBatchAt !== undefined && edited.length >= lastBatchAt && original.startsWith(edited);

        expect(await verifiesInFull(edited, c)).toBe(repairable);
        const replay = replayCollector();
        const opened = await AuditLog.open(file, c, replay.onRecord).then(
          (l) => l,
          () => undefined,
        );
        expect(opened !== undefined).toBe(repairable);
        if (opened) {
          await opened.close();
          // Completed to the very log the signer wrote, which remembers every signature.
          expect(readFileSync(file, 'utf8')).toBe(original);
          for (const [slot, tx] of firstSigned) {
            expect(
              replay.index.get(`${`${slot}`.padStart(64, '0')}:0:${'11'.repeat(32)}`)?.unbondingTxid,
            ).toBe(tx);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
