import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryAuditCustody } from '../test/infra/memoryAuditCustody.ts';
import { AuditLog, readAuditFile, verifyAuditFile } from './audit.ts';

/*
 * SIGNER_AUDIT_UNREADABLE: an audit log that exists but cannot be read stops the signer at start-up
 * (it is the anti-replay memory: starting without it could sign twice), and verification never
 * reports "no log" as an intact empty log.
 */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-unreadable-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('an unreadable audit log', () => {
  it('stops AuditLog.open when the path cannot be read (a directory stands in for a bad file)', async () => {
    const path = join(dir, 'audit.jsonl');
    mkdirSync(path);
    await expect(AuditLog.open(path, new MemoryAuditCustody())).rejects.toMatchObject({
      code: 'SIGNER_AUDIT_UNREADABLE',
    });
  });

  it('starts an empty log where none exists yet (the first start), so only an unreadable one refuses', async () => {
    const opened = AuditLog.open(join(dir, 'fresh.jsonl'), new MemoryAuditCustody());
    await expect(opened.then((log) => log.close())).resolves.toBeUndefined();
  });

  it('refuses to verify a missing log rather than call it intact', () => {
    const missing = join(dir, 'missing.jsonl');
    expect(() => readAuditFile(missing)).toThrow(
      expect.objectContaining({ code: 'SIGNER_AUDIT_UNREADABLE' }),
    );
    expect(() => verifyAuditFile(missing)).toThrow(
      expect.objectContaining({
        code: 'SIGNER_AUDIT_UNREADABLE',
        message: expect.stringContaining('ENOENT'),
      }),
    );
  });
});
