import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseXOnlyKey } from '../common/index.ts';
import { readMetrics, sumOf } from '../demo/observe.ts';
import { type ServiceProcess, startService } from '../demo/processes.ts';
import { type DemoStake, WalletStaker } from '../demo/staker.ts';
import { type DemoSystem, startDemoSystem } from '../demo/system.ts';
import type { SignerDrillReport } from '../deploy/signer-restore-drill.ts';
import { MtlsClient } from './infra/mtlsClient.ts';
import { freePort } from './infra/ports.ts';

/**
 * Operations on the real system (the demo's: Knots regtest, three SoftHSM-backed signers over
 * mutual TLS, indexer, API, pipeline, as processes from their own main.ts; the machine's
 * PostgreSQL and RabbitMQ under names of this run): every metric the alerts and dashboards use is
 * exported; the lag shows in readiness; the restore drill restores the backups into a system
 * that equals the live one; two API and two pipeline replicas share the queue and the database
 * with one active consumer, fail over, and sign and broadcast every request once.
 */
const REPO = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

// One params version with room for every stake (no overflow), depth 2, as the demo's.
const VERSION = {
  version: 0,
  activation_height: 115,
  staking_cap: 100_000_000_000,
  tag: '62627434',
  covenant_quorum: 2,
  unbonding_time: 3,
  unbonding_fee: 500,
  max_staking_amount: 10_000_000_000,
  min_staking_amount: 10_000_000,
  max_staking_time: 1000,
  min_staking_time: 10,
  confirmation_depth: 2,
};

let sys: DemoSystem;
let staker: WalletStaker;
let db: pg.Pool;
const stakes: DemoStake[] = [];
const extra: ServiceProcess[] = [];

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await delay(200);
  }
}

async function stakeSome(n: number): Promise<DemoStake[]> {
  const made: DemoStake[] = [];
  for (let i = 0; i < n; i++) {
    made.push(
      await staker.stake(20_000_000n + BigInt(stakes.length + i) * 1_000_000n, 200, sys.params.versions[0]!),
    );
  }
  stakes.push(...made);
  return made;
}

const q = async <T = Record<string, unknown>>(sql: string, args: unknown[] = []) =>
  (await db.query(sql, args)).rows as T[];

beforeAll(async () => {
  sys = await startDemoSystem({ params: { versions: [VERSION] } });
  db = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:5432/${sys.database}`, max: 2 });
  const fp = sys.finalityProviders[0]!;
  staker = await WalletStaker.create(sys.node.rpc, sys.wallet, parseXOnlyKey(fp.btcPkHex, 'fp', 'TEST'));
  await sys.mineTo(115);
  await stakeSome(4);
  await sys.mine(3);
  await sys.waitForSync(90_000);
}, 300_000);

afterAll(async () => {
  for (const s of [...extra].reverse()) await s.stop().catch(() => undefined);
  await db?.end();
  await sys?.stop();
}, 120_000);

/** The series a Prometheus target exports, from its `# TYPE` lines (present before any sample). */
async function exportedNames(opsUrl: string): Promise<Set<string>> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const out = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) out.add(name + s);
    else out.add(name);
  }
  return out;
}

/** Metric names in PromQL text: the services' prefixes (label names and functions never carry them). */
const namesIn = (promql: string) =>
  [...promql.matchAll(/\b(?:signer|si|indexer|api|pipeline|http|event)_[a-z0-9_]+\b/g)].map((m) => m[0]);

