import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Temporary folders made for a test file by helpers that outlive one test (a config with its params
 * files, say), removed when that file ends: test/infra/tempDirs.setup.ts registers the cleanup for
 * every file, so a helper needs no teardown of its own from each caller.
 */
const made: string[] = [];

export function testTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTestTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
