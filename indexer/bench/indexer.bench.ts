/**
 * `npm run bench:indexer` (tsx indexer/bench/indexer.bench.ts): generates a regtest chain
 * (BENCH_BLOCKS blocks, each with BENCH_FILLERS ordinary transactions and BENCH_STAKES stakes, plus
 * the unbondings and withdraws of earlier stakes), then, in the same run:
 *   1. for information, the node serving every block over the REST interface the indexer uses
 *      when the node serves it (the node runs with -rest=1), twice, best kept;
 *   2. BENCH_ROUNDS rounds (2 unless set), each of them:
 *      a. the node alone: every raw block fetched over RPC (getblockhash + getblock verbosity 0 in
 *         JSON-RPC batches, the same batch size and concurrency the indexer uses): the target's
 *         yardstick;
 *      b. the indexer: a fresh store synced from the activation height to the tip in a process of
 *         its own (events published to RabbitMQ with confirms, concurrently), its peak RSS
 *         measured there; its directory and queues removed after.
 *    The best of each side is kept; alternating them, the machine's drift touches both alike.
 * Prints blocks/s and txs/s of both and the ratio of the bests (target ≥ 0.5), then each round's
 * own ratio and their median.
 */

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Transaction } from 'bitcoinjs-lib';
import { RestClient, type RpcClient, startRegtestNode } from '../../bitcoind/index.ts';
import { concatBytes, txidToHash } from '../../common/index.ts';
import { connectBroker, deleteTopology, openConsumerChannel } from '../../events/index.ts';
import { parseGlobalParams } from '../../params/index.ts';
import { printResult } from '../../test/bench/measure.ts';
import { cpuSecondsOf } from '../../test/infra/cpu.ts';
import { sharedBroker } from '../../test/infra/rabbitmq.ts';
import { testParamsDoc } from '../../test/keys.ts';
import { ChainKit } from '../testkit/chain.ts';
import { DEFAULT_FETCH, testSetup } from '../testkit/harness.ts';
import { buildBusyBlocks, SCENARIO_COVENANTS } from '../testkit/scenario.ts';
import { OP_TRUE_SCRIPT } from '../testkit/txs.ts';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 2000);
const FILLERS = Number(process.env.BENCH_FILLERS ?? 150);
const STAKES = Number(process.env.BENCH_STAKES ?? 1);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
// The node is asked for its blocks as the bench's syncs ask: the config's batch and concurrency.
const BATCH = DEFAULT_FETCH.batch;
const CONCURRENCY = DEFAULT_FETCH.concurrency;
const repo = fileURLToPath(new URL('../..', import.meta.url));

