#!/usr/bin/env -S node --import tsx
/**
 * The restore drill: proves that the backups of a running system restore into a system that
 * resumes without losing or duplicating anything. It takes a backup with deploy/backup.sh (or uses
 * one given), restores the indexer's store into a fresh directory and the API's database into a
 * fresh database, rolls the restored indexer back a few blocks further (so that it re-emits events
 * the restored database already holds, with the same ids), starts the restored indexer and API on
 * their own ports and queue names, waits until they caught up, and compares the restored database
 * with the live one: delegations, applied event ids, statistics, unbonding requests.
 *
 *   node --import tsx deploy/restore-drill.ts --indexer-config indexer.toml --api-config api.toml
 *        [--backup DIR] [--replay-blocks 10] [--timeout-ms 120000] [--keep]
 *        [--signer-config signer.toml --pipeline-config pipeline.toml]
 *
 * With a signer's config (pkcs11) and the pipeline's (whose client certificate the signer lists),
 * step 7 also restores that signer into a fresh SoftHSM token: deploy/signer-restore-drill.ts.
 *
 * Prints one JSON report; exit 0 when the restored system equals the live one, 1 when it does not,
 * 2 on a usage error. It stops what it started by pid and drops what it created. The live system
 * is only read (its configs, a backup, SELECTs); run it while the chain does not move much, or
 * expect the live side to be ahead (reported, not hidden).
 *
 * Run it from the repository root. Every service is started from its own main.ts with its own
 * config file plus environment overrides, as an operator would.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { connect } from 'amqplib';
import pg from 'pg';
import { parse as parseToml } from 'smol-toml';
import { type DrillService, type SignerDrillReport, signerRestoreDrill } from './signer-restore-drill.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Report {
  ok: boolean;
  backup: string;
  restored: {
    store: string;
    database: string;
    queuePrefix: string;
    storeHeight: number | null;
    databaseBtcInfoHeight: number | null;
  };
  rebuiltFromHeight: number;
  eventsRepublished: number;
  eventsAppliedByOutcome: Record<string, number>;
  live: Counts;
  afterRestore: Counts;
  differences: string[];
  signer: SignerDrillReport | string;
}

interface Counts {
  delegations: number;
  delegationsByState: Record<string, number>;
  appliedEventIds: number;
  unbondingRequests: number;
  totalTvl: number;
  activeTvl: number;
  btcInfoHeight: number | null;
}

function table(file: string): Record<string, Record<string, unknown>> {
  return parseToml(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** A service started as its operator would, output to a log file; stopped by its pid. */
class Service {
  readonly #child: ChildProcess;
  readonly #gone: Promise<void>;
  exited = false;
  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
    readonly logFile: string,
  ) {
    const fd = openSync(logFile, 'a');
    try {
      this.#child = spawn(process.execPath, ['--import', 'tsx', ...args], {
        cwd: REPO,
        env: { ...process.env, ...env },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.#gone = new Promise((r) =>
      this.#child.once('exit', () => {
        this.exited = true;
        r();
      }),
    );
  }
  get pid(): number {
    return this.#child.pid ?? -1;
  }
  async stop(): Promise<void> {
    if (this.exited) return;
    this.#child.kill('SIGTERM');
    const t = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
    await this.#gone;
    clearTimeout(t);
  }
}

async function waitReady(s: Service, opsUrl: string, deadline: number): Promise<void> {
  for (;;) {
    if (s.exited) throw new Error(`${s.name} exited during start-up; see ${s.logFile}`);
    const r = await fetch(`${opsUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${s.name} was not ready in time; see ${s.logFile}`);
    await delay(200);
  }
}

