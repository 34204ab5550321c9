/**
 * `npm run bench:indexer` (tsx indexer/bench/indexer.bench.ts), two workloads on one regtest node
 * (-rest=1, so the indexer fetches over REST, as `fetch_via = "auto"` chooses):
 *
 * 1. Busy small blocks (BENCH_BLOCKS, default 6,000): each with BENCH_FILLERS ordinary
 *    transactions (a chain of OP_TRUE spends, default 150) and BENCH_STAKES stakes (default 1),
 *    plus the unbondings and withdraws of earlier stakes.
 * 2. Full blocks (BENCH_FULL_BLOCKS, default 120): each with BENCH_FULL_TXS signed P2WPKH payments
 *    (default 1,000; test/infra/bulkTxs.ts) and BENCH_FULL_STAKES stakes (default 3) with their
 *    unbondings and withdraws, synced by an indexer whose params activate at the first of them.
 *
 * For each workload, BENCH_ROUNDS rounds (default 2; one more for the full blocks, whose sync is
 * short) of: the node alone serving the blocks over
 * REST (block hashes and raw blocks in the batches and concurrency the indexer asks with: the
 * yardstick), then the indexer syncing them from a fresh store in a process of its own, events
 * published to RabbitMQ with confirms. The best of each side is kept; alternating them, the
 * machine's drift touches both alike.
 *
 * The figure judged is the steady rate: the indexer's rate over the second half of the sync (from
 * the first commit past the middle height to the last block) beside the node's rate over the same
 * heights. A fresh process's start-up and JIT warm-up (about a second) fall before it; the
 * whole-sync ratio is printed beside it. For full blocks the prescan (the walk and staking
 * verdicts that decide which transactions can matter, on the indexer's fetch thread) is also timed
 * alone on this thread over the same raw blocks, in MB/s beside the node's.
 * Ends with `RESULT steady_ratio=… full_block_ratio=… …` (targets: both ≥ 0.8).
 */

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Transaction } from 'bitcoinjs-lib';
import { type RegtestNode, RestClient, startRegtestNode } from '../../bitcoind/index.ts';
import { concatBytes, txidToHash } from '../../common/index.ts';
import { connectBroker, deleteTopology, openConsumerChannel } from '../../events/index.ts';
import { parseGlobalParams } from '../../params/index.ts';
import { printResult } from '../../test/bench/measure.ts';
import { PaymentTraffic } from '../../test/infra/bulkTxs.ts';
import { cpuSecondsOf } from '../../test/infra/cpu.ts';
import { sharedBroker } from '../../test/infra/rabbitmq.ts';
import { testParamsDoc } from '../../test/keys.ts';
import { RangePrescan } from '../prescan.ts';
import { ChainKit } from '../testkit/chain.ts';
import { DEFAULT_FETCH, testSetup } from '../testkit/harness.ts';
import { buildBusyBlocks, SCENARIO_COVENANTS } from '../testkit/scenario.ts';
import { OP_TRUE_SCRIPT } from '../testkit/txs.ts';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 6000);
const FILLERS = Number(process.env.BENCH_FILLERS ?? 150);
const STAKES = Number(process.env.BENCH_STAKES ?? 1);
const FULL_BLOCKS = Number(process.env.BENCH_FULL_BLOCKS ?? 120);
const FULL_TXS = Number(process.env.BENCH_FULL_TXS ?? 1000);
const FULL_STAKES = Number(process.env.BENCH_FULL_STAKES ?? 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const DEPTH = 10;
// The node is asked for its blocks as the bench's syncs ask: the config's batch and concurrency.
const BATCH = DEFAULT_FETCH.batch;
const CONCURRENCY = DEFAULT_FETCH.concurrency;
const repo = fileURLToPath(new URL('../..', import.meta.url));

const node = await startRegtestNode({
  extraArgs: ['-rest=1', '-dbcache=1000', '-rpcworkqueue=64', '-rpcthreads=8'],
});
const broker = await sharedBroker();
try {
  const coinbasesNeeded = Math.ceil((BLOCKS * (STAKES + 1) + FULL_BLOCKS * (FULL_STAKES + 1)) / 499) + 4;
  const kit = await ChainKit.create(node, { mature: coinbasesNeeded });

  // ---- 1. busy small blocks ----
  const start = (await kit.height()) + 1;
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
  const busy = await buildChain(node, kit, start, { blocks: BLOCKS, stakesPerBlock: STAKES, filler }, 10);
  console.log(`busy small blocks: ${busy.summary}`);
  const steady = await workload(node, busy.paramsDoc, start, (await kit.height()) - DEPTH + 1, ROUNDS);
  report('busy small blocks', steady, false);

  // ---- 2. full blocks ----
  const fullStart = (await kit.height()) + 1;
  const payments = new PaymentTraffic();
  let funded = false;
  const full = await buildChain(
    node,
    kit,
    fullStart,
    {
      blocks: FULL_BLOCKS,
      stakesPerBlock: FULL_STAKES,
      filler: () => {
        const fund = funded ? [] : [payments.fund(kit.coin(1_000_000_000n), FULL_TXS)];
        funded = true;
        return [...fund, ...payments.block()];
      },
    },
    2,
  );
  console.log(`\nfull blocks: ${full.summary}`);
  const fullRun = await workload(
    node,
    full.paramsDoc,
    fullStart,
    (await kit.height()) - DEPTH + 1,
    ROUNDS + 1,
  );
  const prescan = prescanRate(full.paramsDoc, fullStart, fullRun.raws);
  report('full blocks', fullRun, true);
  console.log(
    `  prescan alone, one thread       ${rates(fullRun.second.txs, fullRun.second.bytes, prescan.secondsForSecondHalf)}  (${prescan.secondsForSecondHalf.toFixed(3)} s for the second half; ${prescan.candidates.toLocaleString('en-US')} candidates in ${prescan.txs.toLocaleString('en-US')} txs)`,
  );
  const prescanRatio = fullRun.nodeSecond.seconds / prescan.secondsForSecondHalf;
  console.log(`  prescan / node = ${prescanRatio.toFixed(3)} (target ≥ 0.8)`);

  printResult({
    steady_ratio: steady.steadyRatio,
    full_block_ratio: fullRun.steadyRatio,
    whole_sync_ratio: steady.wholeRatio,
    full_block_whole_ratio: fullRun.wholeRatio,
    prescan_ratio: prescanRatio,
    indexer_blocks_per_s: steady.second.blocks / steady.sync.steadySeconds,
    node_blocks_per_s: steady.second.blocks / steady.nodeSecond.seconds,
    full_indexer_txs_per_s: fullRun.second.txs / fullRun.sync.steadySeconds,
    full_indexer_mb_per_s: fullRun.second.bytes / 1e6 / fullRun.sync.steadySeconds,
    full_node_mb_per_s: fullRun.second.bytes / 1e6 / fullRun.nodeSecond.seconds,
    peak_rss_mib: Math.round(steady.sync.maxRssMiB),
  });
} finally {
  await node.stop();
  await broker.destroy();
}

/**
 * Builds and mines `opts.blocks` blocks of stakes, spends and `opts.filler` from `start`, then the
 * confirmation window. Returns the params (activating at `start`) and a line to print.
 */
async function buildChain(
  node: RegtestNode,
  kit: ChainKit,
  start: number,
  opts: Parameters<typeof buildBusyBlocks>[3],
  blocksPerCall: number,
) {
  const t0 = performance.now();
  const paramsDoc = testParamsDoc(SCENARIO_COVENANTS, {
    activation_height: start,
    staking_cap: 1_000_000_000_000,
    min_staking_amount: 10_000,
    max_staking_amount: 1_000_000,
    min_staking_time: 5,
    max_staking_time: 1000,
    unbonding_time: 3,
    confirmation_depth: DEPTH,
  });
  const version = parseGlobalParams(paramsDoc).versions[0]!;
  const plan = buildBusyBlocks(kit, version, start - 1, opts);
  const tBuilt = performance.now();
  for (let i = 0; i < plan.blocks.length; i += blocksPerCall) {
    const res = await node.rpc.batch(
      plan.blocks.slice(i, i + blocksPerCall).map((txs) => ({
        method: 'generateblock',
        params: [kit.descriptor, txs.map((t) => t.toHex())],
      })),
    );
    const bad = res.find((r) => !r.ok);
    if (bad && !bad.ok) throw bad.error;
  }
  await kit.mineEmpty(DEPTH);
  const totalTxs = plan.blocks.reduce((a, b) => a + b.length + 1, 0);
  return {
    paramsDoc,
    summary: `${opts.blocks} blocks from ${start}, ${totalTxs.toLocaleString('en-US')} txs (${plan.stakes} stakes, ${plan.unbondings} unbondings, ${plan.withdraws} withdraws); built in ${((tBuilt - t0) / 1000).toFixed(1)} s, mined in ${((performance.now() - tBuilt) / 1000).toFixed(1)} s`,
  };
}

interface Served {
  seconds: number;
  nodeCpu: number;
}
type Sync = ReturnType<typeof parseSync>;

/**
 * The rounds of one workload: heights [from, to] confirmed. The node is timed over every height
 * and over the second half, the heights of the indexer's steady window.
 */
async function workload(node: RegtestNode, paramsDoc: unknown, from: number, to: number, roundCount: number) {
  const mid = from + Math.floor((to - from + 1) / 2) - 1;
  const rest = new RestClient({ url: node.rpcUrl, connections: CONCURRENCY });
  // The raw blocks once, for their sizes and transaction counts (and the prescan's timing).
  const heights = range(from, to);
  const raws = await rest.blocks(await rest.blockHashes(heights));
  const txCount = raws.map(txCountOf);
  const totals = (a: number, b: number) => ({
    blocks: b - a + 1,
    txs: txCount.slice(a - from, b - from + 1).reduce((x, y) => x + y, 0),
    bytes: raws.slice(a - from, b - from + 1).reduce((x, y) => x + y.length, 0),
  });
  const serve = async (a: number, b: number): Promise<Served> => {
    const batches: number[][] = [];
    for (let h = a; h <= b; h += BATCH) batches.push(range(h, Math.min(b, h + BATCH - 1)));
    const cpu0 = cpuSecondsOf(node.pid);
    const t = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < batches.length) await rest.blocks(await rest.blockHashes(batches[next++]!));
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return { seconds: (performance.now() - t) / 1000, nodeCpu: cpuSecondsOf(node.pid) - cpu0 };
  };
  const rounds: { whole: Served; second: Served; sync: Sync }[] = [];
  for (let i = 0; i < roundCount; i++) {
    const whole = await serve(from, to);
    const second = await serve(mid + 1, to);
    rounds.push({ whole, second, sync: await syncOnce(node, paramsDoc, mid, to) });
  }
  rest.close();
  const best = <T>(xs: readonly T[], seconds: (x: T) => number): T =>
    xs.reduce((a, b) => (seconds(b) < seconds(a) ? b : a));
  const nodeWhole = best(
    rounds.map((r) => r.whole),
    (x) => x.seconds,
  );
  const nodeSecond = best(
    rounds.map((r) => r.second),
    (x) => x.seconds,
  );
  const sync = best(
    rounds.map((r) => r.sync),
    (x) => x.steadySeconds / (to - x.steadyFrom),
  );
  // The node's rate over the second half against the indexer's over its window (a batch or two
  // shorter: it starts at the first commit past the middle).
  const steadyRatio = (to - sync.steadyFrom) / sync.steadySeconds / ((to - mid) / nodeSecond.seconds);
  return {
    from,
    to,
    raws,
    all: totals(from, to),
    second: totals(sync.steadyFrom + 1, to),
    nodeWhole,
    nodeSecond,
    sync,
    rounds,
    steadyRatio,
    wholeRatio: nodeWhole.seconds / sync.syncSeconds,
    nodeSecondBlocks: to - mid,
  };
}

