import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RegtestNode, startRegtestNode } from '../bitcoind/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { sharedBroker } from '../test/infra/rabbitmq.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { rebuildFromHeight, startIndexer } from './app.ts';
import { ChainKit } from './testkit/chain.ts';
import { EventCollector, quietLogger, type TestSetup, testSetup } from './testkit/harness.ts';
import { buildStake } from './testkit/txs.ts';

/**
 * A re-org deeper than the confirmation depth stops the indexer with a clear message, the metric
 * and a failing readiness; `rebuild --from-height` rolls the store back and the restarted indexer
 * follows the new chain.
 */
const covenants = ['mr-cov-a', 'mr-cov-b'].map(testKey);
const paramsDoc = testParamsDoc(covenants, { activation_height: 112, confirmation_depth: 3 });
const version = parseGlobalParams(paramsDoc).versions[0]!;
const staker = testKey('mr-staker');
const fp = testKey('mr-fp');

let node: RegtestNode;
let broker: { url: string; destroy(): Promise<void> };
let setup: TestSetup;

beforeAll(async () => {
  [node, broker] = await Promise.all([startRegtestNode(), sharedBroker()]);
});
afterAll(async () => {
  await node?.stop();
  await broker?.destroy();
  if (setup) await rm(setup.dir, { recursive: true, force: true });
});

describe('major re-org', () => {
  it('stops with INDEXER_MAJOR_REORG naming the fork point; rebuild from it follows the new chain', async () => {
    const kit = await ChainKit.create(node);
    await kit.mineTo(114);
    // Fund both stakes in block 115, below the branch that will be replaced.
    const coins = [kit.coin(), kit.coin()];
    await kit.mine([]);
    const stake = (t: number) =>
      buildStake({ version, staker, fp, stakingTime: t, valueSat: 100_000n, funding: coins.shift()! });
    const old = stake(50);
    const oldBlock = await kit.mine([old.tx]); // 116
    await kit.mineEmpty(4); // 120: 116 is deep
    setup = await testSetup(node, broker.url, paramsDoc);
    const got = await EventCollector.start(broker.url, setup.names);
    let indexer = await startIndexer(setup.config, { logger: quietLogger() });
    try {
      await got.waitForTip(120);
      expect(got.ids()).toEqual([`${old.txid}:active`]);

      // Replace blocks 116.. with a longer branch in which the stake confirms at another height.
      await node.rpc.invalidateblock(oldBlock.hash);
      const fresh = stake(60);
      await kit.mineEmpty(2); // 116, 117
      await kit.mine([fresh.tx, old.tx]); // 118
      await kit.mineEmpty(4); // 122
      const deadline = Date.now() + 20_000;
      while (!indexer.status().stopped && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const st = indexer.status();
      expect(st.stopped?.code).toBe('INDEXER_MAJOR_REORG');
      expect(st.stopped?.message).toMatch(/agree up to height 115/);
      expect(st.stopped?.message).toMatch(/rebuild --from-height 116/);
      const metrics = await (await fetch(`${indexer.metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/^si_major_reorgs_counter 1$/m);
      expect((await fetch(`${indexer.metricsUrl}/readyz`)).status).toBe(503);
      await indexer.stop();

      // A rebuild below the store's start is refused; from the fork point + 1 it works.
      await expect(rebuildFromHeight(setup.config, 100)).rejects.toMatchObject({
        code: 'INDEXER_REBUILD_HEIGHT',
      });
      await rebuildFromHeight(setup.config, 116);
      indexer = await startIndexer(setup.config, { logger: quietLogger() });
      await got.waitFor((es) => es.some((e) => e.event_id === `${fresh.txid}:active`), 20_000);
      await got.waitForTip(122);
      const moved = got.events.filter((e) => e.event_id === `${old.txid}:active`);
      expect(moved.map((e) => (e as { staking_start_height: number }).staking_start_height)).toEqual([
        116, 118,
      ]);
      expect(indexer.status().following).toBe(true);
    } finally {
      await indexer.stop();
      await got.close();
    }
  });
});