/** Sums a series over its label sets, optionally grouped by one label. */
async function scrape(opsUrl: string): Promise<Array<{ name: string; labels: string; value: number }>> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const out: Array<{ name: string; labels: string; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out.push({ name: m[1]!, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}
const sum = (s: Awaited<ReturnType<typeof scrape>>, name: string) =>
  s.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);

async function counts(url: string): Promise<Counts> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (sql: string) => (await c.query(sql)).rows;
    const byState = Object.fromEntries(
      (await q('SELECT state, count(*)::int AS n FROM delegations GROUP BY state ORDER BY state')).map(
        (r) => [r.state, r.n],
      ),
    );
    const [d] = await q('SELECT count(*)::int AS n FROM delegations');
    // btc-info is a snapshot replaced by height, not a state change: counted apart.
    const [e] = await q(
      "SELECT count(*)::int AS n FROM processed_events WHERE event_id NOT LIKE 'btc-info:%'",
    );
    const [u] = await q('SELECT count(*)::int AS n FROM unbonding_requests');
    const [s] = await q(
      'SELECT coalesce(sum(total_tvl), 0)::bigint AS total, coalesce(sum(active_tvl), 0)::bigint AS active FROM overall_stats',
    );
    const [b] = await q('SELECT height FROM btc_info WHERE id = 1');
    return {
      delegations: d.n,
      delegationsByState: byState,
      appliedEventIds: e.n,
      unbondingRequests: u.n,
      totalTvl: Number(s.total),
      activeTvl: Number(s.active),
      btcInfoHeight: b ? Number(b.height) : null,
    };
  } finally {
    await c.end();
  }
}

