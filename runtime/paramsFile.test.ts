import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { itVectors, vectorPath } from '../test/infra/vectors.ts';
import { loadParamsFile } from './paramsFile.ts';

const FIXTURE = vectorPath('params/bbn-1/global-params.json');
const dir = mkdtempSync(join(tmpdir(), 'params-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(file: string): { code: string; message: string; file: unknown } {
  try {
    loadParamsFile(file);
  } catch (e) {
    if (isCodedError(e)) return { code: e.code, message: e.message, file: e.details?.file };
    throw e;
  }
  throw new Error('loaded');
}

describe('loadParamsFile: every failure names the file it came from', () => {
  itVectors('loads a published file: frozen params and the sha256 of its bytes', () => {
    const p = loadParamsFile(FIXTURE);
    expect(p.file).toBe(FIXTURE);
    expect(p.params.versions.length).toBeGreaterThan(0);
    expect(Object.isFrozen(p.params.versions[0])).toBe(true);
    expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['a missing file', () => join(dir, 'nope.json'), 'PARAMS_FILE_UNREADABLE', /ENOENT/],
    ['a directory', () => dir, 'PARAMS_FILE_UNREADABLE', /EISDIR/],
    ['not JSON', () => write('not-json.json', '{"versions": ['), 'PARAMS_NOT_JSON', /not valid JSON/],
    ['an empty list', () => write('empty.json', '{"versions": []}'), 'PARAMS_EMPTY', /./],
  ])('%s', (_what, path, code, detail) => {
    const file = path();
    const e = errorOf(file);
    expect(e.code).toBe(code);
    expect(e.message).toContain(file);
    expect(e.message).toMatch(detail);
    expect(e.file).toBe(file);
  });
});

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
