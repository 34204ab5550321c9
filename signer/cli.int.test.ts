import { execFile, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fundedWallet, type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { generateKey, openCustody, parseCustodyConfig } from '../hsm/index.ts';
import { makeTestPki, type TestPki } from '../test/infra/pki.ts';
import { writeSignerToml } from '../test/infra/signerToml.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { AuditLog } from './audit.ts';

/**
 * The signer as an operator runs it: a separate process started by its CLI with a TOML file. Shows
 * the self-test failing closed, SIGHUP reloads (applied and refused), graceful SIGTERM, and the
 * verify-audit command.
 */
const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'signer/main.ts'];
let node: RegtestNode;
let dir: string;
let pki: TestPki;
let paramsFile: string;
let keyHex: string;
const others = [testKey('cli-cov-1'), testKey('cli-cov-2')];

const version = (v: number, activation: number, over: Record<string, unknown> = {}) =>
  testParamsDoc([{ compressedHex: `02${keyHex}` }, ...others], {
    version: v,
    activation_height: activation,
    staking_cap: 100_000_000_000,
    max_staking_amount: 10_000_000_000,
    ...over,
  }).versions[0]!;

async function writeConfig(
  name: string,
  over: { network?: string; paramsFile?: string; keyFile?: string } = {},
): Promise<{ file: string; metricsPort: number; audit: string }> {
  const audit = join(dir, `${name}-audit.jsonl`);
  const file = join(dir, `${name}.toml`);
  const { metricsPort } = await writeSignerToml({
    file,
    pki,
    client: 'pipeline',
    node,
    paramsFile: over.paramsFile ?? paramsFile,
    audit,
    ...(over.network ? { network: over.network } : {}),
    custody: [
      'backend = "file"',
      '[custody.file]',
      `path = "${over.keyFile ?? join(dir, 'covenant.key')}"`,
      'passphrase_env = "CLI_TEST_PASSPHRASE"',
      'allow_insecure_file_backend = true',
    ],
  });
  return { file, metricsPort, audit };
}

const env = { ...process.env, CLI_TEST_PASSPHRASE: 'correct horse battery staple' };

/** Runs the CLI and returns its exit code and output, whatever the code. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [...CLI, ...args], { env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

/** The signer's /metrics, or '' while it cannot answer (starting, reloading, a connection reset). */
async function metricsText(port: number): Promise<string> {
  return fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
}

async function readyz(port: number): Promise<{ checks: { params: { versions: number[] } } } | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
  return r?.ok ? ((await r.json()) as { checks: { params: { versions: number[] } } }) : undefined;
}

async function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-cli-'));
  node = await startRegtestNode();
  pki = makeTestPki(join(dir, 'pki'), ['pipeline']);
  process.env.CLI_TEST_PASSPHRASE = env.CLI_TEST_PASSPHRASE;
  const cfg = parseCustodyConfig({
    backend: 'file',
    file: {
      path: join(dir, 'covenant.key'),
      passphrase_env: 'CLI_TEST_PASSPHRASE',
      allow_insecure_file_backend: true,
    },
  });
  keyHex = (await generateKey(cfg, { logger: pino({ level: 'fatal' }) })).xOnly;
  paramsFile = join(dir, 'global-params.json');
  writeFileSync(paramsFile, JSON.stringify({ versions: [version(0, 1)] }));
});

afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('signer CLI', () => {
  it('prints its help', async () => {
    const { stdout } = await run(process.execPath, [...CLI, '--help'], { env });
    expect(stdout).toMatch(/verify-audit/);
    expect(stdout).toMatch(/SIGHUP reloads the params file/);
  });

  it('fails closed when bitcoind is on another network than configured', async () => {
    const { file } = await writeConfig('wrongnet', { network: 'mainnet' });
    const err = await run(process.execPath, [...CLI, 'start', '--config', file], { env }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(
      /SIGNER_SELF_TEST_FAILED: .*bitcoind is on chain "regtest", config says mainnet/,
    );
  });

  it('reloads params on SIGHUP when versions are appended, refuses a change, and stops gracefully on SIGTERM', async () => {
    const { file, metricsPort, audit } = await writeConfig('main');
    const child = spawn(process.execPath, [...CLI, 'start', '--config', file], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      expect((await until(() => readyz(metricsPort), 'readiness')).checks.params.versions).toEqual([0]);

      writeFileSync(paramsFile, JSON.stringify({ versions: [version(0, 1), version(1, 500)] }));
      child.kill('SIGHUP');
      await until(
        async () => ((await readyz(metricsPort))?.checks.params.versions.length === 2 ? true : undefined),
        'reload',
      );

      writeFileSync(
        paramsFile,
        JSON.stringify({ versions: [version(0, 1, { unbonding_fee: 2_000 }), version(1, 500)] }),
      );
      child.kill('SIGHUP');
      const metrics = await until(async () => {
        const t = await metricsText(metricsPort);
        return /signer_params_reloads_total\{result="refused"[^}]*\} 1/.test(t) ? t : undefined;
      }, 'refused reload');
      expect(metrics).toMatch(/signer_params_reloads_total\{result="applied"[^}]*\} 1/);
      expect((await readyz(metricsPort))?.checks.params.versions).toEqual([0, 1]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const events = readFileSync(audit, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).event);
    expect(events).toEqual(['start', 'params_loaded', 'params_reload_refused', 'stop']);
    expect(stderr).not.toMatch(/correct horse/);

    const { stdout } = await run(process.execPath, [...CLI, 'verify-audit', '--config', file, audit], {
      env,
    });
    expect(stdout).toMatch(/audit log intact: 4 records/);
    const lines = readFileSync(audit, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"params_loaded"', '"params_loadeD"');
    writeFileSync(audit, lines.join('\n'));
    const broken = await run(process.execPath, [...CLI, 'verify-audit', '--config', file, audit], {
      env,
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(broken?.code).toBe(1);
    expect(broken?.stderr).toMatch(/BROKEN at line 2/);
  });

  it('a SIGHUP during start-up neither ends the signer nor is lost: the reload runs once it is up', async () => {
    // Node ends a process on SIGHUP unless a handler is installed. The services installed theirs
    // only once started, so a reload asked for while one was starting killed it (seen as a flaky
    // "timed out waiting for reload" here, when a loaded machine widened that window).
    const hupParams = join(dir, 'early-hup-params.json');
    writeFileSync(hupParams, JSON.stringify({ versions: [version(0, 1)] }));
    // One custody, one audit log: the same covenant key in a file of its own, so its anchor is too.
    const keyFile = join(dir, 'early-hup.key');
    copyFileSync(join(dir, 'covenant.key'), keyFile);
    chmodSync(keyFile, 0o600);
    const { file, metricsPort } = await writeConfig('early-hup', { paramsFile: hupParams, keyFile });
    const child = spawn(process.execPath, [...CLI, 'start', '--config', file], {
      env: { ...env, SIGNER__LOG__LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    try {
      // Mid start-up: the audit log is verified, the listeners are not yet up.
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('audit log verified against custody')) resolve();
        });
        child.on('exit', () => reject(new Error(`the signer exited while starting:\n${out}`)));
      });
      child.kill('SIGHUP');
      await until(async () => {
        const t = await metricsText(metricsPort);
        return /signer_params_reloads_total\{result="applied"[^}]*\} 1/.test(t) ? true : undefined;
      }, 'the reload asked for during start-up');
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toEqual({ code: 0, signal: null });
  });

  it('refuses, on SIGHUP, a version appended at or below the tip plus the depth (issue 20 finding 1)', async () => {
    // The issue's repro: tip 180, version 1 appended activating at 166 with another unbonding fee.
    const { rpc: miner, address } = await fundedWallet(node, 'cli-growth');
    const tip = 180;
    await miner.generatetoaddress(tip - (await node.rpc.getblockcount()), address);
    const growthParams = join(dir, 'growth-params.json');
    writeFileSync(growthParams, JSON.stringify({ versions: [version(0, 1)] }));
    // One custody, one audit log: the same covenant key in a file of its own, so its anchor is too.
    const keyFile = join(dir, 'growth.key');
    copyFileSync(join(dir, 'covenant.key'), keyFile);
    chmodSync(keyFile, 0o600);
    const { file, metricsPort, audit } = await writeConfig('growth', { paramsFile: growthParams, keyFile });
    const child = spawn(process.execPath, [...CLI, 'start', '--config', file], {
      env,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await until(() => readyz(metricsPort), 'readiness');
      writeFileSync(
        growthParams,
        JSON.stringify({ versions: [version(0, 1), version(1, 166, { unbonding_fee: 2_000 })] }),
      );
      child.kill('SIGHUP');
      await until(async () => {
        const t = await metricsText(metricsPort);
        return /signer_params_reloads_total\{result="refused"[^}]*\} 1/.test(t) ? true : undefined;
      }, 'refused reload');
      expect((await readyz(metricsPort))?.checks.params.versions).toEqual([0]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const refused = readFileSync(audit, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r.event === 'params_reload_refused');
    expect(refused).toMatchObject({ code: 'PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY' });
    expect(refused?.reason).toBe(
      `${growthParams}: new params version 1 activates at height 166, at or below the tip 180 plus the confirmation depth 2 of version 0 (182); it would change the rules for stakes already on chain, so it must activate above 182`,
    );
  });

  it('verify-audit says what it could not verify without custody (3), fails on a missing log (4), and accept-audit-log re-anchors a restored copy, audited', async () => {
    // One custody, one audit log: the anchor lives beside the key, so this log gets its own key.
    const keyFile = join(dir, 'accept.key');
    const { file, audit } = await writeConfig('accept', { keyFile });
    const cfg = parseCustodyConfig({
      backend: 'file',
      file: { path: keyFile, passphrase_env: 'CLI_TEST_PASSPHRASE', allow_insecure_file_backend: true },
    });
    await generateKey(cfg, { logger: pino({ level: 'fatal' }) });
    const custody = await openCustody(cfg, { logger: pino({ level: 'fatal' }) });
    const backup = `${audit}.bak`;
    try {
      let log = await AuditLog.open(audit, custody.audit);
      await log.append({ event: 'start' });
      await log.close();
      writeFileSync(backup, readFileSync(audit));
      log = await AuditLog.open(audit, custody.audit);
      await log.append({
        event: 'decision',
        outcome: 'signed',
        staking_txid: 'aa'.repeat(32),
        signature: 'bb'.repeat(64),
      });
      await log.append({ event: 'stop' });
      await log.close();
    } finally {
      await custody.close();
    }

    const bare = await cli(['verify-audit', audit]);
    expect(bare.code).toBe(3);
    expect(bare.stdout).toMatch(/structure intact: 3 records/);
    expect(bare.stdout).toMatch(/NOT verified without custody: the MACs of 3 keyed records and the anchor/);
    expect(await cli(['verify-audit', '--config', file])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/audit log intact: 3 records/),
    });
    // Without its last batch, torn (a crash between the anchor write and the log's write): start-up
    // completes it from the anchor, and verify-audit says so without changing the file.
    const full = readFileSync(audit, 'utf8');
    const torn = full.slice(0, full.lastIndexOf('\n', full.length - 2) + 10);
    writeFileSync(audit, torn);
    expect(await cli(['verify-audit', '--config', file])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(
        /intact once completed from custody's anchor: it lacks records 3\.\.3 \(and ends in 9 bytes of a torn line\)/,
      ),
    });
    expect(readFileSync(audit, 'utf8')).toBe(torn);
    writeFileSync(audit, full);
    const missing = await cli(['verify-audit', join(dir, 'no-such-audit.jsonl')]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/NOT VERIFIED: cannot read the audit log/);

    writeFileSync(audit, readFileSync(backup));
    const rolledBack = await cli(['verify-audit', '--config', file]);
    expect(rolledBack.code).toBe(1);
    expect(rolledBack.stderr).toMatch(
      /SIGNER_AUDIT_ROLLBACK: .*ends at seq 1, but custody's anchor is at seq 3/,
    );
    expect((await cli(['verify-audit', audit])).code).toBe(3);

    expect((await cli(['accept-audit-log', '--config', file])).code).toBe(2);
    const accepted = await cli([
      'accept-audit-log',
      '--config',
      file,
      '--reason',
      'restored from backup after disk loss',
    ]);
    expect(accepted.code).toBe(0);
    expect(JSON.parse(accepted.stdout)).toMatchObject({
      record_seq: 2,
      previous_anchor: { seq: 3 },
      accepted_head: { seq: 1 },
    });
    expect(await cli(['verify-audit', '--config', file])).toMatchObject({ code: 0 });
    const last = JSON.parse(readFileSync(audit, 'utf8').trimEnd().split('\n').at(-1)!);
    expect(last).toMatchObject({
      event: 'audit_log_accepted',
      reason: 'restored from backup after disk loss',
    });
  });
});
