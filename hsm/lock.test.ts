import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileCustodyConfig } from './config.ts';
import type { UnbondingSignRequest } from './custody.ts';
import { generateKey, openCustody, parseCustodyConfig } from './index.ts';

/*
 * HSM_LOCKED: the reference phase-2 signer's lock, as custody enforces it (the file backend here;
 * the signer's POST /v1/lock over pkcs11 and file is in signer/phase2*.int.test.ts, where it
 * surfaces as SIGNER_LOCKED). While locked nothing is signed; the passphrase unlocks.
 */
let dir: string;
const PASS_ENV = 'CUSTODY_LOCK_TEST_PASS';
process.env[PASS_ENV] = 'a development passphrase for the lock test';
const quiet = { warn() {}, info() {} };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custody-lock-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a locked custody', () => {
  it('refuses sign and adaptorSign with HSM_LOCKED until unlocked with its passphrase', async () => {
    const config = parseCustodyConfig({
      backend: 'file',
      file: { path: join(dir, 'k.key'), passphrase_env: PASS_ENV, allow_insecure_file_backend: true },
    }) as FileCustodyConfig;
    await generateKey(config, { logger: quiet });
    const custody = await openCustody(config, { logger: quiet });
    try {
      const [key] = await custody.publicKeys();
      const req = { key: key!, sighash: new Uint8Array(32).fill(9) } as UnbondingSignRequest;
      await custody.lock!();
      expect(custody.locked).toBe(true);
      await expect(custody.sign(req)).rejects.toMatchObject({ code: 'HSM_LOCKED' });
      await expect(custody.adaptorSign!({ key: key!, items: [] })).rejects.toMatchObject({
        code: 'HSM_LOCKED',
      });
      await expect(custody.unlock!('not the passphrase')).rejects.toMatchObject({
        code: 'HSM_KEY_FILE_DECRYPT_FAILED',
      });
      expect(custody.locked).toBe(true);
      await custody.unlock!(process.env[PASS_ENV]!);
      expect(custody.locked).toBe(false);
      expect(await custody.sign(req)).toHaveLength(64);
    } finally {
      await custody.close();
    }
  });
});
