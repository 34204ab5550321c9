/**
 * `npm run bench:api`: with one million delegations in PostgreSQL, requests per second and p50/p99
 * latency of /v1/stats and /v1/staker/delegations (a random staker of 100,000 per request), the
 * API running in this process, load from autocannon in a separate process on loopback; beside them,
 * in the same run, /healthz (no I/O: the framework's own bound on this machine) and the ratios.
 *
 * Environment: BENCH_API_DELEGATIONS (1000000), BENCH_API_STAKERS (100000), BENCH_API_DURATION_S
 * (10), BENCH_API_CONNECTIONS (32), BENCH_API_KEEP_DB=1 to keep the database (its URL is printed),
 * BENCH_API_DB_URL to reuse a database a previous run kept.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isXOnlyPublicKey, toHex } from '../../common/index.ts';
import { createScratchDatabase, Database, migrate, type ScratchDatabase } from '../../db/index.ts';
import { printResult } from '../../test/bench/measure.ts';
import { removeTestTempDirs } from '../../test/infra/tempDirs.ts';
import { startApi } from '../app.ts';
import { testApiConfig } from '../testkit.ts';

const N = Number(process.env.BENCH_API_DELEGATIONS ?? 1_000_000);
const STAKERS = Number(process.env.BENCH_API_STAKERS ?? 100_000);
const DURATION_S = Number(process.env.BENCH_API_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 16);
const POOL = Number(process.env.BENCH_API_POOL ?? 8);
const STATS_CACHE_MS = 1000;

interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

function stakerKeys(n: number): string[] {
  const out: string[] = [];
  while (out.length < n) {
    const k = randomBytes(32);
    if (isXOnlyPublicKey(k)) out.push(toHex(k));
  }
  return out;
}

/** One million delegations in seconds: generate_series on the server, stakers from an array. */
async function fill(db: Database, stakers: string[]): Promise<void> {
  const t0 = performance.now();
  const c = await db.pool.connect();
  try {
    await c.query('SET synchronous_commit = off');
    await c.query("SET maintenance_work_mem = '256MB'");
    await c.query('CREATE TEMP TABLE bench_stakers (idx int PRIMARY KEY, pk text NOT NULL)');
    await c.query(
      'INSERT INTO bench_stakers SELECT i - 1, pk FROM unnest($1::text[]) WITH ORDINALITY AS t(pk, i)',
      [stakers],
    );
    // Indexes are rebuilt once after the load: far faster than maintaining them row by row.
    await c.query('DROP INDEX delegations_staker_page, delegations_staker_state_page');
    await c.query(
      `INSERT INTO delegations (staking_tx_hash_hex, staker_pk_hex, finality_provider_pk_hex, staking_value, state, is_overflow,
         staking_tx_hex, staking_output_index, staking_start_height, staking_start_timestamp, staking_timelock)
       SELECT md5('h' || g) || md5('i' || g), s.pk, md5('f' || (g % 50)) || md5('g' || (g % 50)),
         100000 + (g % 1000) * 1000,
         (ARRAY['active','active','active','active','active','active','unbonding_requested','unbonding','unbonded','withdrawn'])[1 + g % 10],
         g % 97 = 0,
         $2, 0, 800000 + (g / 37), 1710000000 + g * 6, 64000
       FROM generate_series(0, $1 - 1) AS g JOIN bench_stakers s ON s.idx = g % $3`,
      [N, `02000000000101${'ab'.repeat(210)}`, stakers.length],
    );
    await c.query(
      'CREATE INDEX delegations_staker_page ON delegations (staker_pk_hex, staking_start_height DESC, staking_tx_hash_hex)',
    );
    await c.query(
      'CREATE INDEX delegations_staker_state_page ON delegations (staker_pk_hex, state, staking_start_height DESC, staking_tx_hash_hex)',
    );
    // Statistics as the events would have left them (non-overflow only; unbonding and later left active).
    const counted = `FROM delegations WHERE NOT is_overflow`;
    const active = `CASE WHEN state IN ('active', 'unbonding_requested') THEN 1 ELSE 0 END`;
    await c.query(
      `INSERT INTO staker_stats SELECT staker_pk_hex, sum(staking_value * ${active}), sum(staking_value), sum(${active}), count(*) ${counted} GROUP BY staker_pk_hex`,
    );
    await c.query(
      `INSERT INTO finality_provider_stats SELECT finality_provider_pk_hex, sum(staking_value * ${active}), sum(staking_value), sum(${active}), count(*) ${counted} GROUP BY finality_provider_pk_hex`,
    );
    await c.query(
      `UPDATE overall_stats o SET active_tvl = x.a, total_tvl = x.t, active_delegations = x.ad, total_delegations = x.td, total_stakers = x.ts
       FROM (SELECT sum(active_tvl) a, sum(total_tvl) t, sum(active_delegations) ad, sum(total_delegations) td, count(*) ts FROM staker_stats) x
       WHERE o.shard = 0`,
    );
    await c.query('VACUUM ANALYZE delegations');
    await c.query('VACUUM ANALYZE staker_stats');
  } finally {
    c.release();
  }
  console.log(
    `  loaded ${N.toLocaleString('en-US')} delegations of ${stakers.length.toLocaleString('en-US')} stakers in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

function load(url: string, path: string, stakersFile?: string): Promise<LoadResult> {
  const script = fileURLToPath(new URL('./loadgen.ts', import.meta.url));
  const args = JSON.stringify({ url, path, connections: CONNECTIONS, durationS: DURATION_S, stakersFile });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

function row(label: string, r: LoadResult, bound?: LoadResult): string {
  const ratio = bound ? `${(r.rps / bound.rps).toFixed(2)} of the bound` : 'the bound';
  const bad = r.non2xx + r.errors + r.timeouts;
  return `  ${label.padEnd(44)} ${Math.round(r.rps).toLocaleString('en-US').padStart(8)} req/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   (${ratio}${bad ? `; ${bad} failed` : ''})`;
}

async function main(): Promise<void> {
  let scratch: ScratchDatabase | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-api-'));
  let url = process.env.BENCH_API_DB_URL;
  const stakersFile = join(dir, 'stakers.json');
  try {
    if (!url) {
      scratch = await createScratchDatabase('api_bench');
      url = scratch.url;
      console.log(`setting up: scratch database ${scratch.name}, ${N.toLocaleString('en-US')} delegations…`);
      const db = Database.open({ url, statementTimeoutMs: 600_000 });
      try {
        await migrate(db);
        await fill(db, stakerKeys(STAKERS));
      } finally {
        await db.close();
      }
    }
    const db = Database.open({ url });
    const { rows } = await db.query('SELECT DISTINCT staker_pk_hex FROM staker_stats LIMIT 20000');
    const { rows: count } = await db.query('SELECT count(*)::int AS n FROM delegations');
    await db.close();
    writeFileSync(stakersFile, JSON.stringify(rows.map((r) => r.staker_pk_hex)));

    const api = await startApi(
      testApiConfig({ dbUrl: url, statsCacheMs: STATS_CACHE_MS, poolSize: POOL }),
      {},
    );
    try {
      console.log(
        `API on ${api.url} (pool ${POOL}, /v1/stats cached ${STATS_CACHE_MS} ms); ${Number(count[0]?.n).toLocaleString('en-US')} delegations; autocannon in a child process, ${CONNECTIONS} connections, ${DURATION_S} s per route`,
      );
      // Warm-up: JIT, pool connections, prepared statements, page cache.
      await load(api.url, '/healthz');
      await load(api.url, '/v1/staker/delegations?staker_btc_pk=', stakersFile);
      const bound = await load(api.url, '/healthz');
      const stats = await load(api.url, '/v1/stats');
      const dels = await load(api.url, '/v1/staker/delegations?staker_btc_pk=', stakersFile);
      console.log('\nresults (same run)');
      console.log(row('GET /healthz (no I/O: the framework bound)', bound));
      console.log(row('GET /v1/stats', stats, bound));
      console.log(row('GET /v1/staker/delegations (random staker)', dels, bound));
      const targets = [
        ['/v1/stats ≥ 10,000 req/s', stats.rps >= 10_000],
        ['/v1/staker/delegations ≥ 2,000 req/s', dels.rps >= 2_000],
        ['p99 < 20 ms on both', stats.p99 < 20 && dels.p99 < 20],
      ] as const;
      console.log('\ntargets');
      for (const [what, ok] of targets) console.log(`  ${ok ? 'met    ' : 'MISSED '} ${what}`);
      printResult({
        stats_rps: Math.round(stats.rps),
        delegations_rps: Math.round(dels.rps),
        stats_p99_ms: stats.p99,
        delegations_p99_ms: dels.p99,
        framework_bound_rps: Math.round(bound.rps),
      });
    } finally {
      await api.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    removeTestTempDirs();
    if (scratch && process.env.BENCH_API_KEEP_DB !== '1') await scratch.drop();
    else if (scratch) console.log(`kept database: BENCH_API_DB_URL=${scratch.url}`);
  }
}

await main();
