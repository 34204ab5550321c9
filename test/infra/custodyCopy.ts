import { chmodSync, copyFileSync } from 'node:fs';
import { pino } from 'pino';
import { type CustodyBackend, openCustody, parseCustodyConfig } from '../../hsm/index.ts';

/**
 * The same covenant key as the file-backend key at `keyPath`, in a file of its own, opened as a
 * custody of its own. The audit anchor is custody's (one custody, one audit log: signer/README.md),
 * so a test that starts a second signer with a fresh audit log gives it one of these; the real file
 * backend, never a fake, as everywhere in the integration suite.
 */
export async function fileCustodyCopy(
  keyPath: string,
  passphraseEnv: string,
  name: string,
): Promise<CustodyBackend> {
  const path = `${keyPath}.${name}`;
  copyFileSync(keyPath, path);
  chmodSync(path, 0o600);
  const cfg = parseCustodyConfig({
    backend: 'file',
    file: { path, passphrase_env: passphraseEnv, allow_insecure_file_backend: true },
  });
  return openCustody(cfg, { logger: pino({ level: 'fatal' }) });
}
