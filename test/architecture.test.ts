import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testTempDir } from './infra/tempDirs.ts';

/**
 * `npm run check:arch` (.ci/check-arch, with this checkout's rules) run on small made-up trees: a
 * tree that keeps every rule passes, and each planted violation is reported by the rule that owns
 * it, so the check cannot pass by checking nothing.
 */
const CHECK = new URL('../.ci/check-arch', import.meta.url).pathname;

type Tree = Record<string, string>;

/** A tree in the rooms' shape that keeps every rule, tests beside code included. */
const CLEAN: Tree = {
  'common/index.ts': 'export const one = 1;\n',
  'params/index.ts': "import { one } from '../common/index.ts';\nexport { one };\n",
  'params/globalParams.ts': 'export type Params = { version: number };\n',
  'staking/index.ts': "import { one } from '../params/index.ts';\nexport const two = one + 1;\n",
  // A unit test may use Node and test/'s helpers.
  'staking/leaves.test.ts':
    "import { readFileSync } from 'node:fs';\nimport { k } from '../test/keys.ts';\nexport { k, readFileSync };\n",
  'runtime/index.ts': "import { readFileSync } from 'node:fs';\nexport { readFileSync };\n",
  'api/index.ts':
    "import { two } from '../staking/index.ts';\nimport { readFileSync } from '../runtime/index.ts';\nexport { readFileSync, two };\n",
  'signer/main.ts': "import { two } from '../staking/index.ts';\nexport { two };\n",
  'test/keys.ts': "import { two } from '../api/index.ts';\nexport const k = two;\n",
};

function writeTree(tree: Tree): string {
  const root = testTempDir('arch-');
  for (const [path, text] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function checkArch(tree: Tree): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', [CHECK, writeTree(tree)], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

describe('npm run check:arch', () => {
  it('passes a tree that keeps every rule', async () => {
    const r = await checkArch(CLEAN);
    expect(r.output).toContain('no dependency violations found');
    expect(r.code).toBe(0);
  });

  it('fails when staking/ imports node:fs, in both halves: the import rules and the browser bundle', async () => {
    const r = await checkArch({
      ...CLEAN,
      'staking/index.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/error pure-rooms-no-node-builtin: staking\/index\.ts → (node:)?fs\n/);
    expect(r.output).toContain('Could not resolve "node:fs"');
    expect(r.output).toContain('check:arch: staking/ does not bundle for the browser');
  });

  it.each<[string, Tree, RegExp]>([
    [
      'a service imports another service',
      { 'signer/main.ts': "import { two } from '../api/index.ts';\nexport { two };\n" },
      /error services-never-import-each-other: signer\/main\.ts → api\/index\.ts/,
    ],
    [
      'a pure room imports the service shell',
      {
        'params/index.ts': "import { readFileSync } from '../runtime/index.ts';\nexport { readFileSync };\n",
      },
      /error may-import:params: params\/index\.ts → runtime\/index\.ts/,
    ],
    [
      'a room reaches past another room’s index.ts (a type-only import counts)',
      { 'api/app.ts': "import type { Params } from '../params/globalParams.ts';\nexport type P = Params;\n" },
      /error through-index: api\/app\.ts → params\/globalParams\.ts/,
    ],
    [
      'production code imports test/',
      { 'staking/keys.ts': "import { k } from '../test/keys.ts';\nexport { k };\n" },
      /error may-import:staking: staking\/keys\.ts → test\/keys\.ts/,
    ],
    [
      'a unit test imports a room outside its room’s column',
      { 'params/x.test.ts': "import { two } from '../api/index.ts';\nexport { two };\n" },
      /error tests-may-import:params: params\/x\.test\.ts → api\/index\.ts/,
    ],
    [
      'a folder that is not in README.md’s Layout table',
      { 'extras/x.ts': "import { one } from '../common/index.ts';\nexport { one };\n" },
      /error unknown-room: extras\/x\.ts → common\/index\.ts/,
    ],
  ])('fails when %s', async (_, planted, reported) => {
    const r = await checkArch({ ...CLEAN, ...planted });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(reported);
    // Nothing but the planted file is reported (a second rule may name the same import).
    const errors = r.output.split('\n').filter((line) => line.startsWith('  error '));
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) expect(line).toContain(`: ${Object.keys(planted)[0]} → `);
  });
});
