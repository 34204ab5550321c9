import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { type PrivateBroker, startPrivateBroker } from '../test/infra/rabbitmq.ts';
import { startIndexer } from './app.ts';
import { ChainKit } from './testkit/chain.ts';
import { EventCollector, quietLogger, testSetup } from './testkit/harness.ts';
import { mineBusyChain, SCENARIO_PARAMS_DOC } from './testkit/scenario.ts';

/**
 * Broker faults: the indexer publishes to a RabbitMQ broker this test starts itself; the broker is
 * stopped in the middle of a sync and started again a while later. Events decided meanwhile wait
 * in the outbox; nothing is lost, and the queue ends up with the same events, in the same order,
 * as an indexer that never saw a fault.
 */
const paramsDoc = SCENARIO_PARAMS_DOC;
const version = parseGlobalParams(paramsDoc).versions[0]!;

let node: RegtestNode;
let broker: PrivateBroker;
const dirs: string[] = [];

beforeAll(async () => {
  [node, broker] = await Promise.all([startRegtestNode(), startPrivateBroker()]);
});
afterAll(async () => {
  await node?.stop();
  await broker?.destroy();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('broker faults', () => {
  it('a broker stopped for a while during a sync loses no event', async () => {
    const kit = await ChainKit.create(node);
    await kit.mineTo(111);
    await mineBusyChain(kit, version, { blocks: 40, stakesPerBlock: 3 });

    const setup = await testSetup(node, broker.url, paramsDoc, { commitMaxBlocks: 5 });
    dirs.push(setup.dir);
    const indexer = await startIndexer(setup.config, { logger: quietLogger() });
    try {
      // Let it publish part of the chain, then take the broker away.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const m = await indexer.metrics.published.get();
        if (m.values.reduce((a, v) => a + v.value, 0) > 20) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await broker.stop();
      // The chain goes on while the broker is down; the indexer keeps deciding, into its outbox.
      await mineBusyChain(kit, version, { blocks: 40, stakesPerBlock: 3 });
      await kit.mineEmpty(2);
      const tip = await node.rpc.getblockcount();
      const down = Date.now() + 30_000;
      while ((indexer.status().lastProcessed ?? 0) < tip - 2 && Date.now() < down) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const during = indexer.status();
      expect(during.brokerConnected).toBe(false);
      expect(during.outboxDepth).toBeGreaterThan(0);
      expect(during.lastProcessed).toBe(tip - 2);
      const ready = await fetch(`${indexer.metricsUrl}/readyz`);
      expect(ready.status).toBe(503);

      await broker.restart();
      const got = await EventCollector.start(broker.url, setup.names);
      try {
        await got.waitForTip(tip, 60_000);
        const after = indexer.status();
        expect(after.brokerConnected).toBe(true);
        // This node does not serve REST: `auto` fell back to JSON-RPC.
        expect(after.fetchVia).toBe('rpc');

        // The same chain through an indexer that never saw a fault.
        const ref = await testSetup(node, broker.url, paramsDoc);
        dirs.push(ref.dir);
        const refEvents = await EventCollector.start(broker.url, ref.names);
        const refIndexer = await startIndexer(ref.config, { logger: quietLogger() });
        await refEvents.waitForTip(tip, 60_000);
        await refIndexer.stop();
        expect(got.view()).toEqual(refEvents.view());
        expect(got.view().length).toBeGreaterThan(300);
        await refEvents.close();
      } finally {
        await got.close();
      }
    } finally {
      await indexer.stop();
    }
  });
});
