import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { AuditLog, verifyAuditFile, verifyAuditText } from './audit.ts';

let dir: string;
let file: string;
let custody: MemoryAuditCustody;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-'));
  file = join(dir, 'audit.jsonl');
  custody = new MemoryAuditCustody();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function writeRecords(n: number): Promise<string[]> {
  const log = await AuditLog.open(file, custody);
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      log.append({
        event: 'decision',
        outcome: 'signed',
        staking_txid: `${i}`.padStart(64, '0'),
        signature: 'ab'.repeat(64),
      }),
    ),
  );
  await log.close();
  return readFileSync(file, 'utf8').trimEnd().split('\n');
}

describe('audit log hash chain', () => {
  it('records every append in order, each chained to the previous, and verifies intact', async () => {
    const lines = await writeRecords(50);
    expect(lines).toHaveLength(50);
    const seqs = lines.map((l) => JSON.parse(l).seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(JSON.parse(lines[1]!).prev).toBe(JSON.parse(lines[0]!).hash);
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 50 });
  });

  it('continues the chain across reopenings and replays every record', async () => {
    await writeRecords(3);
    const seen: number[] = [];
    const log = await AuditLog.open(file, custody, (r) => seen.push(r.seq));
    expect(seen).toEqual([1, 2, 3]);
    await log.append({ event: 'stop' });
    await log.close();
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 4 });
  });

  it('detects a flipped byte and names its line', async () => {
    const lines = await writeRecords(5);
    lines[2] = lines[2]!.replace('"signed"', '"signeD"');
    expect(verifyAuditText(`${lines.join('\n')}\n`)).toMatchObject({ ok: false, line: 3 });
  });

  it('detects a flipped byte in the hash itself', async () => {
    const lines = await writeRecords(5);
    const l = lines[4]!;
    // The hash is no longer the last field (the mac follows it): flip its last hex digit.
    const at = l.indexOf('"hash":"') + '"hash":"'.length + 63;
    lines[4] = `${l.slice(0, at)}${l[at] === '0' ? '1' : '0'}${l.slice(at + 1)}`;
    expect(verifyAuditText(lines.join('\n'))).toMatchObject({ ok: false, line: 5 });
  });

  it('detects a removed record', async () => {
    const lines = await writeRecords(5);
    lines.splice(1, 1);
    expect(verifyAuditText(lines.join('\n'))).toMatchObject({ ok: false, line: 2 });
  });

  it('detects reordered records', async () => {
    const lines = await writeRecords(5);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    expect(verifyAuditText(lines.join('\n'))).toMatchObject({ ok: false, line: 2 });
  });

  it('detects a truncated last record', async () => {
    const lines = await writeRecords(3);
    lines[2] = lines[2]!.slice(0, 40);
    expect(verifyAuditText(lines.join('\n'))).toMatchObject({ ok: false, line: 3 });
  });

  it('refuses to open a broken log, so the signer cannot forget what it signed', async () => {
    const lines = await writeRecords(3);
    writeFileSync(file, `${lines[0]}\n${lines[2]}\n`);
    const err = await AuditLog.open(file, custody).catch((e: unknown) => e);
    expect(isCodedError(err, 'SIGNER_AUDIT_CORRUPT')).toBe(true);
  });

  it('writes the file with mode 0600', async () => {
    await writeRecords(1);
    const { statSync } = await import('node:fs');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
