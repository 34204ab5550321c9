import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig } from '../api/config.ts';
import { RpcClient, startRegtestNode } from '../bitcoind/index.ts';
import { loadIndexerConfig } from '../indexer/config.ts';
import { parseGlobalParams } from '../params/index.ts';
import { loadPipelineConfig } from '../pipeline/config.ts';
import { loadSignerConfig } from '../signer/config.ts';
import { testKey } from './keys.ts';

/**
 * The compose deployment, checked without a container engine (none runs on these machines): the
 * compose file is valid for a compose client, the secrets script makes every file it mounts with
 * the modes the services demand, the rpcauth line lets the services' password into a real node,
 * the PKI chains and names the hosts, the committee script writes params the services parse, and
 * every service config loads with the environment the compose file gives it.
 */
const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const COMPOSE = readFileSync(join(REPO, 'docker-compose.yml'), 'utf8');
let dir: string;
let out: string;
let envFile: string;

const script = (name: string, args: string[] = []) =>
  run('bash', [join(REPO, 'deploy', name), ...args], {
    cwd: REPO,
    env: { ...process.env, OUT_DIR: out, ENV_FILE: envFile },
  });
const envOf = (): Record<string, string> =>
  Object.fromEntries(
    readFileSync(envFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const i = l.indexOf('=');
        return [l.slice(0, i), l.slice(i + 1).replace(/^'(.*)'$/, '$1')];
      }),
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deploy-test-'));
  out = join(dir, 'generated');
  envFile = join(dir, '.env');
  await script('make-secrets.sh', [out]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docker-compose.yml', () => {
  it('is valid for a compose client', async () => {
    const { stdout } = await run('bash', [join(REPO, 'deploy/check-compose.sh')]);
    expect(stdout).toContain('docker-compose.yml is valid');
  });

  it('mounts only files that exist in the repository or that make-secrets.sh makes', () => {
    const generated = [...COMPOSE.matchAll(/\.\/deploy\/generated\/([\w./-]+)/g)].map((m) => m[1]!);
    const config = [...COMPOSE.matchAll(/\.\/deploy\/config\/([\w./-]+)/g)].map((m) => m[1]!);
    expect(generated.length).toBeGreaterThan(15);
    for (const f of new Set(generated)) expect(existsSync(join(out, f)), f).toBe(true);
    for (const f of new Set(config)) expect(existsSync(join(REPO, 'deploy/config', f)), f).toBe(true);
  });
});

describe('deploy/make-secrets.sh', () => {
  it('makes secret files only their owner can read, and keeps them on a second run', async () => {
    const files = [
      'secrets/postgres_password',
      'secrets/signer0_pin',
      'pki/signer-0.key',
      'pki/pipeline.key',
    ];
    for (const f of files) expect(statSync(join(out, f)).mode & 0o777, f).toBe(0o600);
    const before = files.map((f) => readFileSync(join(out, f), 'utf8'));
    await script('make-secrets.sh', [out]);
    expect(files.map((f) => readFileSync(join(out, f), 'utf8'))).toEqual(before);
  });

  it('issues each signer a certificate for its compose host name, and pins the pipeline certificate', () => {
    const ca = new X509Certificate(readFileSync(join(out, 'pki/ca.crt')));
    for (const i of [0, 1, 2]) {
      const cert = new X509Certificate(readFileSync(join(out, `pki/signer-${i}.crt`)));
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkHost(`signer-${i}`)).toBe(`signer-${i}`);
      expect(cert.checkHost(`signer-${(i + 1) % 3}`)).toBeUndefined();
    }
    const pipeline = new X509Certificate(readFileSync(join(out, 'pki/pipeline.crt')));
    expect(pipeline.verify(ca.publicKey)).toBe(true);
    expect(envOf().PIPELINE_CERT_FINGERPRINT).toBe(pipeline.fingerprint256);
  });

  it('writes an rpcauth line that admits the services with their password file, and no other', async () => {
    const rpcauth = /^rpcauth=(.+)$/m.exec(readFileSync(join(out, 'bitcoin.conf'), 'utf8'))?.[1];
    expect(rpcauth).toMatch(/^staking:[0-9a-f]{32}\$[0-9a-f]{64}$/);
    const node = await startRegtestNode({ extraArgs: [`-rpcauth=${rpcauth}`] });
    try {
      const password = readFileSync(join(out, 'secrets/bitcoind_rpc_password'), 'utf8').trim();
      const ok = new RpcClient({ url: node.rpcUrl, user: 'staking', password });
      expect(await ok.getblockcount()).toBe(0);
      const wrong = new RpcClient({ url: node.rpcUrl, user: 'staking', password: `${password}x` });
      await expect(wrong.getblockcount()).rejects.toMatchObject({ code: 'RPC_HTTP' });
    } finally {
      await node.stop();
    }
  });
});

describe('deploy/write-committee.sh and the service configs', () => {
  const keys = ['deploy-a', 'deploy-b', 'deploy-c'].map((l) => testKey(l).compressedHex);

  it('writes params with the committee, that parse, and the pipeline signer list', async () => {
    await script('write-committee.sh', keys);
    const params = parseGlobalParams(readFileSync(join(out, 'global-params.json')));
    expect(params.versions.map((v) => v.activationHeight)).toEqual([115, 130]);
    for (const v of params.versions)
      expect(v.covenantPks.map((k) => Buffer.from(k).toString('hex'))).toEqual(keys);
    const signers = JSON.parse(envOf().PIPELINE_SIGNERS!) as { public_key: string; url: string }[];
    expect(signers.map((s) => s.public_key)).toEqual(keys);
    expect(signers[2]!.url).toBe('https://signer-2:9791');
  });

  it('refuses something that is not a compressed key', async () => {
    await expect(script('write-committee.sh', [keys[0]!, keys[1]!, 'nope'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('not a compressed public key: nope'),
    });
  });

  it('loads every service configuration with the environment docker-compose.yml gives it', () => {
    const env = envOf();
    const cfg = (name: string) => join(REPO, 'deploy/config', name);
    const signer = loadSignerConfig(cfg('signer.toml'), {
      SIGNER__SERVER__CLIENTS: JSON.stringify([
        { name: 'pipeline', fingerprint_sha256: env.PIPELINE_CERT_FINGERPRINT },
      ]),
    });
    expect(signer.server.clients).toHaveLength(1);
    expect(COMPOSE).toContain('SIGNER__SERVER__CLIENTS:');
    const pipeline = loadPipelineConfig(cfg('pipeline.toml'), { PIPELINE__SIGNERS: env.PIPELINE_SIGNERS });
    expect(pipeline.signers).toHaveLength(3);
    expect(pipeline.database.password_file).toBe('/run/secrets/postgres_password');
    expect(COMPOSE).toMatch(/PIPELINE__SIGNERS: ["']\$\{PIPELINE_SIGNERS:\?/);
    expect(loadIndexerConfig(cfg('indexer.toml'), {}).rabbitmq.password_file).toBe(
      '/run/secrets/rabbitmq_password',
    );
    expect(loadApiConfig(cfg('api.toml'), {}).database.password_file).toBe('/run/secrets/postgres_password');
  });
});
