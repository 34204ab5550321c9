import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { removeTestTempDirs, testTempDir } from './infra/tempDirs.ts';

describe('test/infra/tempDirs: what a helper makes for a test file is removed when the file ends', () => {
  it('removes every folder it made, once, and forgets it', () => {
    const a = testTempDir('tempdirs-a-');
    const b = testTempDir('tempdirs-b-');
    expect([existsSync(a), existsSync(b)]).toEqual([true, true]);
    removeTestTempDirs();
    expect([existsSync(a), existsSync(b)]).toEqual([false, false]);
    removeTestTempDirs();
  });

  it('is wired to end every test file (vitest.config.ts setupFiles, both projects)', async () => {
    const config = (await import('../vitest.config.ts')).default as {
      test: { projects: Array<{ test: { name: string; setupFiles?: string[] } }> };
    };
    for (const p of config.test.projects) {
      expect(p.test.setupFiles, p.test.name).toContain('test/infra/tempDirs.setup.ts');
    }
  });
});
