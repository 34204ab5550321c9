import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, Database, type ScratchDatabase } from '../db/index.ts';
import { connectBroker, deleteTopology, openConsumerChannel, topologyNames } from '../events/index.ts';
import { freePort } from '../test/infra/ports.ts';
import { sharedBroker } from '../test/infra/rabbitmq.ts';
import { applyEvent } from './apply.ts';
import { loadApiConfig } from './config.ts';
import { btcInfoEvent, PARAMS_DOC } from './testkit.ts';

/** The CLI as an operator runs it: a real process, real PostgreSQL and RabbitMQ. */
const run = promisify(execFile);
const MAIN = new URL('./main.ts', import.meta.url).pathname;
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

let dir: string;
let scratch: ScratchDatabase;
let broker: { url: string; destroy(): Promise<void> };

function configFile(over: string): string {
  const file = join(dir, `api-${randomBytes(3).toString('hex')}.toml`);
  writeFileSync(
    file,
    `[params]\nfile = "${join(dir, 'params.json')}"\n[ops]\nenabled = false\n[log]\nlevel = "warn"\n${over}`,
  );
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'api-cli-'));
  writeFileSync(join(dir, 'params.json'), JSON.stringify(PARAMS_DOC));
  scratch = await createScratchDatabase('api_cli');
  broker = await sharedBroker();
});
afterAll(async () => {
  await scratch?.drop();
  await broker?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('api/main.ts', () => {
  it('prints its usage with --help', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/replay-dead-letters/);
  });

  it('prints a sample configuration that loads', async () => {
    const r = await cli(['sample-config']);
    const file = join(dir, 'sample.toml');
    writeFileSync(file, r.stdout);
    expect(loadApiConfig(file).rabbitmq.prefetch).toBe(1);
  });

  it('refuses to start, in one sentence, when the database does not exist (no password shown)', async () => {
    const file = configFile(
      '[database]\nurl = "postgres://postgres:hunter2@127.0.0.1:5432/no_such_database_here"\n',
    );
    const r = await cli(['start', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/staking-api: DB_UNREACHABLE: .*no_such_database_here.*does not exist/);
    expect(r.stderr).not.toContain('hunter2');
  });

  it('refuses an unknown option', async () => {
    const r = await cli(['start', '--config', configFile('[server]\nprot = 1\n')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CONFIG_INVALID: .*server\.prot is not a known option/);
  });

  it('starts, migrates, serves, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const file = configFile(
      `[server]\nport = ${port}\n[database]\nurl = "${scratch.url}"\n[rabbitmq]\nenabled = false\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'start', '--config', file], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let ok = false;
      for (let i = 0; i < 200 && !ok; i++) {
        ok = await fetch(`http://127.0.0.1:${port}/healthcheck`)
          .then((r) => r.ok)
          .catch(() => false);
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok).toBe(true);
      expect(await (await fetch(`http://127.0.0.1:${port}/v1/stats`)).json()).toMatchObject({
        data: { total_tvl: 0 },
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  // Issue 25 item 9: the signal is wired to the reload (api/app.ts reloadParams; its rules are
  // tested in test/reference/api.int.test.ts).
  it('reloads params on SIGHUP: refused (logged with its code) without a tip, applied with one', async () => {
    const port = await freePort();
    const paramsFile = join(dir, 'sighup-params.json');
    writeFileSync(paramsFile, JSON.stringify(PARAMS_DOC));
    const file = join(dir, 'sighup.toml');
    writeFileSync(
      file,
      `[params]\nfile = "${paramsFile}"\n[ops]\nenabled = false\n[log]\nlevel = "info"\n` +
        `[server]\nport = ${port}\n[database]\nurl = "${scratch.url}"\n[rabbitmq]\nenabled = false\n[dashboard]\nenabled = false\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'start', '--config', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const versions = async () =>
      (
        (await (await fetch(`http://127.0.0.1:${port}/v1/global-params`)).json()) as {
          data: { versions: unknown[] };
        }
      ).data.versions.length;
    const until = async (cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 200; i++) {
        if (await cond()) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    const db = Database.open({ url: scratch.url, poolSize: 1 });
    try {
      expect(await until(() => out.includes('staking API started'))).toBe(true);
      const appended = {
        versions: [
          ...PARAMS_DOC.versions,
          { ...PARAMS_DOC.versions[0], version: 1, activation_height: 5_000 },
        ],
      };
      writeFileSync(paramsFile, JSON.stringify(appended));
      child.kill('SIGHUP');
      expect(await until(() => out.includes('params reload refused'))).toBe(true);
      expect(out).toMatch(/"code":"API_PARAMS_RELOAD_REFUSED"/);
      expect(await versions()).toBe(1);
      await applyEvent(db, btcInfoEvent(1_000, 0, 0, 1));
      child.kill('SIGHUP');
      expect(await until(() => out.includes('params reloaded'))).toBe(true);
      expect(await versions()).toBe(2);
    } finally {
      await db.close();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('replays an empty dead-letter queue and says so', async () => {
    const prefix = `apicli-${randomBytes(4).toString('hex')}.`;
    const file = configFile(
      `[database]\nurl = "${scratch.url}"\n[rabbitmq]\nurl = "${broker.url}"\nprefix = "${prefix}"\nqueue_type = "classic"\n`,
    );
    const r = await cli(['replay-dead-letters', '--config', file]);
    expect(r.stdout).toMatch(/replayed 0 event\(s\)/);
    expect(r.code).toBe(0);
    const conn = await connectBroker({ url: broker.url });
    await deleteTopology(await openConsumerChannel(conn), topologyNames(prefix)).catch(() => undefined);
    await conn.close();
  });
});
