import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testTempDir } from './infra/tempDirs.ts';
import { itVectors, VECTORS_DIR, vectorsAbsence } from './infra/vectors.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe("Babylon's published data is read in place from ../shared/vectors", () => {
  it('where the folder is absent, the reason names the folder looked in', () => {
    const empty = testTempDir('no-vectors-');
    const reason = vectorsAbsence(empty);
    expect(reason).toContain(empty);
    expect(reason).toContain('../shared/vectors');
  });

  itVectors('is found beside the checkout', () => {
    expect(vectorsAbsence(VECTORS_DIR)).toBeUndefined();
  });

  itVectors('and the project keeps no copy of any of its files', () => {
    const published = new Map<string, string>();
    for (const entry of readdirSync(VECTORS_DIR, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || entry.name.endsWith('.md')) continue;
      const file = join(entry.parentPath, entry.name);
      published.set(sha256(file), file);
    }
    expect(published.size).toBeGreaterThan(5);
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '');
    const copies = tracked.filter((f) => published.has(sha256(join(ROOT, f))));
    expect(copies).toEqual([]);
  });
});