/** One sync from a fresh store, in a fresh process; its directory and queues are removed after. */
async function syncOnce(node: RegtestNode, paramsDoc: unknown, mid: number, to: number) {
  const prof = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const setup = await testSetup(node, broker.url, paramsDoc, { pollMs: 50 });
  try {
    const nodeCpu0 = cpuSecondsOf(node.pid);
    const child = spawnSync(
      process.execPath,
      [...prof, '--import', 'tsx', 'indexer/bench/syncRunner.ts', setup.configFile, String(mid), String(to)],
      { cwd: repo, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } },
    );
    if (child.status !== 0) throw new Error(`sync runner failed: ${child.stderr}`);
    return { ...parseSync(child.stdout), nodeCpuDuringSync: cpuSecondsOf(node.pid) - nodeCpu0 };
  } finally {
    rmSync(setup.dir, { recursive: true, force: true });
    const conn = await connectBroker({ url: broker.url });
    await deleteTopology(await openConsumerChannel(conn), setup.names).finally(() => conn.close());
  }
}

function parseSync(stdout: string) {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    syncSeconds: number;
    caughtUpSeconds: number;
    steadyFrom: number;
    steadySeconds: number;
    steadyCpuSeconds: number;
    publishedSeconds: number;
    blocks: number;
    txs: number;
    decoded: number;
    events: number;
    maxRssMiB: number;
    cpuSeconds: number;
    mainThreadCpuSeconds: number;
    steadyMainCpuSeconds: number;
    nodeCpuDuringSync: number;
  };
}

