import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import {
  createScratchDatabase,
  Database,
  getUnbondingRequest,
  insertDelegation,
  insertUnbondingRequest,
  migrate,
  type ScratchDatabase,
} from '../db/index.ts';
import type { Stake } from '../test/infra/signerHarness.ts';
import { type SoftHsmCommittee, startSoftHsmCommittee } from '../test/infra/softhsmCommittee.ts';
import { createPipelineMetrics } from './metrics.ts';
import { endpointOf, SignerClient } from './signerClient.ts';
import { PipelineWorker } from './worker.ts';

/**
 * The pipeline worker over the real store: three SoftHSM-backed signers (quorum 2), a real Knots
 * node, a scratch PostgreSQL database with the project's migrations.
 */
const log = pino({ level: 'fatal' });
let sc: SoftHsmCommittee;
let scratch: ScratchDatabase;
let db: Database;

beforeAll(async () => {
  sc = await startSoftHsmCommittee(3, 2);
  scratch = await createScratchDatabase('pipeline_test');
  db = Database.open({ url: scratch.url });
  await migrate(db);
});
afterAll(async () => {
  await db?.close();
  await scratch?.drop();
  await sc?.stop();
});

const clients = (urls?: string[]) =>
  sc.committee.members.map(
    (m, i) =>
      new SignerClient(
        endpointOf({
          name: `signer-${i}`,
          url: urls?.[i] ?? m.signer!.url,
          public_key: m.compressedHex,
          timeout_ms: 3_000,
        }),
        {
          certFile: sc.committee.pki.clients.pipeline!.cert,
          keyFile: sc.committee.pki.clients.pipeline!.key,
          caFile: sc.committee.pki.ca.cert,
        },
      ),
  );

const worker = (id: string, urls?: string[]) =>
  new PipelineWorker({
    db,
    rpc: sc.committee.node.rpc,
    params: () => sc.committee.params,
    signers: clients(urls),
    options: {
      workerId: id,
      batchSize: 4,
      concurrency: 2,
      leaseMs: 60_000,
      backoffBaseMs: 100,
      backoffMaxMs: 200,
    },
    log,
  });

/** Stores a delegation and its unbonding request, as the API does. */
async function request(s: Stake): Promise<void> {
  await insertDelegation(db.pool, {
    stakingTxid: s.txid,
    stakerPkHex: toHex(s.data.stakerKey),
    finalityProviderPkHex: toHex(s.data.fpKey),
    stakingValue: Number(s.data.valueSat),
    isOverflow: false,
    stakingTxHex: s.tx.toHex(),
    stakingOutputIndex: s.data.stakingOutputIndex,
    stakingStartHeight: s.height,
    stakingStartTimestamp: 1_700_000_000,
    stakingTimelock: s.data.stakingTime,
  });
  const ok = await insertUnbondingRequest(db.pool, {
    stakingTxid: s.txid,
    unbondingTxHashHex: s.unbondingTx.getId(),
    unbondingTxHex: s.unbondingTx.toHex(),
    stakerSignatureHex: toHex(s.stakerSig),
    stakerPkHex: toHex(s.data.stakerKey),
    finalityProviderPkHex: toHex(s.data.fpKey),
    stakingTxHex: s.tx.toHex(),
    stakingOutputIndex: s.data.stakingOutputIndex,
    stakingValue: Number(s.data.valueSat),
    stakingTimelock: s.data.stakingTime,
    stakingStartHeight: s.height,
    paramsVersion: 0,
  });
  expect(ok).toBe(true);
}

