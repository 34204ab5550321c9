import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private SoftHSM2 token directory and the config that points to it. */
export interface SoftHsmDir {
  /** The temporary directory holding the config, the token directory and any secret files. */
  readonly dir: string;
  /** The softhsm2.conf to use as SOFTHSM2_CONF. */
  readonly conf: string;
  readonly tokenDir: string;
  /** `{ SOFTHSM2_CONF }`, for child processes. */
  readonly env: Readonly<Record<string, string>>;
  /** Writes a secret (PIN, passphrase) to a file in `dir` with the given mode (default 0600) and returns its path. */
  secretFile(name: string, value: string, mode?: number): Promise<string>;
  /** Removes the directory and restores the previous SOFTHSM2_CONF of this process. Idempotent. */
  cleanup(): Promise<void>;
}

/**
 * Creates a private SoftHSM2 token directory under the OS temp dir and points this process's
 * SOFTHSM2_CONF at it, so tests never touch the system token directory (/var/lib/softhsm/tokens).
 * SoftHSM reads SOFTHSM2_CONF at C_Initialize: call this before any token is opened. Each test file
 * runs in its own process, so one directory per file is the natural unit.
 */
export async function createSoftHsmDir(): Promise<SoftHsmDir> {
  const dir = await mkdtemp(join(tmpdir(), 'softhsm-'));
  const tokenDir = join(dir, 'tokens');
  await mkdir(tokenDir, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(
    conf,
    [
      `directories.tokendir = ${tokenDir}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      'slots.mechanisms = ALL',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const previous = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  let cleaned = false;
  return {
    dir,
    conf,
    tokenDir,
    env: { SOFTHSM2_CONF: conf },
    async secretFile(name, value, mode = 0o600) {
      const file = join(dir, name);
      await writeFile(file, value, { mode });
      await chmod(file, mode); // exact, whatever the umask
      return file;
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      if (previous === undefined) delete process.env.SOFTHSM2_CONF;
      else process.env.SOFTHSM2_CONF = previous;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