/**
 * The prescan over the raw blocks, on this thread, as the fetch thread runs it (one
 * `RangePrescan` from an empty filter, in height order): the best of three passes after one
 * warm-up, over the whole range, and the share of it the second half took.
 */
function prescanRate(paramsDoc: unknown, from: number, raws: readonly Uint8Array[]) {
  const params = parseGlobalParams(paramsDoc);
  const mid = Math.floor(raws.length / 2);
  let best = Number.POSITIVE_INFINITY;
  let candidates = 0;
  let txs = 0;
  for (let pass = 0; pass < 4; pass++) {
    const p = new RangePrescan(params, []);
    candidates = 0;
    txs = 0;
    let t = 0;
    for (let i = 0; i < raws.length; i++) {
      if (i === mid) t = performance.now();
      const r = p.next(from + i, raws[i]!);
      if (!r) throw new Error(`the prescan failed at height ${from + i}`);
      candidates += r.candidates.length;
      txs += r.txCount;
    }
    const s = (performance.now() - t) / 1000;
    if (pass > 0 && s < best) best = s;
  }
  return { secondsForSecondHalf: best, candidates, txs };
}

function report(title: string, w: Awaited<ReturnType<typeof workload>>, perTx: boolean): void {
  const s = w.sync;
  const steadyBlocks = w.to - s.steadyFrom;
  console.log(
    `\n${title}: ${w.all.blocks} confirmed blocks, ${w.all.txs.toLocaleString('en-US')} txs, ${(w.all.bytes / 1e6).toFixed(1)} MB; steady window: the last ${steadyBlocks} blocks, ${w.second.txs.toLocaleString('en-US')} txs, ${(w.second.bytes / 1e6).toFixed(1)} MB`,
  );
  const secondNode = w.nodeSecond.seconds * (steadyBlocks / w.nodeSecondBlocks);
  const line = (label: string, blocks: number, txs: number, bytes: number, seconds: number) =>
    console.log(
      `  ${label.padEnd(32)}${perTx ? rates(txs, bytes, seconds) : `${fmt(blocks / seconds)} blocks/s ${fmt(txs / seconds)} txs/s ${fmt(bytes / 1e6 / seconds)} MB/s`}  (${seconds.toFixed(2)} s)`,
    );
  line('node alone, second half (REST)', steadyBlocks, w.second.txs, w.second.bytes, secondNode);
  line('indexer, steady window', steadyBlocks, w.second.txs, w.second.bytes, s.steadySeconds);
  console.log(`  steady ratio indexer / node = ${w.steadyRatio.toFixed(3)} (target ≥ 0.8)`);
  // CPU per block is what two loaded cores cannot hide: the ratio the machine allows is bounded by
  // the node's and the indexer's CPU together, whatever else runs beside them.
  const us = (cpu: number, blocks: number) => `${Math.round((cpu * 1e6) / blocks)} µs`;
  console.log(
    `  CPU per block in the steady window: the node ${us(w.nodeSecond.nodeCpu, w.nodeSecondBlocks)} serving alone; the indexer ${us(s.steadyCpuSeconds, steadyBlocks)} (main thread ${us(s.steadyMainCpuSeconds, steadyBlocks)}, fetch thread, GC and compiler ${us(s.steadyCpuSeconds - s.steadyMainCpuSeconds, steadyBlocks)})`,
  );
  line('node alone, every block (REST)', w.all.blocks, w.all.txs, w.all.bytes, w.nodeWhole.seconds);
  line('indexer, whole sync', w.all.blocks, w.all.txs, w.all.bytes, s.syncSeconds);
  console.log(`  whole-sync ratio indexer / node = ${w.wholeRatio.toFixed(3)}`);
  for (const [i, r] of w.rounds.entries()) {
    console.log(
      `    round ${i + 1}: node ${r.whole.seconds.toFixed(2)} s (second half ${r.second.seconds.toFixed(2)} s), sync ${r.sync.syncSeconds.toFixed(2)} s (steady window ${r.sync.steadySeconds.toFixed(2)} s)`,
    );
  }
  console.log(
    `  fully decoded: ${s.decoded.toLocaleString('en-US')} of ${s.txs.toLocaleString('en-US')} txs; ${s.events.toLocaleString('en-US')} events, all confirmed by RabbitMQ after ${s.publishedSeconds.toFixed(2)} s; indexer peak RSS ${s.maxRssMiB.toFixed(0)} MiB`,
  );
  // Where the two cores went: the ratio is bounded by the CPU the whole pipeline needs, not only
  // by the indexer's wall time.
  console.log(
    `  CPU: the node ${w.nodeWhole.nodeCpu.toFixed(2)} s serving every block alone, ${s.nodeCpuDuringSync.toFixed(2)} s during the indexer's run; the indexer ${s.cpuSeconds.toFixed(2)} s (${s.mainThreadCpuSeconds.toFixed(2)} s on its main thread, the rest on the fetch thread and V8's compiler and GC threads), ${s.steadyCpuSeconds.toFixed(2)} s of it in the steady window (${s.steadyMainCpuSeconds.toFixed(2)} s on the main thread)`,
  );
}

function rates(txs: number, bytes: number, seconds: number): string {
  return `${fmt(txs / seconds)} txs/s ${fmt(bytes / 1e6 / seconds)} MB/s`;
}
function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US').padStart(10);
}
function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** The transaction count at the start of a raw block (after the 80-byte header). */
function txCountOf(raw: Uint8Array): number {
  const b = raw[80]!;
  if (b < 0xfd) return b;
  if (b === 0xfd) return raw[81]! | (raw[82]! << 8);
  return (raw[81]! | (raw[82]! << 8) | (raw[83]! << 16) | (raw[84]! << 24)) >>> 0;
}