describe('the pipeline worker over the store', () => {
  it('sends a pending request, records who signed, and never retries it once sent and mined', async () => {
    const s = await sc.committee.stake(300_000n);
    await request(s);
    const w = worker('w1');
    expect(await w.runOnce()).toBe(1);
    const r = await getUnbondingRequest(db.pool, s.txid);
    expect(r).toMatchObject({ state: 'sent', attempts: 1, lastError: null });
    expect(r!.signerResults.filter((x) => (x as unknown as { used: boolean }).used)).toHaveLength(2);
    await sc.committee.mine();
    expect((await sc.committee.node.rpc.getrawtransaction(s.unbondingTx.getId(), true)).confirmations).toBe(
      1,
    );
    expect(await w.runOnce()).toBe(0);
    expect((await getUnbondingRequest(db.pool, s.txid))!.attempts).toBe(1);
  });

  it('records no_quorum while every signer is down, then sends once they are back', async () => {
    const s = await sc.committee.stake(310_000n);
    await request(s);
    await worker('down', ['https://127.0.0.1:1', 'https://127.0.0.1:2', 'https://127.0.0.1:3']).runOnce();
    const r = await getUnbondingRequest(db.pool, s.txid);
    expect(r).toMatchObject({ state: 'no_quorum', attempts: 1 });
    expect(r!.signerResults.every((x) => x.error?.startsWith('PIPELINE_SIGNER_UNREACHABLE'))).toBe(true);
    // The backlog the metrics and /readyz report: this request waits, and has waited a while.
    const waiting = await worker('look').backlog();
    expect(waiting.unsent).toBe(1);
    expect(waiting.oldestAgeSeconds).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 250)); // the backoff (100–200 ms here) passes
    await worker('up').runOnce();
    expect(await getUnbondingRequest(db.pool, s.txid)).toMatchObject({ state: 'sent', attempts: 2 });
    expect(await worker('look').backlog()).toEqual({ unsent: 0, oldestAgeSeconds: 0 });
  });

  it('marks input_spent, finally, when the staking output was spent by a withdraw', async () => {
    const s = await sc.committee.stake(320_000n, 5);
    await sc.committee.withdrawByTimelock(s);
    await request(s);
    await worker('w-spent').runOnce();
    expect(await getUnbondingRequest(db.pool, s.txid)).toMatchObject({ state: 'input_spent', attempts: 1 });
    await new Promise((res) => setTimeout(res, 250));
    expect(await worker('w-spent-2').runOnce()).toBe(0);
  });

  it('records the code of a coded failure that escapes an attempt (the node failing after the re-check), not PIPELINE_INTERNAL', async () => {
    const s = await sc.committee.stake(300_000n);
    await request(s);
    const real = sc.committee.node.rpc;
    // The node answers the re-check, then fails at the spent check (gettxout).
    const failing = new Proxy(real, {
      get(target, prop) {
        if (prop === 'gettxout') return async () => Promise.reject(new Error('connection reset'));
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const metrics = createPipelineMetrics();
    const w = new PipelineWorker({
      db,
      rpc: failing,
      params: () => sc.committee.params,
      signers: clients(),
      metrics,
      options: {
        workerId: 'w-node-fails',
        batchSize: 4,
        concurrency: 1,
        leaseMs: 60_000,
        backoffBaseMs: 100,
        backoffMaxMs: 200,
      },
      log,
    });
    expect(await w.runOnce()).toBe(1);
    const attempts = await metrics.attempts.get();
    expect(attempts.values.map((v) => v.labels)).toEqual([
      { state: 'failed', code: 'PIPELINE_NODE_UNAVAILABLE' },
    ]);
    expect(await getUnbondingRequest(db.pool, s.txid)).toMatchObject({ state: 'failed', attempts: 1 });
    // Retried after its backoff (at most 200 ms here) once the node answers, and sent.
    await new Promise((r) => setTimeout(r, 250));
    expect(await worker('w-node-back').runOnce()).toBe(1);
    expect(await getUnbondingRequest(db.pool, s.txid)).toMatchObject({ state: 'sent', attempts: 2 });
  });

  it('two instances over the same queue send every request exactly once', async () => {
    const stakes: Stake[] = [];
    for (let i = 0; i < 8; i++)
      stakes.push(await sc.committee.stake(400_000n + BigInt(i) * 1_000n, 100, { confirm: 0 }));
    await sc.committee.mine(2);
    for (const s of stakes) await request(s);
    const [a, b] = await Promise.all([worker('instance-a').runOnce(), worker('instance-b').runOnce()]);
    expect(a + b).toBe(8);
    for (const s of stakes) {
      expect(await getUnbondingRequest(db.pool, s.txid)).toMatchObject({ state: 'sent', attempts: 1 });
    }
    const mempool = await sc.committee.node.rpc.getrawmempool();
    for (const s of stakes) expect(mempool).toContain(s.unbondingTx.getId());
  });

  it('runs as a service from its CLI: one round with --once sends a pending request', async () => {
    const s = await sc.committee.stake(500_000n);
    await request(s);
    const c = sc.committee;
    const file = join(c.dir, 'pipeline.toml');
    writeFileSync(
      file,
      [
        '[pipeline]',
        'worker_id = "cli-once"',
        '[database]',
        `url = "${scratch.url}"`,
        '[bitcoind]',
        `url = "${c.node.rpcUrl}"`,
        `cookie_file = "${c.node.cookieFile}"`,
        '[params]',
        `file = "${c.paramsFile}"`,
        '[tls]',
        `client_cert_file = "${c.pki.clients.pipeline!.cert}"`,
        `client_key_file = "${c.pki.clients.pipeline!.key}"`,
        '[ops]',
        'port = 0',
        '[log]',
        'level = "warn"',
        ...c.members.flatMap((m, i) => [
          '[[signers]]',
          `name = "signer-${i}"`,
          `url = "${m.signer!.url}"`,
          `public_key = "${m.compressedHex}"`,
          `ca_file = "${c.pki.ca.cert}"`,
        ]),
        '',
      ].join('\n'),
    );
    await promisify(execFile)(process.execPath, [
      '--import',
      'tsx',
      'pipeline/main.ts',
      'start',
      '--config',
      file,
      '--once',
    ]);
    expect(await getUnbondingRequest(db.pool, s.txid)).toMatchObject({ state: 'sent', attempts: 1 });
  });
});
