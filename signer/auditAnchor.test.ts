import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deleteAndRechain, parseLines, rechain } from '../test/infra/auditTamper.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import {
  type AuditFields,
  AuditLog,
  checkAnchor,
  readAnchor,
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

const openError = (c: MemoryAuditCustody = custody) =>
  AuditLog.open(file, c).then(
    async (log) => {
      await log.close();
      return undefined;
    },
    (e: unknown) => e,
  );

/** What `verify-audit --config` decides: the MACs, then the anchor. */
async function verifiesInFull(text: string, c: MemoryAuditCustody = custody): Promise<boolean> {
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
    expect(read).toMatchObject({ state: 'valid', anchor: { seq: rec.seq, mac: rec.mac, signed: 1 } });
    const before = custody.macCalls;
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(signed(100 + i))));
    // Batches: the first append flushes alone, the other 49 share the next flush (2 MAC calls each).
    expect(custody.macCalls - before).toBeLessThanOrEqual(6);
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
    // One batch: one MAC call for its records, one for its anchor, and the anchor counter moved once.
    expect(custody.macCalls - macsBefore).toBe(2);
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

  it('refuses a log shorter than the anchor, naming both seqs (SIGNER_AUDIT_ROLLBACK)', async () => {
    const text = await write([signed(1), refused, refused]);
    writeFileSync(file, `${text.split('\n').slice(0, 2).join('\n')}\n`);
    const err = await openError();
    expect(err).toMatchObject({ code: 'SIGNER_AUDIT_ROLLBACK' });
    expect((err as Error).message).toMatch(/ends at seq 2, but custody's anchor is at seq 3/);
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
    await write([signed(2)]);
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
    fc.record({ t: fc.constant('restart' as const) }),
    fc.record({ t: fc.constant('snapshot' as const) }),
  );
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), keepMacs: fc.boolean() }),
    fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
    fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
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

  it('any delete, reorder, rechain, truncation, older copy or flipped byte is detected by verify-audit and refused at start', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), edit, async (ops, e) => {
        rmSync(file, { force: true });
        const c = new MemoryAuditCustody();
        const snapshots: string[] = [];
        const firstSigned = new Map<number, string>();
        let log = await AuditLog.open(file, c);
        for (const o of ops) {
          if (o.t === 'signed') {
            // The signer signs at most once per output (its own rule); the log records what it did.
            if (firstSigned.has(o.slot)) continue;
            firstSigned.set(o.slot, o.tx.repeat(32));
            await log.append(signed(o.slot, o.tx));
          } else if (o.t === 'refused') await log.append(refused);
          else if (o.t === 'restart') {
            await log.close();
            log = await AuditLog.open(file, c);
          } else snapshots.push(readFileSync(file, 'utf8'));
        }
        await log.close();
        const original = readFileSync(file, 'utf8');
        const edited = applyEdit(original, e, snapshots);
        fc.pre(edited !== original);
        writeFileSync(file, edited);

        expect(await verifiesInFull(edited, c)).toBe(false);
        const replay = replayCollector();
        const opened = await AuditLog.open(file, c, replay.onRecord).then(
          (l) => l,
          () => undefined,
        );
        expect(opened).toBeUndefined();
        // Were it ever to open, it would still remember every signature: the rule being protected.
        if (opened) {
          await opened.close();
          for (const [slot, tx] of firstSigned) {
            expect(
              replay.index.get(`${`${slot}`.padStart(64, '0')}:0:${'11'.repeat(32)}`)?.unbondingTxid,
            ).toBe(tx);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
