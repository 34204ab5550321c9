import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ecc from 'tiny-secp256k1';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { toHex } from '../common/index.ts';
import { testKey } from '../test/keys.ts';
import type { FileCustodyConfig } from './config.ts';
import type { UnbondingSignRequest } from './custody.ts';
import {
  exportBackup,
  generateKey,
  importBackup,
  importKey,
  openCustody,
  parseCustodyConfig,
  showKey,
} from './index.ts';

let dir: string;
const PASS_ENV = 'CUSTODY_FILE_TEST_PASS';
process.env[PASS_ENV] = 'a development passphrase';
const logger = () => ({ warn: vi.fn(), info: vi.fn() });

function config(name: string, allow = true): FileCustodyConfig {
  return parseCustodyConfig({
    backend: 'file',
    file: { path: join(dir, name), passphrase_env: PASS_ENV, allow_insecure_file_backend: allow },
  }) as FileCustodyConfig;
}

function request(key: Uint8Array): UnbondingSignRequest {
  return { key, sighash: new Uint8Array(32).fill(9) } as UnbondingSignRequest;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custody-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('file backend (development only)', () => {
  it('refuses to start without allow_insecure_file_backend = true (HSM_FILE_BACKEND_NOT_ALLOWED)', async () => {
    await generateKey(config('a.key'), { logger: logger() });
    await expect(openCustody(config('a.key', false), { logger: logger() })).rejects.toMatchObject({
      code: 'HSM_FILE_BACKEND_NOT_ALLOWED',
    });
    await expect(generateKey(config('b.key', false), { logger: logger() })).rejects.toMatchObject({
      code: 'HSM_FILE_BACKEND_NOT_ALLOWED',
    });
  });

  it('warns loudly at every open', async () => {
    const log = logger();
    for (let i = 0; i < 2; i++) await (await openCustody(config('a.key'), { logger: log })).close();
    expect(log.warn).toHaveBeenCalledTimes(2);
    expect(log.warn.mock.calls[0]![1]).toMatch(/INSECURE/);
    expect(log.warn.mock.calls[0]![0]).toMatchObject({ custody: 'file' });
  });

  it('writes the key file with mode 0600 and never overwrites it (HSM_KEY_EXISTS)', async () => {
    const { stat } = await import('node:fs/promises');
    expect((await stat(join(dir, 'a.key'))).mode & 0o777).toBe(0o600);
    await expect(generateKey(config('a.key'), { logger: logger() })).rejects.toMatchObject({
      code: 'HSM_KEY_EXISTS',
    });
  });

  it('signs with the imported key, and the signature verifies', async () => {
    const k = testKey('file-import');
    const info = await importKey(config('imported.key'), Uint8Array.from(k.privateKey), { logger: logger() });
    expect(info.xOnly).toBe(toHex(k.xOnly));
    const custody = await openCustody(config('imported.key'), { logger: logger() });
    try {
      expect((await custody.publicKeys()).map(toHex)).toEqual([toHex(k.xOnly)]);
      const sig = await custody.sign(request(k.xOnly));
      expect(ecc.verifySchnorr(new Uint8Array(32).fill(9), k.xOnly, sig)).toBe(true);
      expect((await custody.health()).ok).toBe(true);
    } finally {
      await custody.close();
    }
  });

  it('refuses a tampered key file: altered ciphertext (HSM_KEY_FILE_DECRYPT_FAILED), altered format (HSM_KEY_FILE_INVALID)', async () => {
    const text = await readFile(join(dir, 'a.key'), 'utf8');
    const doc = JSON.parse(text);
    doc.ciphertext = (doc.ciphertext[0] === '0' ? '1' : '0') + doc.ciphertext.slice(1);
    await writeFile(join(dir, 'tampered.key'), JSON.stringify(doc), { mode: 0o600 });
    await expect(openCustody(config('tampered.key'), { logger: logger() })).rejects.toMatchObject({
      code: 'HSM_KEY_FILE_DECRYPT_FAILED',
    });
    doc.format = 'something-else';
    await writeFile(join(dir, 'other.key'), JSON.stringify(doc), { mode: 0o600 });
    await expect(openCustody(config('other.key'), { logger: logger() })).rejects.toMatchObject({
      code: 'HSM_KEY_FILE_INVALID',
    });
  });

  it('refuses a wrong passphrase (HSM_KEY_FILE_DECRYPT_FAILED) and a key file readable by others (HSM_SECRET_FILE_INSECURE)', async () => {
    process.env.CUSTODY_FILE_WRONG = 'not the right passphrase';
    const wrong = parseCustodyConfig({
      backend: 'file',
      file: {
        path: join(dir, 'a.key'),
        passphrase_env: 'CUSTODY_FILE_WRONG',
        allow_insecure_file_backend: true,
      },
    });
    await expect(openCustody(wrong, { logger: logger() })).rejects.toMatchObject({
      code: 'HSM_KEY_FILE_DECRYPT_FAILED',
    });
    await writeFile(join(dir, 'open.key'), await readFile(join(dir, 'a.key')));
    await chmod(join(dir, 'open.key'), 0o644);
    await expect(openCustody(config('open.key'), { logger: logger() })).rejects.toMatchObject({
      code: 'HSM_SECRET_FILE_INSECURE',
    });
  });

  it('refuses a key it does not hold (HSM_KEY_NOT_HELD) and, once closed, everything (HSM_CLOSED)', async () => {
    const custody = await openCustody(config('a.key'), { logger: logger() });
    await expect(custody.sign(request(testKey('someone-else').xOnly))).rejects.toMatchObject({
      code: 'HSM_KEY_NOT_HELD',
    });
    await custody.close();
    await custody.close();
    await expect(custody.publicKeys()).rejects.toMatchObject({ code: 'HSM_CLOSED' });
    expect((await custody.health()).ok).toBe(false);
  });

  it('round-trips a sealed backup into a new key file, and refuses a wrong backup passphrase', async () => {
    process.env.CUSTODY_BACKUP_PASS = 'a long backup passphrase';
    const out = join(dir, 'backup.json');
    const exported = await exportBackup(config('a.key'), {
      logger: logger(),
      out,
      passphrase: { env: 'CUSTODY_BACKUP_PASS' },
    });
    await expect(
      exportBackup(config('a.key'), { logger: logger(), out, passphrase: { env: 'CUSTODY_BACKUP_PASS' } }),
    ).rejects.toMatchObject({ code: 'HSM_OUTPUT_EXISTS' });
    process.env.CUSTODY_BACKUP_WRONG = 'the wrong backup passphrase';
    await expect(
      importBackup(config('restored.key'), {
        logger: logger(),
        from: out,
        passphrase: { env: 'CUSTODY_BACKUP_WRONG' },
      }),
    ).rejects.toMatchObject({ code: 'HSM_BACKUP_DECRYPT_FAILED' });
    const restored = await importBackup(config('restored.key'), {
      logger: logger(),
      from: out,
      passphrase: { env: 'CUSTODY_BACKUP_PASS' },
    });
    expect(restored).toEqual(exported);
    expect((await showKey(config('restored.key'), { logger: logger() })).xOnly).toBe(exported.xOnly);
  });

  it('a file-backed custody never loads graphene-pk11 (backend modules are imported lazily)', async () => {
    const custody = await openCustody(config('a.key'), { logger: logger() });
    await custody.close();
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.some((p) => p.includes('graphene-pk11') || p.includes('pkcs11js'))).toBe(false);
  });
});

