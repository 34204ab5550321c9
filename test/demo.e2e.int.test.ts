import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { SCENARIO_TITLES } from '../demo/scenarios.ts';

/**
 * The README's main job, end to end: `demo/main.ts run` as a process, on the real system (Knots
 * regtest, three SoftHSM-backed signers over mutual TLS, indexer, API, pipeline, the machine's
 * PostgreSQL and RabbitMQ). It must play the seven scenarios, exit 0, and leave nothing behind.
 */
const run = promisify(execFile);
const DEMO = ['--import', 'tsx', 'demo/main.ts'];

function demo(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm run demo', () => {
  it('plays the seven reference scenarios on the whole system and cleans up after itself', async () => {
    const { code, out } = await demo(['run']);
    if (code !== 0) console.error(out);
    expect(code).toBe(0);
    for (const [i, title] of SCENARIO_TITLES.entries()) expect(out).toContain(`ok     ${i + 1}. ${title}`);
    expect(out).toContain('7 of 7 scenarios passed');
    expect(out).not.toMatch(/FAILED/);
    // The figures of the reference demo, checked through the API, appear as seen.
    expect(out).toContain('active_tvl 9 BTC, total_tvl 11 BTC, unconfirmed_tvl 14 BTC');
    expect(out).toContain('the pipeline collected 2 of 3 covenant signatures');
    // A report, not a log: a passed check states its claim once (no bracketed repeat of what it
    // saw), and the params are summarised, not dumped as one line of JSON.
    expect(out).toMatch(/^ {2}ok the 2 BTC stake is unbonding_requested$/m);
    expect(out).not.toMatch(/^ {2}ok .*\(\w+, is_overflow (true|false)\)$/m);
    expect(out).toMatch(/GET \/v1\/global-params, version 1: active from height 130, stakes of /);
    expect(out).not.toMatch(/GET \/v1\/global-params, version 1: \{/);

    // Everything it started is gone: the service processes, its database, its working directory.
    const stopped = /stopped (.+) and the regtest node; dropped database (\w+)/.exec(out);
    expect(stopped).not.toBeNull();
    const pids = [...stopped![1]!.matchAll(/ (\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(6);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    const dir = /removed the queues and (\S+)/.exec(out)?.[1];
    expect(dir).toMatch(/staking-demo-/);
    expect(existsSync(dir!)).toBe(false);
    const admin = new pg.Client({
      connectionString: process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    });
    await admin.connect();
    try {
      const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [stopped![2]]);
      expect(r.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  }, 300_000);

  it('says in one line why the system did not start, and leaves nothing behind', async () => {
    const { code, out } = await demo(['run', '--postgres-url', 'postgres://postgres@127.0.0.1:1/test']);
    expect(code).toBe(1);
    expect(out).toMatch(/demo: the system did not start: .*ECONNREFUSED 127\.0\.0\.1:1/);
    const dir = /working directory (\S+)/.exec(out)?.[1];
    expect(dir).toMatch(/staking-demo-/);
    expect(existsSync(dir!)).toBe(false);
    const signers = /starting covenant signer \d/.test(out);
    expect(signers).toBe(true);
    const left = await run('pgrep', ['-f', dir!]).then(
      (r) => r.stdout.trim(),
      () => '',
    );
    expect(left).toBe('');
  }, 120_000);

  it('explains itself with --help and refuses a bad option value', async () => {
    const help = await run(process.execPath, [...DEMO, '--help']);
    expect(help.stdout).toContain('--keep');
    for (const title of SCENARIO_TITLES) expect(help.stdout).toContain(title);
    const bad = await demo(['run', '--scenarios', '9']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--scenarios must be a whole number from 1 to 7');
  });
});
