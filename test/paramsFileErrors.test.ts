import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { loadParamsFile as indexerLoadParams } from '../indexer/index.ts';
import { startPipeline } from '../pipeline/app.ts';
import { loadPipelineConfig } from '../pipeline/config.ts';
import { ParamsHolder } from '../signer/paramsStore.ts';

/**
 * Every service's params loader says which file a params error came from, with a code: the signer
 * (signer/paramsStore.ts), the indexer, the pipeline (which gave a bare ENOENT) and the key ceremony.
 * The API's loader belongs to api/ and is not covered here.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'params-file-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const missing = join(dir, 'missing-global-params.json');
const notJson = join(dir, 'broken-global-params.json');
writeFileSync(notJson, '{"versions": [');
const CASES: Array<[string, string, string]> = [
  ['a missing file', missing, 'PARAMS_FILE_UNREADABLE'],
  ['a file that is not JSON', notJson, 'PARAMS_NOT_JSON'],
];

async function errorOf(f: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await f();
  } catch (e) {
    if (isCodedError(e)) return { code: e.code, message: e.message };
    return { code: 'NOT_CODED', message: String(e) };
  }
  throw new Error('loaded');
}

describe.each(CASES)('%s', (_what, file, code) => {
  it('signer', async () => {
    const e = await errorOf(() => new ParamsHolder(file));
    expect(e.code).toBe(code);
    expect(e.message).toContain(file);
  });

  it('indexer', async () => {
    const e = await errorOf(() => indexerLoadParams(file));
    expect(e.code).toBe(code);
    expect(e.message).toContain(file);
  });

  it('pipeline (before it connects to anything)', async () => {
    const config = loadPipelineConfig(undefined, {
      PIPELINE__BITCOIND__URL: 'http://127.0.0.1:1',
      PIPELINE__BITCOIND__COOKIE_FILE: join(dir, 'cookie'),
      PIPELINE__PARAMS__FILE: file,
      PIPELINE__SIGNERS: JSON.stringify([
        { name: 'a', url: 'http://127.0.0.1:1', public_key: `02${'11'.repeat(32)}` },
      ]),
    });
    const e = await errorOf(() => startPipeline(config, { once: true }));
    expect(e.code).toBe(code);
    expect(e.message).toContain(file);
  });

  it('key ceremony (show-key --params)', () => {
    const cfg = join(dir, 'custody.toml');
    writeFileSync(
      cfg,
      `[custody]\nbackend = "file"\n[custody.file]\npath = "${join(dir, 'no-key')}"\npassphrase_env = "NOPE"\nallow_insecure_file_backend = true\n`,
    );
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'hsm/ceremonyCli.ts'), 'show-key', '--config', cfg, '--params', file],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`error ${code}: `);
    expect(r.stderr).toContain(file);
  });
});
