import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type CustodyBackend, generateKey, openCustody, parseCustodyConfig } from '../../hsm/index.ts';

/** The passphrase every test file-custody key is sealed with (tests only). */
const PASSPHRASE_ENV = 'TEST_FILE_CUSTODY_PASSPHRASE';
const quiet = pino({ level: 'fatal' });

/** A covenant key in the real file backend, made for one test file. */
export interface TestFileCustody {
  readonly custody: CustodyBackend;
  /** The key file's folder; `close` removes it. */
  readonly dir: string;
  readonly keyPath: string;
  /**
   * The same covenant key in a file of its own, opened as a custody of its own. The audit anchor is
   * custody's (one custody, one audit log: signer/README.md), so a test that starts a second signer
   * with a fresh audit log gives it one of these; closed by `close`.
   */
  copy(name: string): Promise<CustodyBackend>;
  /** Closes the custody and its copies and removes the folder. */
  close(): Promise<void>;
}

function fileConfig(path: string) {
  return parseCustodyConfig({
    backend: 'file',
    file: { path, passphrase_env: PASSPHRASE_ENV, allow_insecure_file_backend: true },
  });
}

/** Generates a key in a fresh folder and opens it: the real file backend, never a fake. */
export async function newFileCustody(prefix: string): Promise<TestFileCustody> {
  process.env[PASSPHRASE_ENV] = 'correct horse battery staple';
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const keyPath = join(dir, 'covenant.key');
  await generateKey(fileConfig(keyPath), { logger: quiet });
  const custody = await openCustody(fileConfig(keyPath), { logger: quiet });
  const copies: CustodyBackend[] = [];
  return {
    custody,
    dir,
    keyPath,
    async copy(name) {
      const path = `${keyPath}.${name}`;
      copyFileSync(keyPath, path);
      chmodSync(path, 0o600);
      const c = await openCustody(fileConfig(path), { logger: quiet });
      copies.push(c);
      return c;
    },
    async close() {
      for (const c of [custody, ...copies]) await c.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