const node = await startRegtestNode({
  extraArgs: ['-rest=1', '-dbcache=1000', '-rpcworkqueue=64', '-rpcthreads=8'],
});
const broker = await sharedBroker();
try {
  const t0 = performance.now();
  const coinbasesNeeded = Math.ceil((BLOCKS * (STAKES + 1)) / 499) + 2;
  const kit = await ChainKit.create(node, { mature: coinbasesNeeded });
  const start = (await kit.height()) + 1;
  const paramsDoc = testParamsDoc(SCENARIO_COVENANTS, {
    activation_height: start,
    staking_cap: 1_000_000_000_000,
    min_staking_amount: 10_000,
    max_staking_amount: 1_000_000,
    min_staking_time: 5,
    max_staking_time: 1000,
    unbonding_time: 3,
    confirmation_depth: 10,
  });
  const version = parseGlobalParams(paramsDoc).versions[0]!;

  // Ordinary traffic: per block a chain of FILLERS txs from one OP_TRUE coin, each with a
  // P2WPKH-shaped output and the OP_TRUE output the next one spends (no signatures needed).
  const pkh = concatBytes(Uint8Array.of(0x00, 0x14), new Uint8Array(20).fill(0x42));
  const filler = () => {
    const out: Transaction[] = [];
    let prev = kit.coin();
    for (let i = 0; i < FILLERS; i++) {
      const tx = new Transaction();
      tx.version = 2;
      tx.addInput(txidToHash(prev.txid, 'BENCH'), prev.vout);
      tx.addOutput(pkh, 0n);
      tx.addOutput(OP_TRUE_SCRIPT, prev.valueSat);
      out.push(tx);
      prev = { txid: tx.getId(), vout: 1, valueSat: prev.valueSat };
    }
    return out;
  };
  const plan = buildBusyBlocks(kit, version, start - 1, { blocks: BLOCKS, stakesPerBlock: STAKES, filler });
  const tBuilt = performance.now();
  for (let i = 0; i < plan.blocks.length; i += 10) {
    const res = await node.rpc.batch(
      plan.blocks.slice(i, i + 10).map((txs) => ({
        method: 'generateblock',
        params: [kit.descriptor, txs.map((t) => t.toHex())],
      })),
    );
    const bad = res.find((r) => !r.ok);
    if (bad && !bad.ok) throw bad.error;
  }
  await kit.mineEmpty(10);
  const tip = await node.rpc.getblockcount();
  const totalTxs = plan.blocks.reduce((a, b) => a + b.length + 1, 0);
  console.log(
    `chain: ${BLOCKS} blocks from ${start}, ${totalTxs.toLocaleString('en-US')} txs (${plan.stakes} stakes, ${plan.unbondings} unbondings, ${plan.withdraws} withdraws); built in ${((tBuilt - t0) / 1000).toFixed(1)} s, mined in ${((performance.now() - tBuilt) / 1000).toFixed(1)} s`,
  );

  const confirmedTip = tip - 10 + 1;
  // The confirmed heights in the batches the indexer asks for, fetched CONCURRENCY at a time.
  const batches: number[][] = [];
  for (let h = start; h <= confirmedTip; h += BATCH)
    batches.push(Array.from({ length: Math.min(BATCH, confirmedTip - h + 1) }, (_, i) => h + i));
  const fetchAll = async (fetch: (heights: number[]) => Promise<void>) => {
    let next = 0;
    const worker = async () => {
      while (next < batches.length) await fetch(batches[next++]!);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  const nodeRate = async (rpc: RpcClient) => {
    const cpu0 = cpuSecondsOf(node.pid);
    const t = performance.now();
    let bytes = 0;
    await fetchAll(async (hs) => {
      const hashes = await rpc.batch<string>(hs.map((h) => ({ method: 'getblockhash', params: [h] })));
      const raws = await rpc.batch<string>(
        hashes.map((r) => ({ method: 'getblock', params: [r.ok ? r.result : '', 0] })),
      );
      for (const r of raws) if (r.ok) bytes += r.result.length / 2;
    });
    return { seconds: (performance.now() - t) / 1000, bytes, nodeCpu: cpuSecondsOf(node.pid) - cpu0 };
  };
  const restRate = async () => {
    const rest = new RestClient({ url: node.rpcUrl, connections: CONCURRENCY });
    const cpu0 = cpuSecondsOf(node.pid);
    const t = performance.now();
    await fetchAll(async (hs) => {
      await rest.blocks(await rest.blockHashes(hs));
    });
    rest.close();
    return { seconds: (performance.now() - t) / 1000, nodeCpu: cpuSecondsOf(node.pid) - cpu0 };
  };
  const fastest = <T>(xs: readonly T[], seconds: (x: T) => number): T =>
    xs.reduce((a, b) => (seconds(b) < seconds(a) ? b : a));
  const restBest = fastest([await restRate(), await restRate()], (x) => x.seconds);

  const prof = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  // One sync from a fresh store, in a fresh process; its directory and queues are removed after.
  const syncOnce = async () => {
    const setup = await testSetup(node, broker.url, paramsDoc, { pollMs: 50 });
    try {
      const nodeCpu0 = cpuSecondsOf(node.pid);
      const child = spawnSync(
        process.execPath,
        [...prof, '--import', 'tsx', 'indexer/bench/syncRunner.ts', setup.configFile],
        {
          cwd: repo,
          encoding: 'utf8',
          env: { PATH: process.env.PATH, HOME: process.env.HOME },
        },
      );
      if (child.status !== 0) throw new Error(`sync runner failed: ${child.stderr}`);
      const nodeCpuDuringSync = cpuSecondsOf(node.pid) - nodeCpu0;
      const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as {
        syncSeconds: number;
        publishedSeconds: number;
        blocks: number;
        txs: number;
        decoded: number;
        events: number;
        maxRssMiB: number;
        cpuSeconds: number;
        mainThreadCpuSeconds: number;
      };
      return { ...r, nodeCpuDuringSync };
    } finally {
      rmSync(setup.dir, { recursive: true, force: true });
      const conn = await connectBroker({ url: broker.url });
      await deleteTopology(await openConsumerChannel(conn), setup.names).finally(() => conn.close());
    }
  };
  // Rounds of the node alone then a sync, so that the machine's drift within the run touches both
  // sides alike; the best of each side is kept, and each round's own ratio is printed too.
  const rounds: { node: Awaited<ReturnType<typeof nodeRate>>; sync: Awaited<ReturnType<typeof syncOnce>> }[] =
    [];
  for (let i = 0; i < ROUNDS; i++) rounds.push({ node: await nodeRate(node.rpc), sync: await syncOnce() });
  const nodeBest = fastest(
    rounds.map((x) => x.node),
    (x) => x.seconds,
  );
  const r = fastest(
    rounds.map((x) => x.sync),
    (x) => x.syncSeconds,
  );
  const nodeCpuDuringSync = r.nodeCpuDuringSync;
  const roundRatios = rounds.map((x) => x.node.seconds / x.sync.syncSeconds).sort((a, b) => a - b);

  const blocks = confirmedTip - start + 1;
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
  console.log(
    `\nsync of ${blocks} confirmed blocks, ${r.txs.toLocaleString('en-US')} txs (${(nodeBest.bytes / 1e6).toFixed(1)} MB of blocks)`,
  );
  console.log(
    `  node alone (getblock verbosity 0 over RPC) ${fmt(blocks / nodeBest.seconds)} blocks/s ${fmt(r.txs / nodeBest.seconds)} txs/s  (${nodeBest.seconds.toFixed(2)} s)`,
  );
  console.log(
    `  node alone over REST (information)        ${fmt(blocks / restBest.seconds)} blocks/s ${fmt(r.txs / restBest.seconds)} txs/s  (${restBest.seconds.toFixed(2)} s)`,
  );
  console.log(
    `  indexer (fetch, decide, commit)           ${fmt(blocks / r.syncSeconds)} blocks/s ${fmt(r.txs / r.syncSeconds)} txs/s  (${r.syncSeconds.toFixed(2)} s)`,
  );
  console.log(`  ratio indexer / node = ${(nodeBest.seconds / r.syncSeconds).toFixed(3)} (target ≥ 0.5)`);
  for (const [i, x] of rounds.entries()) {
    console.log(
      `    round ${i + 1}: node ${x.node.seconds.toFixed(2)} s, sync ${x.sync.syncSeconds.toFixed(2)} s, ratio ${(x.node.seconds / x.sync.syncSeconds).toFixed(3)}`,
    );
  }
  console.log(
    `    median of the rounds' ratios ${roundRatios[Math.floor((roundRatios.length - 1) / 2)]!.toFixed(3)}${roundRatios.length % 2 === 0 ? ` to ${roundRatios[roundRatios.length / 2]!.toFixed(3)}` : ''}`,
  );
  console.log(
    `  fully decoded: ${r.decoded.toLocaleString('en-US')} of ${r.txs.toLocaleString('en-US')} txs; ${r.events.toLocaleString('en-US')} events, all confirmed by RabbitMQ after ${r.publishedSeconds.toFixed(2)} s`,
  );
  console.log(`  indexer peak RSS: ${r.maxRssMiB.toFixed(0)} MiB`);
  // Where the two cores went: the ratio is bounded by the CPU the whole pipeline needs, not only
  // by the indexer's wall time.
  console.log(
    `  CPU: node alone ${nodeBest.nodeCpu.toFixed(2)} s serving JSON-RPC, ${restBest.nodeCpu.toFixed(2)} s serving REST; during the sync the node ${nodeCpuDuringSync.toFixed(2)} s (its whole run) and the indexer ${r.cpuSeconds.toFixed(2)} s (the sync itself: ${r.mainThreadCpuSeconds.toFixed(2)} s on its main thread, the rest on the fetch thread and V8's compiler and GC threads)`,
  );
  printResult({
    blocks,
    sync_ratio: nodeBest.seconds / r.syncSeconds,
    indexer_blocks_per_s: blocks / r.syncSeconds,
    node_blocks_per_s: blocks / nodeBest.seconds,
    peak_rss_mib: Math.round(r.maxRssMiB),
  });
} finally {
  await node.stop();
  await broker.destroy();
}