describe('file backend audit key and anchor', () => {
  it('derives the audit MAC key from the covenant key: stable across opens, different for another key', async () => {
    await generateKey(config('audit-a.key'), { logger: logger() });
    await generateKey(config('audit-b.key'), { logger: logger() });
    const macOf = async (name: string) => {
      const c = await openCustody(config(name), { logger: logger() });
      try {
        return toHex((await c.audit.mac([Buffer.from('record')]))[0]!);
      } finally {
        await c.close();
      }
    };
    const a = await macOf('audit-a.key');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await macOf('audit-a.key')).toBe(a);
    expect(await macOf('audit-b.key')).not.toBe(a);
  });

  it('keeps the anchor in a file beside the key, mode 0600, replaced only from the value it expects', async () => {
    const c = await openCustody(config('audit-a.key'), { logger: logger() });
    try {
      expect(await c.audit.readAnchor()).toBeUndefined();
      await c.audit.writeAnchor(Buffer.from('one'), undefined);
      await c.audit.writeAnchor(Buffer.from('two'), Buffer.from('one'));
      await expect(c.audit.writeAnchor(Buffer.from('x'), Buffer.from('one'))).rejects.toMatchObject({
        code: 'HSM_AUDIT_ANCHOR_CONFLICT',
      });
      expect(await readFile(join(dir, 'audit-a.key.audit-anchor'), 'utf8')).toBe('two');
      const { statSync } = await import('node:fs');
      expect(statSync(join(dir, 'audit-a.key.audit-anchor')).mode & 0o777).toBe(0o600);
    } finally {
      await c.close();
    }
    await expect(c.audit.mac([Buffer.from('x')])).rejects.toMatchObject({ code: 'HSM_CLOSED' });
  });
});