describe('monitoring', () => {
  it('every metric an alert rule or a dashboard panel uses is exported by the running services', async () => {
    const rules = readFileSync(join(REPO, 'deploy/prometheus/alerts.yml'), 'utf8')
      .split('\n')
      .filter((l) => !/^\s*#|summary:|runbook:|- alert:/.test(l))
      .join('\n');
    const used = new Map<string, string>();
    for (const n of namesIn(rules)) used.set(n, 'deploy/prometheus/alerts.yml');
    for (const file of ['signer.json', 'indexer.json', 'api-pipeline.json']) {
      const d = JSON.parse(readFileSync(join(REPO, 'deploy/grafana', file), 'utf8')) as {
        panels: Array<{ targets: Array<{ expr: string }> }>;
      };
      for (const p of d.panels) for (const t of p.targets) for (const n of namesIn(t.expr)) used.set(n, file);
    }
    expect(used.size).toBeGreaterThan(40);
    const exported = new Set<string>();
    for (const url of [sys.urls.apiOps, sys.urls.indexerOps, sys.urls.pipelineOps, sys.urls.signerOps[0]!]) {
      for (const n of await exportedNames(url)) exported.add(n);
    }
    const missing = [...used].filter(([n]) => !exported.has(n)).map(([n, f]) => `${n} (${f})`);
    expect(missing).toEqual([]);
  });

  it('the indexer, the API and the pipeline report their position and lag on the ops port', async () => {
    const ix = (await (await fetch(`${sys.urls.indexerOps}/readyz`)).json()) as { checks: { sync: string } };
    expect(ix.checks.sync).toBe('following');
    const api = (await (await fetch(`${sys.urls.apiOps}/readyz`)).json()) as {
      checks: { consumer: { queue: { eventsBehind: number; consumers: number; deadLetters: number } } };
    };
    expect(api.checks.consumer.queue).toEqual({ eventsBehind: 0, consumers: 1, deadLetters: 0 });
    const apiMetrics = await readMetrics(sys.urls.apiOps);
    expect(sumOf(apiMetrics, 'api_consumer_queue_consumers')).toBe(1);
    expect(sumOf(apiMetrics, 'api_consumer_last_event_timestamp_seconds')).toBeGreaterThan(0);
    const pipe = (await (await fetch(`${sys.urls.pipelineOps}/readyz`)).json()) as {
      checks: { backlog: { unsent: number; oldestAgeSeconds: number } };
    };
    expect(pipe.checks.backlog).toEqual({ unsent: 0, oldestAgeSeconds: 0 });
  });

  it('a signer’s tip gauge follows the node at scrape time, with nobody calling /readyz', async () => {
    const tip = await sys.mine(1);
    // Only /metrics is fetched here; before the scrape refreshed it, the gauge stayed where the
    // last /readyz (the start) left it, and this waited in vain.
    await until('the signer’s tip gauge at the new tip', async () =>
      Promise.all(
        sys.urls.signerOps.map(async (u) => sumOf(await readMetrics(u), 'signer_bitcoind_tip_height')),
      ).then((tips) => tips.every((t) => t === tip)),
    );
    await sys.waitForSync(90_000);
  });
});

describe('more than one machine', () => {
  it('two APIs and two pipelines: one consumer applies in chain order, fails over, every request is signed and sent once', async () => {
    const [api2Port, api2Ops, pipe2Ops] = await Promise.all([freePort(), freePort(), freePort()]);
    const api2 = await startService({
      name: 'api-2',
      script: 'api/main.ts',
      args: ['start', '--config', join(sys.dir, 'api.toml')],
      logFile: join(sys.dir, 'logs', 'api-2.log'),
      opsUrl: `http://127.0.0.1:${api2Ops}`,
      env: { API__SERVER__PORT: String(api2Port), API__OPS__PORT: String(api2Ops) },
    });
    extra.push(api2);
    extra.push(
      await startService({
        name: 'pipeline-2',
        script: 'pipeline/main.ts',
        args: ['start', '--config', join(sys.dir, 'pipeline.toml')],
        logFile: join(sys.dir, 'logs', 'pipeline-2.log'),
        opsUrl: `http://127.0.0.1:${pipe2Ops}`,
        env: { PIPELINE__OPS__PORT: String(pipe2Ops) },
      }),
    );
    const apis = [sys.apiUrl, `http://127.0.0.1:${api2Port}`];
    const api1 = sys.services.find((s) => s.name === 'api')!;

    // Both serve HTTP, from the one database.
    const stats = await Promise.all(apis.map(async (u) => (await fetch(`${u}/v1/stats`)).json()));
    expect(stats[1]).toEqual(stats[0]);

    // New stakes while both consume: only the first API (the queue's active consumer) applies them.
    const batch1 = await stakeSome(3);
    await sys.mine(3);
    const idsOf = (ss: readonly DemoStake[], kind: string) => ss.map((s) => `${s.txid}:${kind}`);
    const applied = async (ids: readonly string[]) =>
      (
        await q<{ n: number }>('SELECT count(*)::int AS n FROM processed_events WHERE event_id = ANY($1)', [
          ids,
        ])
      )[0]!.n === ids.length;
    await until('the first batch applied', async () => applied(idsOf(batch1, 'active')));
    // The second one is attached to the queue, waiting, and has applied nothing.
    const waiting = await readMetrics(`http://127.0.0.1:${api2Ops}`);
    expect(sumOf(waiting, 'api_consumer_connected')).toBe(1);
    expect(sumOf(waiting, 'api_events_total')).toBe(0);
    // The broker counts the active consumer only.
    expect(sumOf(waiting, 'api_consumer_queue_consumers')).toBe(1);

    // Unbonding requests for the first stakes, sent to either API.
    const unbonded = stakes.slice(0, 4);
    for (const [i, s] of unbonded.entries()) {
      const { body } = await staker.unbondingRequest(s);
      const res = await fetch(`${apis[i % 2]}/v1/unbonding`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(202);
    }

    // The active consumer dies while the indexer publishes the next blocks.
    const batch2 = await stakeSome(3);
    const mining = sys.mine(3);
    process.kill(api1.pid, 'SIGKILL');
    await mining;
    await until('the second batch applied by the other API', async () => applied(idsOf(batch2, 'active')));
    const m2 = await readMetrics(`http://127.0.0.1:${api2Ops}`);
    expect(sumOf(m2, 'api_events_total', { outcome: 'applied' })).toBeGreaterThan(0);
    expect(sumOf(m2, 'api_consumer_queue_consumers')).toBe(1);

    // Every request signed by a quorum and broadcast, once; then mined, and its unbonding applied.
    const sentIds = unbonded.map((s) => s.txid);
    const sent = await until('every request sent', async () => {
      const rows = await q<{
        staking_tx_hash_hex: string;
        state: string;
        attempts: number;
        unbonding_tx_hash_hex: string;
      }>(
        'SELECT staking_tx_hash_hex, state, attempts, unbonding_tx_hash_hex FROM unbonding_requests WHERE staking_tx_hash_hex = ANY($1)',
        [sentIds],
      );
      return rows.length === sentIds.length && rows.every((r) => r.state === 'sent') ? rows : undefined;
    });
    // Claimed once each (the row lock): one attempt per request, across both pipelines.
    expect(sent.map((r) => r.attempts)).toEqual(sentIds.map(() => 1));
    const pipeMetrics = await Promise.all([
      readMetrics(sys.urls.pipelineOps),
      readMetrics(`http://127.0.0.1:${pipe2Ops}`),
    ]);
    expect(pipeMetrics.reduce((n, m) => n + sumOf(m, 'pipeline_attempts_total', { state: 'sent' }), 0)).toBe(
      sentIds.length,
    );
    expect(pipeMetrics.reduce((n, m) => n + sumOf(m, 'pipeline_attempts_total'), 0)).toBe(sentIds.length);
    // No signer was asked twice for the same staking output.
    for (const url of sys.urls.signerOps) {
      expect(sumOf(await readMetrics(url), 'signer_requests_total', { outcome: 'repeated' })).toBe(0);
    }
    // Broadcast: each unbonding tx reaches the chain (some were mined with the blocks above), and
    // the indexer's unbonding event for it comes back through the surviving API.
    await sys.mine(3);
    await until('the unbonding events applied', async () => applied(idsOf(unbonded, 'unbonding')));

    // Nothing lost, nothing applied twice, in chain order: the events applied, in the order they
    // were applied, have increasing sequences, and the statistics add up to the delegations.
    const rows = await q<{ event_id: string; sequence: string }>(
      "SELECT event_id, sequence FROM processed_events WHERE event_id NOT LIKE 'btc-info:%' ORDER BY processed_at, sequence",
    );
    const seqs = rows.map((r) => Number(r.sequence));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(rows.length);
    // An unbonding tx mined with the earlier blocks can reach its timelock (the demo's unbonding
    // time is 3 blocks) before the last blocks are mined: its expiry is a real event, once, and of
    // an unbonded stake only; how many there are depends on when each tx was mined.
    const ids = rows.map((r) => r.event_id);
    const expired = ids.filter((id) => id.includes(':expired:'));
    expect(expired.every((id) => idsOf(unbonded, 'expired:unbonding').includes(id))).toBe(true);
    expect(ids.filter((id) => !id.includes(':expired:')).sort()).toEqual(
      [...idsOf(stakes, 'active'), ...idsOf(unbonded, 'unbonding')].sort(),
    );
    const [d] = await q<{ n: number; tvl: string }>(
      'SELECT count(*)::int AS n, coalesce(sum(staking_value), 0)::text AS tvl FROM delegations WHERE NOT is_overflow',
    );
    const [s] = await q<{ n: string; tvl: string }>(
      'SELECT sum(total_delegations)::text AS n, sum(total_tvl)::text AS tvl FROM overall_stats',
    );
    expect(Number(s!.n)).toBe(d!.n);
    expect(s!.tvl).toBe(d!.tvl);
    expect(d!.n).toBe(stakes.length);
    const states = await q<{ state: string; n: number }>(
      'SELECT state, count(*)::int AS n FROM delegations GROUP BY state ORDER BY state',
    );
    expect(states).toEqual(
      [
        { state: 'active', n: stakes.length - unbonded.length },
        { state: 'unbonded', n: expired.length },
        { state: 'unbonding', n: unbonded.length - expired.length },
      ].filter((r) => r.n > 0),
    );
    // The surviving API still answers.
    expect((await fetch(`${apis[1]}/v1/stats`)).status).toBe(200);
  }, 300_000);
});

describe('backups and the restore drill', () => {
  // After the unbonding requests above, so that a signer has signatures in its log to remember.
  it('restores the indexer store, the API database and a signer into systems that resume without loss, duplication or a second signature', async () => {
    const signerAt = (
      await Promise.all(
        sys.urls.signerOps.map(async (u) =>
          sumOf(await readMetrics(u), 'signer_requests_total', { outcome: 'signed' }),
        ),
      )
    ).findIndex((n) => n > 0);
    expect(signerAt).toBeGreaterThanOrEqual(0);
    const r = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'deploy/restore-drill.ts',
        '--indexer-config',
        join(sys.dir, 'indexer.toml'),
        '--api-config',
        join(sys.dir, 'api.toml'),
        // Far enough back to re-emit the first stakes, blocks having been mined since.
        '--replay-blocks',
        '40',
        '--signer-config',
        join(sys.dir, `signer-${signerAt}.toml`),
        '--pipeline-config',
        join(sys.dir, 'pipeline.toml'),
      ],
      { cwd: REPO, timeout: 400_000 },
    ).catch((e: { stdout?: string; stderr?: string; code?: number }) => {
      throw new Error(`the drill failed (${e.code}): ${e.stderr}\n${e.stdout}`);
    });
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      rebuiltFromHeight: number;
      restored: { storeHeight: number; databaseBtcInfoHeight: number };
      eventsRepublished: number;
      eventsAppliedByOutcome: Record<string, number>;
      live: { delegations: number; appliedEventIds: number; totalTvl: number };
      afterRestore: { delegations: number; appliedEventIds: number; totalTvl: number };
      differences: string[];
      signer: SignerDrillReport;
    };
    expect(report.differences).toEqual([]);
    expect(report.live.delegations).toBe(stakes.length);
    expect(report.afterRestore.delegations).toBe(report.live.delegations);
    expect(report.afterRestore.appliedEventIds).toBe(report.live.appliedEventIds);
    expect(report.afterRestore.totalTvl).toBe(report.live.totalTvl);
    expect(report.ok).toBe(true);
    // The restored indexer went back below the stakes and re-emitted them; the API absorbed every
    // one as a duplicate of what its restored database held.
    expect(report.rebuiltFromHeight).toBeLessThanOrEqual(report.restored.storeHeight);
    expect(report.eventsRepublished).toBeGreaterThanOrEqual(stakes.length);
    expect(report.eventsAppliedByOutcome.duplicate ?? 0).toBeGreaterThanOrEqual(stakes.length);
    // The signer: a fresh token cannot verify the old token's MACs, so the copy as it is was refused;
    // the honest restore accepted it with its head checked, kept every signed decision, answered a
    // request signed before the backup with the very same signature (a repeat, nothing newly
    // signed), and its new anchor caught a truncated log and an older copy.
    const sg = report.signer;
    expect(sg.naiveRestore).toEqual({ start: 'SIGNER_AUDIT_CORRUPT', accept: 'SIGNER_AUDIT_CORRUPT' });
    expect(sg.backup.signed).toBeGreaterThan(0);
    expect(sg.backup.head.records).toBe(sg.backup.records);
    expect(sg.honestRestore).toMatchObject({
      structureOnlyExit: 3,
      headMatchesBackup: true,
      acceptExit: 0,
      verifyExit: 0,
      signedAfterAccept: sg.backup.signed,
      recordsAfterAccept: sg.backup.records + 1,
      unkeyedRecordsAccepted: sg.backup.records,
    });
    expect(sg.antiReplay).toMatchObject({
      exercised: true,
      status: 200,
      sameSignatureAsBeforeBackup: true,
      restoredSignerCounts: { signed: 0, repeated: 1, refused: 0 },
      signedDecisionsAfterRun: sg.backup.signed,
    });
    expect(sg.rollback).toEqual({
      truncatedLog: 'SIGNER_AUDIT_ROLLBACK',
      olderCopy: 'SIGNER_AUDIT_ROLLBACK',
    });
    expect(sg.ok).toBe(true);
    // The live system was not touched.
    expect((await q<{ n: number }>('SELECT count(*)::int AS n FROM delegations'))[0]!.n).toBe(stakes.length);
  }, 420_000);
});

