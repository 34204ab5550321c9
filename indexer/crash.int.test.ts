import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { EVENT_TYPE_OF_KIND } from '../events/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { sharedBroker } from '../test/infra/rabbitmq.ts';
import { startIndexer } from './app.ts';
import { ChainKit } from './testkit/chain.ts';
import { EventCollector, quietLogger, testSetup } from './testkit/harness.ts';
import { mineBusyChain, SCENARIO_PARAMS_DOC } from './testkit/scenario.ts';

/**
 * Crash safety: the indexer runs as a child process and is killed with SIGKILL at many points of a
 * sync (while it commits and while it publishes), then restarted. Every event must arrive at least
 * once, and the consumer's view (first delivery of each event, in order) must equal that of an
 * uninterrupted run on the same chain.
 */
const repo = fileURLToPath(new URL('..', import.meta.url));
const paramsDoc = SCENARIO_PARAMS_DOC;

let node: RegtestNode;
let broker: { url: string; destroy(): Promise<void> };
const dirs: string[] = [];

beforeAll(async () => {
  [node, broker] = await Promise.all([startRegtestNode({ extraArgs: ['-rest=1'] }), sharedBroker()]);
  const kit = await ChainKit.create(node);
  await kit.mineTo(111);
  await mineBusyChain(kit, parseGlobalParams(paramsDoc).versions[0]!, { blocks: 120, stakesPerBlock: 4 });
  await kit.mineEmpty(2);
});
afterAll(async () => {
  await node?.stop();
  await broker?.destroy();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function spawnIndexer(configFile: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'indexer/main.ts', 'start', '--config', configFile], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
}
const exited = (c: ChildProcess) =>
  new Promise<void>((resolve) =>
    c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve()),
  );

describe('crash safety', () => {
  it('SIGKILL at many points of a sync loses no event and changes nothing a consumer sees', async () => {
    const tip = await node.rpc.getblockcount();

    // The uninterrupted run.
    const ref = await testSetup(node, broker.url, paramsDoc);
    dirs.push(ref.dir);
    const refEvents = await EventCollector.start(broker.url, ref.names);
    const refIndexer = await startIndexer(ref.config, { logger: quietLogger() });
    await refEvents.waitForTip(tip, 60_000);
    await refIndexer.stop();
    const expected = refEvents.view();
    await refEvents.close();
    expect(expected.length).toBeGreaterThan(800);

    // The crashing run: small commits and publish batches, so kills land between many of them.
    const crash = await testSetup(node, broker.url, paramsDoc, { commitMaxBlocks: 2, fetchBatch: 2 });
    dirs.push(crash.dir);
    const { writeFile } = await import('node:fs/promises');
    const toml = (await import('node:fs'))
      .readFileSync(crash.configFile, 'utf8')
      .replace('batch_size = 500', 'batch_size = 7');
    await writeFile(crash.configFile, toml);
    const got = await EventCollector.start(broker.url, crash.names);
    let kills = 0;
    let rng = 12345;
    const rand = (n: number) => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return rng % n;
    };
    for (let round = 0; round < 10; round++) {
      const child = spawnIndexer(crash.configFile);
      const before = got.events.length;
      // Kill once some more events arrived (mid-publish, mid-commit), or early in start-up.
      const want = round % 3 === 2 ? 0 : 1 + rand(60);
      const deadline = Date.now() + 15_000;
      while (got.events.length < before + want && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 5));
      }
      if (want === 0) await new Promise((r) => setTimeout(r, 300 + rand(700)));
      child.kill('SIGKILL');
      await exited(child);
      kills++;
      if (got.events.some((e) => e.event_type === EVENT_TYPE_OF_KIND['btc-info'] && e.height >= tip)) break;
    }
    const last = spawnIndexer(crash.configFile);
    try {
      await got.waitForTip(tip, 60_000);
      // Let the last relay batch settle, then compare.
      await new Promise((r) => setTimeout(r, 300));
      expect(kills).toBeGreaterThanOrEqual(5);
      const ids = new Set(got.events.map((e) => e.event_id));
      for (const e of expected) expect(ids.has(e.event_id)).toBe(true);
      expect(got.view()).toEqual(expected);
    } finally {
      last.kill('SIGTERM');
      await exited(last);
      await got.close();
    }
  });
});
