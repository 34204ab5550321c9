import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPassphrase, readSecret, writeNewPrivateFile } from './secrets.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custody-secrets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function secretFile(name: string, value: string, mode: number): Promise<string> {
  const f = join(dir, name);
  await writeFile(f, value);
  await chmod(f, mode);
  return f;
}

describe('secrets come from files of mode 0600 or the environment', () => {
  it('reads a 0600 file and drops one trailing newline', async () => {
    expect(await readSecret({ file: await secretFile('pin', '1234\n', 0o600) }, 'PIN')).toBe('1234');
    expect(await readSecret({ file: await secretFile('pin2', 'ab \r\n', 0o400) }, 'PIN')).toBe('ab ');
  });

  it.each([0o644, 0o640, 0o604, 0o660])(
    'refuses a secret file of mode %o with HSM_SECRET_FILE_INSECURE',
    async (mode) => {
      const f = await secretFile(`pin-${mode.toString(8)}`, '1234', mode);
      await expect(readSecret({ file: f }, 'PIN')).rejects.toMatchObject({
        code: 'HSM_SECRET_FILE_INSECURE',
      });
    },
  );

  it('refuses a directory with HSM_SECRET_FILE_INSECURE', async () => {
    await expect(readSecret({ file: dir }, 'PIN')).rejects.toMatchObject({
      code: 'HSM_SECRET_FILE_INSECURE',
    });
  });

  it('refuses a missing file, an empty file, an unset or empty variable with HSM_SECRET_UNAVAILABLE', async () => {
    await expect(readSecret({ file: join(dir, 'none') }, 'PIN')).rejects.toMatchObject({
      code: 'HSM_SECRET_UNAVAILABLE',
    });
    await expect(readSecret({ file: await secretFile('empty', '\n', 0o600) }, 'PIN')).rejects.toMatchObject({
      code: 'HSM_SECRET_UNAVAILABLE',
    });
    await expect(readSecret({ env: 'CUSTODY_TEST_UNSET_VARIABLE' }, 'PIN')).rejects.toMatchObject({
      code: 'HSM_SECRET_UNAVAILABLE',
    });
    process.env.CUSTODY_TEST_EMPTY = '';
    await expect(readSecret({ env: 'CUSTODY_TEST_EMPTY' }, 'PIN')).rejects.toMatchObject({
      code: 'HSM_SECRET_UNAVAILABLE',
    });
  });

  it('reads a variable and never puts a secret in an error message', async () => {
    process.env.CUSTODY_TEST_PIN = 'from-env';
    expect(await readSecret({ env: 'CUSTODY_TEST_PIN' }, 'PIN')).toBe('from-env');
    const f = await secretFile('leaky', 'hunter2-secret', 0o644);
    const e = await readSecret({ file: f }, 'PIN').catch((x: Error) => x);
    expect(String((e as Error).message)).not.toContain('hunter2');
  });

  it('refuses a passphrase shorter than 12 characters with HSM_PASSPHRASE_TOO_SHORT', async () => {
    process.env.CUSTODY_TEST_PASS = 'elevenchars';
    await expect(readPassphrase({ env: 'CUSTODY_TEST_PASS' }, 'backup passphrase')).rejects.toMatchObject({
      code: 'HSM_PASSPHRASE_TOO_SHORT',
    });
    process.env.CUSTODY_TEST_PASS = 'twelve chars';
    expect(await readPassphrase({ env: 'CUSTODY_TEST_PASS' }, 'backup passphrase')).toBe('twelve chars');
  });
});

describe('writeNewPrivateFile', () => {
  it('creates the file with mode 0600 and never overwrites one', async () => {
    const f = join(dir, 'out.json');
    await writeNewPrivateFile(f, 'one', 'HSM_OUTPUT_EXISTS');
    expect((await stat(f)).mode & 0o777).toBe(0o600);
    await expect(writeNewPrivateFile(f, 'two', 'HSM_OUTPUT_EXISTS')).rejects.toMatchObject({
      code: 'HSM_OUTPUT_EXISTS',
    });
    expect(await readFile(f, 'utf8')).toBe('one');
  });
});