// Last: it leaves one signer unable to record, as the alert's runbook describes.
describe('an audit log that can no longer be anchored', () => {
  it('shows on the real signer’s /metrics and /readyz: writable 0, failures counted, not ready', async () => {
    const i = 2;
    const config = join(sys.dir, `signer-${i}.toml`);
    const before = await readMetrics(sys.urls.signerOps[i]!);
    expect(sumOf(before, 'signer_audit_writable')).toBe(1);
    expect(sumOf(before, 'signer_audit_anchor_failures_total')).toBe(0);
    // The mistake the runbook warns of: accept-audit-log run while the signer is up moves the anchor
    // from under it.
    await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'signer/main.ts',
        'accept-audit-log',
        '--config',
        config,
        '--reason',
        'operations test',
      ],
      { cwd: REPO, timeout: 60_000 },
    );
    const pipeline = parseToml(readFileSync(join(sys.dir, 'pipeline.toml'), 'utf8')) as {
      tls: { client_cert_file: string; client_key_file: string };
      signers: Array<{ ca_file: string }>;
    };
    const client = new MtlsClient(sys.urls.signers[i]!, {
      caFile: pipeline.signers[i]!.ca_file,
      identity: {
        cert: pipeline.tls.client_cert_file,
        key: pipeline.tls.client_key_file,
        fingerprint256: '',
      },
    });
    try {
      // Each refusal is audited before it is answered: the first append finds the anchor moved, the
      // second is refused by a log that already failed. A refusal still goes out (nothing was signed).
      for (let n = 0; n < 2; n++) {
        expect((await client.call('GET', '/v1/no-such-route')).status).toBe(404);
      }
    } finally {
      client.close();
    }
    const after = await readMetrics(sys.urls.signerOps[i]!);
    expect(sumOf(after, 'signer_audit_writable')).toBe(0);
    expect(sumOf(after, 'signer_audit_anchor_failures_total')).toBe(2);
    const ready = await fetch(`${sys.urls.signerOps[i]}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { audit: { ok: boolean } } }).checks.audit.ok).toBe(false);
  }, 120_000);
});
