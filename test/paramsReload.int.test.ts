import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fundedWallet, type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../db/scratch.ts';
import { connectBroker, deleteTopology } from '../events/index.ts';
import { testSetup } from '../indexer/testkit/harness.ts';
import { sharedBroker } from './infra/rabbitmq.ts';
import { testKey, testParamsDoc } from './keys.ts';

/**
 * SIGHUP reloads the params file in the indexer and the pipeline as in the signer
 * (signer/cli.int.test.ts): each service runs as a separate process started by its CLI, gets a real
 * SIGHUP, applies a file that appends a version activating above the node's tip plus the depth,
 * and refuses (logged with its code, old params kept) one that appends a version too early and one
 * that changes a version in force: the same params/ rules, with the service's own node tip.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const covenants = [testKey('reload-cov-0'), testKey('reload-cov-1'), testKey('reload-cov-2')];
const DEPTH = 2;
const version = (v: number, activation: number, over: Record<string, unknown> = {}) =>
  testParamsDoc(covenants, {
    version: v,
    activation_height: activation,
    confirmation_depth: DEPTH,
    ...over,
  }).versions[0]!;

let node: RegtestNode;
let dir: string;
let mine: (n: number) => Promise<unknown>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'params-reload-'));
  node = await startRegtestNode();
  const { rpc, address } = await fundedWallet(node);
  mine = (n) => rpc.generatetoaddress(n, address);
});
afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A service's process, with its JSON log lines as they arrive. */
function spawnService(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        // Not a log line.
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const waitFor = async (pred: (l: Record<string, unknown>) => boolean, what: string, after = 0) => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const hit = lines.slice(after).find(pred);
      if (hit) return hit;
      if (child.exitCode !== null) throw new Error(`exited while waiting for ${what}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`);
  };
  return { child, lines, exited, waitFor, stderr: () => stderr };
}

/**
 * Drives one running service through the three reloads. `started` is the log line that says it
 * is up.
 */
async function exerciseReloads(
  svc: ReturnType<typeof spawnService>,
  paramsFile: string,
  started: string,
): Promise<void> {
  await svc.waitFor((l) => l.msg === started, 'start');
  const tip = await node.rpc.getblockcount();
  const v0 = version(0, 1);
  const v1 = version(1, tip + DEPTH + 5);

  // Appended above the tip plus the depth: applied.
  writeFileSync(paramsFile, JSON.stringify({ versions: [v0, v1] }));
  let mark = svc.lines.length;
  svc.child.kill('SIGHUP');
  expect(await svc.waitFor((l) => l.msg === 'params reloaded', 'applied reload', mark)).toMatchObject({
    added: 1,
    versions: 2,
  });

  // The chain grows past v1's activation; a version appended just above v1 is now at or below
  // the tip plus the depth: refused with the activation rule's code, naming the file.
  await mine(10);
  writeFileSync(paramsFile, JSON.stringify({ versions: [v0, v1, version(2, tip + DEPTH + 6)] }));
  mark = svc.lines.length;
  svc.child.kill('SIGHUP');
  const early = await svc.waitFor((l) => /reload refused/.test(String(l.msg)), 'refused reload', mark);
  expect(early).toMatchObject({ code: 'PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY', file: paramsFile });
  expect(String(early.err)).toContain(paramsFile);

  // A version in force changed: refused.
  writeFileSync(paramsFile, JSON.stringify({ versions: [version(0, 1, { unbonding_fee: 2_000 }), v1] }));
  mark = svc.lines.length;
  svc.child.kill('SIGHUP');
  expect(
    await svc.waitFor((l) => /reload refused/.test(String(l.msg)), 'refused change', mark),
  ).toMatchObject({ code: 'PARAMS_VERSIONS_CHANGED', file: paramsFile });

  // A file that does not parse: refused with its code.
  writeFileSync(paramsFile, '{"versions": [');
  mark = svc.lines.length;
  svc.child.kill('SIGHUP');
  expect(
    await svc.waitFor((l) => /reload refused/.test(String(l.msg)), 'refused bad file', mark),
  ).toMatchObject({ code: 'PARAMS_NOT_JSON', file: paramsFile });

  // The refusals kept [v0, v1]: appending v2 now adds exactly one version to those two.
  writeFileSync(
    paramsFile,
    JSON.stringify({ versions: [v0, v1, version(2, (await node.rpc.getblockcount()) + DEPTH + 100)] }),
  );
  mark = svc.lines.length;
  svc.child.kill('SIGHUP');
  expect(await svc.waitFor((l) => l.msg === 'params reloaded', 'second applied reload', mark)).toMatchObject({
    added: 1,
    versions: 3,
  });
}

describe('SIGHUP params reload in a real process', () => {
  it('indexer: applies an append above the tip, refuses the rest with a logged code, keeps the old params', async () => {
    const broker = await sharedBroker();
    const setup = await testSetup(node, broker.url, { versions: [version(0, 1)] });
    const svc = spawnService(['indexer/main.ts', 'start', '--config', setup.configFile], {
      INDEXER__LOG__LEVEL: 'info',
    });
    try {
      await exerciseReloads(svc, setup.config.params.file, 'staking indexer started');
    } finally {
      svc.child.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
      rmSync(setup.dir, { recursive: true, force: true });
      // The indexer declared its topology under this test's prefix: delete it, as every test does.
      const conn = await connectBroker({ url: broker.url });
      await deleteTopology(await conn.createConfirmChannel(), setup.names);
      await conn.close();
      await broker.destroy();
    }
  });

  it('pipeline: applies an append above the tip, refuses the rest with a logged code, keeps the old params', async () => {
    let db: ScratchDatabase | undefined;
    try {
      db = await createScratchDatabase('pipeline_reload');
      const paramsFile = join(dir, 'pipeline-params.json');
      writeFileSync(paramsFile, JSON.stringify({ versions: [version(0, 1)] }));
      const config = join(dir, 'pipeline.toml');
      writeFileSync(
        config,
        [
          '[pipeline]',
          'interval_ms = 200',
          '[database]',
          `url = "${db.url}"`,
          '[bitcoind]',
          `url = "${node.rpcUrl}"`,
          `cookie_file = "${node.cookieFile}"`,
          '[params]',
          `file = "${paramsFile}"`,
          '[[signers]]',
          'name = "sidecar"',
          'url = "http://127.0.0.1:9"',
          `public_key = "${covenants[0]!.compressedHex}"`,
          '[ops]',
          'port = 0',
          '[log]',
          'level = "info"',
          '',
        ].join('\n'),
      );
      const svc = spawnService(['pipeline/main.ts', 'start', '--config', config]);
      try {
        await exerciseReloads(svc, paramsFile, 'unbonding pipeline started');
      } finally {
        svc.child.kill('SIGTERM');
        expect(await svc.exited).toBe(0);
      }
    } finally {
      await db?.drop();
    }
  });
});