/** Rows that differ between the two databases (by key), at most a few of each kind. */
async function differences(liveUrl: string, restoredUrl: string): Promise<string[]> {
  const rows = async (url: string, sql: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return new Set((await c.query(sql)).rows.map((r) => JSON.stringify(r)));
    } finally {
      await c.end();
    }
  };
  const out: string[] = [];
  for (const [what, sql] of [
    [
      'delegation',
      'SELECT staking_tx_hash_hex, state, is_overflow, staking_value::text FROM delegations ORDER BY 1',
    ],
    [
      'applied event',
      "SELECT event_id FROM processed_events WHERE event_id NOT LIKE 'btc-info:%' ORDER BY 1",
    ],
    ['unbonding request', 'SELECT staking_tx_hash_hex, state FROM unbonding_requests ORDER BY 1'],
  ] as const) {
    const [a, b] = await Promise.all([rows(liveUrl, sql), rows(restoredUrl, sql)]);
    for (const r of a) if (!b.has(r) && out.length < 20) out.push(`${what} missing after restore: ${r}`);
    for (const r of b) if (!a.has(r) && out.length < 20) out.push(`${what} only after restore: ${r}`);
  }
  return out;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'indexer-config': { type: 'string' },
      'api-config': { type: 'string' },
      backup: { type: 'string' },
      'replay-blocks': { type: 'string', default: '10' },
      'timeout-ms': { type: 'string', default: '120000' },
      'signer-config': { type: 'string' },
      'pipeline-config': { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const indexerConfig = values['indexer-config'] && resolve(values['indexer-config']);
  const apiConfig = values['api-config'] && resolve(values['api-config']);
  const signerConfig = values['signer-config'] && resolve(values['signer-config']);
  const pipelineConfig = values['pipeline-config'] && resolve(values['pipeline-config']);
  const replayBlocks = Number(values['replay-blocks']);
  const timeoutMs = Number(values['timeout-ms']);
  if (
    !indexerConfig ||
    !apiConfig ||
    !Number.isSafeInteger(replayBlocks) ||
    replayBlocks < 0 ||
    Boolean(signerConfig) !== Boolean(pipelineConfig)
  ) {
    console.error(
      'usage: restore-drill.ts --indexer-config <indexer.toml> --api-config <api.toml> [--backup DIR] [--signer-config <signer.toml> --pipeline-config <pipeline.toml>]',
    );
    return 2;
  }
  const ix = table(indexerConfig);
  const api = table(apiConfig);
  const liveDbUrl = String(api.database?.url ?? 'postgres://postgres@127.0.0.1:5432/staking_api');
  const brokerUrl = String(ix.rabbitmq!.url);
  const params = JSON.parse(readFileSync(String(ix.params!.file), 'utf8')) as {
    versions: Array<{ activation_height: number; confirmation_depth: number }>;
  };
  const depth = params.versions[0]!.confirmation_depth;
  const startHeight = params.versions[0]!.activation_height;

  const work = mkdtempSync(join(tmpdir(), 'restore-drill-'));
  const services: Service[] = [];
  const prefix = `drill${randomBytes(4).toString('hex')}.`;
  const dbName = `restore_drill_${randomBytes(6).toString('hex')}`;
  const adminUrl = new URL(liveDbUrl);
  adminUrl.pathname = '/postgres';
  const restoredUrl = new URL(liveDbUrl);
  restoredUrl.pathname = `/${dbName}`;
  let createdDb = false;
  const cleanup = async () => {
    for (const s of [...services].reverse()) await s.stop().catch(() => undefined);
    if (createdDb) {
      const c = new pg.Client({ connectionString: adminUrl.toString() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).finally(() => c.end());
    }
    const conn = await connect(brokerUrl).catch(() => undefined);
    if (conn) {
      const ch = await conn.createChannel();
      for (const q of ['staking_events', 'staking_events.dead'])
        await ch.deleteQueue(`${prefix}${q}`).catch(() => undefined);
      for (const x of ['staking_events', 'staking_events.dlx'])
        await ch.deleteExchange(`${prefix}${x}`).catch(() => undefined);
      await conn.close().catch(() => undefined);
    }
    rmSync(work, { recursive: true, force: true });
  };

  try {
    // 1. The backup: the one given, or a fresh one of the live system (indexer first, then the database).
    const backup = values.backup ? resolve(values.backup) : join(work, 'backup');
    if (!values.backup) {
      await run('bash', [join(REPO, 'deploy', 'backup.sh'), 'all', indexerConfig, liveDbUrl, backup], {
        cwd: REPO,
        timeout: 300_000,
      });
    }

    // 2. Restore each into a fresh place.
    const store = join(work, 'indexer-store');
    cpSync(join(backup, 'indexer-store'), store, { recursive: true });
    const admin = new pg.Client({ connectionString: adminUrl.toString() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`).finally(() => admin.end());
    createdDb = true;
    await run('pg_restore', [
      '--no-owner',
      '--no-privileges',
      '--exit-on-error',
      '--dbname',
      restoredUrl.toString(),
      join(backup, 'api.pgdump'),
    ]);

    // 3. Where each copy stands; roll the store back so that it re-emits what the database already
    //    has (the drill's proof of idempotence), and never above what the database may lack: a
    //    btc-info at L means every event of the blocks up to L − depth + 1 was applied before it.
    const manifest = JSON.parse(readFileSync(join(backup, 'manifest.json'), 'utf8')) as {
      indexer: { lastHeight?: number };
    };
    const storeHeight = manifest.indexer.lastHeight ?? null;
    const before = await counts(restoredUrl.toString());
    const dbHeight = before.btcInfoHeight;
    const safe = Math.min(
      storeHeight === null ? startHeight : storeHeight + 1,
      dbHeight === null ? startHeight : dbHeight - depth + 2,
    );
    const from = Math.max(startHeight, safe - replayBlocks);
    const ixEnv = {
      INDEXER__STORE__PATH: store,
      INDEXER__RABBITMQ__PREFIX: prefix,
      INDEXER__OPS__PORT: String(await freePort()),
    };
    if (storeHeight !== null) {
      await run(
        process.execPath,
        [
          '--import',
          'tsx',
          'indexer/main.ts',
          'rebuild',
          '--config',
          indexerConfig,
          '--from-height',
          String(from),
        ],
        {
          cwd: REPO,
          env: { ...process.env, ...ixEnv },
        },
      );
    }

    // 4. The restored API first (it declares the queue, so nothing the indexer publishes waits
    //    unrouted), then the restored indexer.
    const deadline = Date.now() + timeoutMs;
    const apiOps = `http://127.0.0.1:${await freePort()}`;
    const apiSvc = new Service(
      'restored api',
      ['api/main.ts', 'start', '--config', apiConfig],
      {
        API__DATABASE__URL: restoredUrl.toString(),
        API__RABBITMQ__PREFIX: prefix,
        API__SERVER__PORT: String(await freePort()),
        API__OPS__PORT: new URL(apiOps).port,
        API__DASHBOARD__ENABLED: 'false',
      },
      join(work, 'api.log'),
    );
    services.push(apiSvc);
    await waitReady(apiSvc, apiOps, deadline);
    const ixOps = `http://127.0.0.1:${ixEnv.INDEXER__OPS__PORT}`;
    const ixSvc = new Service(
      'restored indexer',
      ['indexer/main.ts', 'start', '--config', indexerConfig],
      ixEnv,
      join(work, 'indexer.log'),
    );
    services.push(ixSvc);
    await waitReady(ixSvc, ixOps, deadline);

    // 5. Caught up: the indexer follows its node with an empty outbox, and the API has handled every
    //    event it published (applied or absorbed as a duplicate).
    let published = 0;
    let handled: Record<string, number> = {};
    for (;;) {
      const [i, a] = await Promise.all([scrape(ixOps), scrape(apiOps)]);
      published = sum(i, 'indexer_events_published_total');
      handled = {};
      for (const x of a.filter((x) => x.name === 'api_events_total')) {
        const outcome = /outcome="([^"]+)"/.exec(x.labels)?.[1] ?? '?';
        handled[outcome] = (handled[outcome] ?? 0) + x.value;
      }
      const total = Object.values(handled).reduce((p, n) => p + n, 0) + sum(a, 'api_dead_letters_total');
      const ready = (await fetch(`${ixOps}/readyz`)).status === 200;
      if (ready && sum(i, 'indexer_outbox_depth') === 0 && published > 0 && total >= published) break;
      if (Date.now() > deadline)
        throw new Error(`the restored system did not catch up: published ${published}, handled ${total}`);
      await delay(250);
    }

    // 6. Compare with the live system.
    const [live, after] = await Promise.all([counts(liveDbUrl), counts(restoredUrl.toString())]);
    const diff = await differences(liveDbUrl, restoredUrl.toString());

    // 7. A covenant signer: its key backup into a fresh token, its log copy accepted there
    //    (deploy/signer-restore-drill.ts says why that is the procedure), anti-replay and rollback.
    const signer =
      signerConfig && pipelineConfig
        ? await signerRestoreDrill({
            repo: REPO,
            signerConfig,
            pipelineConfig,
            work,
            deadline: Date.now() + timeoutMs,
            started: services as DrillService[],
            services: {
              start: (name, args, env, logFile) => new Service(name, args, env, logFile),
              freePort,
              scrape,
            },
          })
        : 'not run: give --signer-config and --pipeline-config to restore a signer (README, "Backups and restore")';
    const report: Report = {
      ok:
        diff.length === 0 &&
        JSON.stringify({ ...live, btcInfoHeight: 0 }) === JSON.stringify({ ...after, btcInfoHeight: 0 }) &&
        (typeof signer === 'string' || signer.ok),
      backup,
      restored: {
        store,
        database: dbName,
        queuePrefix: prefix,
        storeHeight,
        databaseBtcInfoHeight: dbHeight,
      },
      rebuiltFromHeight: from,
      eventsRepublished: published,
      eventsAppliedByOutcome: handled,
      live,
      afterRestore: after,
      differences: diff,
      signer,
    };
    console.log(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  } finally {
    if (!values.keep) await cleanup();
    else console.error(`kept ${work}, database ${dbName}, queue prefix ${prefix}; services stopped`);
    if (values.keep) for (const s of [...services].reverse()) await s.stop().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`restore drill failed: ${(e as Error).message}`);
    process.exit(1);
  },
);
