import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { toHex } from '../common/index.ts';
import { createSoftHsmDir, type SoftHsmDir } from '../test/infra/softhsm.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { BACKUP_CODES, deriveEnvelopeKey, openEnvelope, parseEnvelope } from './envelope.ts';
import { encodeWif } from './privateKey.ts';

/**
 * The ceremony CLI, run as operators run it, for every command and every backend that offers it.
 * The rule under test: no command prints or logs private key material, nor a PIN or passphrase.
 */
const CLI = fileURLToPath(new URL('./ceremonyCli.ts', import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));
const PIN = 'user-pin-8c1e5f';
const SO_PIN = 'so-pin-3d7a2b';
const BACKUP_PASS = 'backup passphrase 5e9f0a1c';
const FILE_PASS = 'file passphrase 77b3c2d4';

let hsm: SoftHsmDir;
let node: RegtestNode;
/** Everything any command wrote to stdout or stderr. */
const transcript: string[] = [];
/** Private keys whose text forms must never appear (filled as keys become known). */
const privateKeys: Uint8Array[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: REPO,
      env: { ...process.env, ...hsm.env, CLI_BACKUP_PASS: BACKUP_PASS, CLI_FILE_PASS: FILE_PASS },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      transcript.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

async function ok(args: string[], stdin?: string): Promise<Record<string, unknown>> {
  const r = await cli(args, stdin);
  if (r.code !== 0) throw new Error(`${args[0]} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function tomlConfig(name: string, custody: string): Promise<string> {
  const file = join(hsm.dir, `${name}.toml`);
  await writeFile(file, `[server]\nport = 9791\n\n${custody}`);
  return file;
}

async function pkcs11Config(token: string): Promise<string> {
  return tomlConfig(
    token,
    `[custody]\nbackend = "pkcs11"\n[custody.pkcs11]\ntoken_label = "${token}"\npin_file = "user.pin"\n`,
  );
}

async function fileConfig(name: string): Promise<string> {
  return tomlConfig(
    name,
    `[custody]\nbackend = "file"\n[custody.file]\npath = "${name}.key"\npassphrase_env = "CLI_FILE_PASS"\nallow_insecure_file_backend = true\n`,
  );
}

async function walletConfig(name: string, key?: string): Promise<string> {
  return tomlConfig(
    name,
    `[custody]\nbackend = "bitcoind-wallet"\n[custody.bitcoind_wallet]\nurl = "${node.rpcUrl}"\nwallet = "${name}"\ncookie_file = "${node.cookieFile}"\n${key ? `key = "${key}"\n` : ''}`,
  );
}

/** The private key inside a backup, recovered with its passphrase (the test's way to learn a generated key). */
async function keyInBackup(file: string): Promise<Uint8Array> {
  const env = parseEnvelope(await readFile(file, 'utf8'), 'babylon-covenant-key-backup', BACKUP_CODES, file);
  return openEnvelope(env, await deriveEnvelopeKey(BACKUP_PASS, env.kdf), BACKUP_CODES);
}

beforeAll(async () => {
  hsm = await createSoftHsmDir();
  await hsm.secretFile('user.pin', PIN);
  await hsm.secretFile('so.pin', SO_PIN);
  node = await startRegtestNode();
});
afterAll(async () => {
  await node?.stop();
  await hsm?.cleanup();
});

describe('ceremony CLI', () => {
  it('--help names every command and says where secrets come from', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of [
      'init-token',
      'generate-key',
      'import-key',
      'show-key',
      'export-backup',
      'import-backup',
    ]) {
      expect(r.stdout).toContain(c);
    }
    expect(r.stdout).toMatch(/STANDARD INPUT/);
  });

  it('refuses secrets on the command line: --pin is not an option (exit 2)', async () => {
    const r = await cli(['init-token', '--config', await pkcs11Config('x'), '--pin', PIN]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--pin/);
  });

  it('pkcs11: init-token, generate-key, show-key with params, export-backup, import-backup into a fresh token, import-key', async () => {
    const cfg = await pkcs11Config('cli');
    expect(await ok(['init-token', '--config', cfg, '--so-pin-file', join(hsm.dir, 'so.pin')])).toMatchObject(
      {
        token: 'cli',
      },
    );
    const generated = await ok(['generate-key', '--config', cfg]);
    expect(generated.xOnly).toMatch(/^[0-9a-f]{64}$/);

    const params = join(hsm.dir, 'params.json');
    const doc = testParamsDoc([testKey('cli-a'), testKey('cli-b')]);
    (doc.versions[0] as { covenant_pks: string[] }).covenant_pks.push(generated.compressed as string);
    await writeFile(params, JSON.stringify(doc));
    const shown = await ok(['show-key', '--config', cfg, '--params', params]);
    expect(shown).toMatchObject({
      xOnly: generated.xOnly,
      compressed: generated.compressed,
      paramsVersions: [0],
    });
    expect((shown.health as { ok: boolean }).ok).toBe(true);

    const backup = join(hsm.dir, 'cli-backup.json');
    await ok(['export-backup', '--config', cfg, '--out', backup, '--passphrase-env', 'CLI_BACKUP_PASS']);
    privateKeys.push(await keyInBackup(backup));

    const fresh = await pkcs11Config('cli-restored');
    await ok(['init-token', '--config', fresh, '--so-pin-file', join(hsm.dir, 'so.pin')]);
    expect(
      await ok(['import-backup', '--config', fresh, '--in', backup, '--passphrase-env', 'CLI_BACKUP_PASS']),
    ).toMatchObject({
      xOnly: generated.xOnly,
    });

    const k = testKey('cli-imported-pkcs11');
    privateKeys.push(k.privateKey);
    const imp = await pkcs11Config('cli-import');
    await ok(['init-token', '--config', imp, '--so-pin-file', join(hsm.dir, 'so.pin')]);
    expect(await ok(['import-key', '--config', imp], `${toHex(k.privateKey)}\n`)).toMatchObject({
      xOnly: toHex(k.xOnly),
    });
  });

  it('file: generate-key, show-key, export-backup, import-backup, and import-key from a WIF', async () => {
    const cfg = await fileConfig('cli-file');
    const generated = await ok(['generate-key', '--config', cfg]);
    expect((await ok(['show-key', '--config', cfg])).xOnly).toBe(generated.xOnly);
    const backup = join(hsm.dir, 'cli-file-backup.json');
    await ok(['export-backup', '--config', cfg, '--out', backup, '--passphrase-env', 'CLI_BACKUP_PASS']);
    privateKeys.push(await keyInBackup(backup));
    expect(
      await ok([
        'import-backup',
        '--config',
        await fileConfig('cli-file-restored'),
        '--in',
        backup,
        '--passphrase-env',
        'CLI_BACKUP_PASS',
      ]),
    ).toMatchObject({ xOnly: generated.xOnly });

    const k = testKey('cli-imported-file');
    privateKeys.push(k.privateKey);
    const wif = encodeWif(k.privateKey, 'test');
    expect(await ok(['import-key', '--config', await fileConfig('cli-file-import')], wif)).toMatchObject({
      xOnly: toHex(k.xOnly),
    });
  });

  it('bitcoind-wallet: generate-key, import-key, show-key, import-backup; export-backup is refused', async () => {
    await node.rpc.createwallet('cli-wallet');
    const generated = await ok(['generate-key', '--config', await walletConfig('cli-wallet')]);
    const withKey = await walletConfig('cli-wallet', generated.xOnly as string);
    expect((await ok(['show-key', '--config', withKey])).xOnly).toBe(generated.xOnly);
    const refused = await cli([
      'export-backup',
      '--config',
      withKey,
      '--out',
      join(hsm.dir, 'w.json'),
      '--passphrase-env',
      'CLI_BACKUP_PASS',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error HSM_CEREMONY_UNSUPPORTED: /);

    await node.rpc.createwallet('cli-wallet-import', { blank: true });
    const k = testKey('cli-imported-wallet');
    privateKeys.push(k.privateKey);
    expect(
      await ok(
        ['import-key', '--config', await walletConfig('cli-wallet-import')],
        encodeWif(k.privateKey, 'mainnet'),
      ),
    ).toMatchObject({
      xOnly: toHex(k.xOnly),
    });

    await node.rpc.createwallet('cli-wallet-restore', { blank: true });
    const backup = join(hsm.dir, 'cli-file-backup.json');
    const restored = await ok([
      'import-backup',
      '--config',
      await walletConfig('cli-wallet-restore'),
      '--in',
      backup,
      '--passphrase-env',
      'CLI_BACKUP_PASS',
    ]);
    expect(restored.xOnly).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a malformed private key on stdin (exit 1, HSM_PRIVATE_KEY_INVALID) without echoing it', async () => {
    const almost = `${toHex(testKey('typo').privateKey).slice(0, 63)}x`;
    const r = await cli(['import-key', '--config', await fileConfig('cli-typo')], almost);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error HSM_PRIVATE_KEY_INVALID: /);
    expect(r.stderr).not.toContain(almost.slice(0, 16));
  });

  it('no command printed or logged a private key (hex or WIF), an xprv/tprv, a PIN or a passphrase', () => {
    expect(privateKeys.length).toBeGreaterThanOrEqual(5);
    const all = transcript.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const key of privateKeys) {
      for (const form of [
        toHex(key),
        toHex(key).toUpperCase(),
        encodeWif(key, 'mainnet'),
        encodeWif(key, 'test'),
      ]) {
        expect(all).not.toContain(form);
      }
    }
    expect(all).not.toMatch(/[xt]prv[1-9A-HJ-NP-Za-km-z]{20}/);
    for (const secret of [PIN, SO_PIN, BACKUP_PASS, FILE_PASS]) expect(all).not.toContain(secret);
  });
});
