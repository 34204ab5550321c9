import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTestPki } from '../test/infra/pki.ts';
import { testParamsDoc } from '../test/keys.ts';
import { loadPipelineConfig } from './config.ts';

/** The pipeline's CLI as an operator meets it first: its help and its sample configuration. */
const run = promisify(execFile);
const MAIN = new URL('./main.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'pipeline-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A params file of our own listing the sample's signer key: the CLI needs one that loads, not Babylon's. */
function paramsFor(sampleConfig: string): string {
  const key = /^public_key = "([0-9a-f]{66})"/m.exec(sampleConfig)?.[1];
  if (!key) throw new Error('the sample configuration names no signer key');
  const file = join(dir, 'global-params.json');
  writeFileSync(file, JSON.stringify(testParamsDoc([{ compressedHex: key }])));
  return file;
}

describe('pipeline/main.ts', () => {
  it('prints its usage with --help, naming every command', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', MAIN, '--help']);
    expect(stdout).toContain('start --config');
    expect(stdout).toContain('sample-config');
  });

  it('prints a sample configuration that loads as it is, with every section', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', MAIN, 'sample-config']);
    const file = join(dir, 'pipeline.toml');
    writeFileSync(file, stdout);
    const c = loadPipelineConfig(file, {});
    expect(c.signers).toHaveLength(1);
    expect(c.signers[0]!.url).toBe('https://signer-a.example:9791');
    expect(c.pipeline.interval_ms).toBe(10_000);
    expect(c.ops.port).toBe(2115);
  });

  it('reads the database password from its file at start, and refuses a file others can read', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', MAIN, 'sample-config']);
    const file = join(dir, 'with-password.toml');
    const params = paramsFor(stdout);
    writeFileSync(file, stdout.replace('/etc/pipeline/global-params.json', params));
    const pki = makeTestPki(join(dir, 'pki'), ['pipeline']);
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace('/etc/pipeline/tls/client.crt', pki.clients.pipeline!.cert)
        .replace('/etc/pipeline/tls/client.key', pki.clients.pipeline!.key)
        .replace('/etc/pipeline/tls/signer-a-ca.crt', pki.ca.cert),
    );
    const secret = join(dir, 'db-password');
    writeFileSync(secret, 'hunter2-db', { mode: 0o644 });
    const r = await run(process.execPath, ['--import', 'tsx', MAIN, 'start', '--config', file], {
      env: { ...process.env, PIPELINE__DATABASE__PASSWORD_FILE: secret },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`database password file ${secret} has mode 0644`);
    expect(r.stderr).not.toContain('hunter2-db');
  });

  it('names the option when a TLS file is missing, in one line', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', MAIN, 'sample-config']);
    const file = join(dir, 'no-tls.toml');
    const params = paramsFor(stdout);
    writeFileSync(file, stdout.replace('/etc/pipeline/global-params.json', params));
    const r = await run(process.execPath, ['--import', 'tsx', MAIN, 'start', '--config', file]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'unbonding-pipeline: PIPELINE_CONFIG_INVALID: cannot read tls.client_cert_file /etc/pipeline/tls/client.crt (ENOENT)',
    );
  });
});
