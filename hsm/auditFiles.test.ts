import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fileAnchorStore, readOrCreateAuditKeyFile } from './auditFiles.ts';

/** The bitcoind-wallet backend's audit key file: the wallet node cannot MAC for the signer. */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-key-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('audit key file', () => {
  it('is created once, mode 0600, from the RNG, when neither it nor its anchor exists, and says so', async () => {
    const file = join(dir, 'a.key');
    const logger = { warn: vi.fn() };
    const key = await readOrCreateAuditKeyFile(file, fileAnchorStore(`${file}.anchor`), logger);
    expect(key).toHaveLength(32);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(logger.warn.mock.calls[0]![1]).toMatch(/AUDIT KEY CREATED/);
    const again = await readOrCreateAuditKeyFile(file, fileAnchorStore(`${file}.anchor`), logger);
    expect(again.equals(key)).toBe(true);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect((await readFile(file, 'utf8')).trim()).toBe(key.toString('hex'));
  });

  it('is never silently replaced: once an anchor exists, a missing key file is an error', async () => {
    const file = join(dir, 'b.key');
    await writeFile(`${file}.anchor`, 'x');
    await expect(
      readOrCreateAuditKeyFile(file, fileAnchorStore(`${file}.anchor`), undefined),
    ).rejects.toMatchObject({
      code: 'HSM_SECRET_UNAVAILABLE',
    });
  });

  it('refuses a key file others can read (HSM_SECRET_FILE_INSECURE) or that is not 64 hex digits (HSM_AUDIT_KEY_INVALID)', async () => {
    const file = join(dir, 'c.key');
    await writeFile(file, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
    await chmod(file, 0o644);
    await expect(
      readOrCreateAuditKeyFile(file, fileAnchorStore(`${file}.anchor`), undefined),
    ).rejects.toMatchObject({
      code: 'HSM_SECRET_FILE_INSECURE',
    });
    await chmod(file, 0o600);
    await writeFile(file, 'not a key');
    await expect(
      readOrCreateAuditKeyFile(file, fileAnchorStore(`${file}.anchor`), undefined),
    ).rejects.toMatchObject({
      code: 'HSM_AUDIT_KEY_INVALID',
    });
  });
});
