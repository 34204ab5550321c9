/**
 * `npm run bench:indexer` (tsx indexer/bench/indexer.bench.ts): one regtest chain (-rest=1, so the
 * indexer fetches over REST, as `fetch_via = "auto"` chooses) of two workloads, one after the other:
 *
 * 1. Busy small blocks (BENCH_BLOCKS, default 6,000): each with BENCH_FILLERS ordinary
 *    transactions (a chain of OP_TRUE spends, default 150) and BENCH_STAKES stakes (default 1),
 *    plus the unbondings and withdraws of earlier stakes.
 * 2. Full blocks (BENCH_FULL_BLOCKS, default 480; 120 until 2026-12-07, fewer than the fetch reaches ahead): each with BENCH_FULL_TXS signed P2WPKH payments
 *    (default 1,000; test/infra/bulkTxs.ts) and BENCH_FULL_STAKES stakes (default 3) with their
 *    unbondings and withdraws.
 *
 * BENCH_ROUNDS rounds (default 5), each: the node alone serving every block over REST (block
 * hashes and raw blocks in the batches and concurrency the indexer asks with), then the indexer
 * syncing the whole chain from a fresh store in a process of its own (events published to
 * RabbitMQ with confirms), then the node alone serving exactly the heights of each of the sync's
 * windows, BENCH_NODE_TRIES times (default 5), back to back with the sync it is compared with.
 *
 * The figures judged are steady rates, each against the node serving the same heights:
 * - steady: the second half of the busy blocks, from the sync's last commit at or before their
 *   middle to its last commit within them;
 * - full blocks: the second half of the full blocks, from the sync's last commit at or before
 *   their middle to the end. The indexer is warm by then, as a service is: a fresh process's
 *   start-up and JIT warm-up (about a second) fall before both, and on full blocks so does the
 *   filling of the fetch thread's block memory (`BlockMemory`): it reaches up to fetch_batch_blocks
 *   × fetch_concurrency = 128 blocks ahead, and every one of those first blocks is read into fresh
 *   memory (page faults), which a chain of full blocks pays once, not per block.
 * A round's ratio is the node's median time for the window over the indexer's; the figure is the
 * median of the rounds' ratios (nearest rank), printed with every round's, so the spread shows.
 * The full-block window lasts a fraction of a second (the node serves it in about 0.05 s) and
 * overlaps the relay publishing the busy blocks' events, so one round alone moves by a factor of
 * two or more. Each thread's CPU comes from its scheduler statistics (nanoseconds), not ticks of
 * 10 ms, and each is named by its role (main, fetch, verdicts, relay, V8 helper); the busiest
 * thread's CPU per block gives the rate it allows, also a median over the rounds.
 * The whole-sync ratio is printed beside them. The prescan (the walk and staking verdicts that
 * decide which transactions can matter, the fetch and verdicts threads' work) is also timed alone
 * on this thread over the full blocks, in BENCH_NODE_TRIES passes alternating with the node
 * serving exactly those blocks: the node's median time over the prescan's median thread CPU (a
 * single synchronous thread: its time on a core of its own), its wall time's ratio beside.
 * Ends with `RESULT steady_ratio=… full_block_ratio=… …` (targets: both ≥ 0.8). With RabbitMQ's CPU
 * measured (the broker found by the port it listens on), it also prints two cores' ceiling: the
 * node's rate times 2 cores / (the node's + the broker's CPU for the chain), the most any indexer
 * publishing these events could reach here even if it used no CPU itself (`two_core_ceiling_ratio`).
 *
 * Profiles: BENCH_CPU_PROF=<dir> (V8's --cpu-prof, one .cpuprofile per thread of each sync), or
 * BENCH_INDEXER_PERF=<dir>: each sync under `perf record -e cpu-clock -g` (JS symbols from
 * --perf-basic-prof, so not a figure to quote), kept as <dir>/sync-<n>.perf.data. Per thread:
 * `perf report -i <file> --stdio --sort comm,pid -g none` (the worker threads are named
 * fetchThread, verdictThread and relay; of the `node` threads the main thread's tid is the pid,
 * the rest are V8's compiler and GC helpers, libuv's pool and tsx's loader), then `perf report -i
 * <file> --stdio --no-children --comm fetchThread -s dso,sym -g none` (or `--tid <tid>`). All
 * isolates' JIT code shares one perf map, so a JS symbol may be misnamed
 * where their code addresses were reused; native and kernel frames are exact.
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlockMemory, type RegtestNode, RestClient, startRegtestNode } from '../../bitcoind/index.ts';
import { connectBroker, deleteTopology, openConsumerChannel } from '../../events/index.ts';
import { type ParamsVersion, parseGlobalParams } from '../../params/index.ts';
import { percentile } from '../../test/bench/fsyncLatency.ts';
import { printResult } from '../../test/bench/measure.ts';
import { PaymentTraffic } from '../../test/infra/bulkTxs.ts';
import { cpuSecondsOf, pidListeningOn } from '../../test/infra/cpu.ts';
import { sharedBroker } from '../../test/infra/rabbitmq.ts';
import { RangePrescan } from '../prescan.ts';
import { ChainKit } from '../testkit/chain.ts';
import { DEFAULT_FETCH, testSetup } from '../testkit/harness.ts';
import { buildBusyBlocks } from '../testkit/scenario.ts';
import { BENCH_DEPTH, benchParamsDoc, opTrueFiller } from './busyChain.ts';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 6000);
const FILLERS = Number(process.env.BENCH_FILLERS ?? 150);
const STAKES = Number(process.env.BENCH_STAKES ?? 1);
const FULL_BLOCKS = Number(process.env.BENCH_FULL_BLOCKS ?? 480);
const FULL_TXS = Number(process.env.BENCH_FULL_TXS ?? 1000);
const FULL_STAKES = Number(process.env.BENCH_FULL_STAKES ?? 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const NODE_TRIES = Math.max(1, Number(process.env.BENCH_NODE_TRIES ?? 5));
const PERF_DIR = process.env.BENCH_INDEXER_PERF ? resolve(process.env.BENCH_INDEXER_PERF) : undefined;
let perfRuns = 0;
const DEPTH = BENCH_DEPTH;
// The node is asked for its blocks as the bench's syncs ask: the config's batch and concurrency.
const BATCH = DEFAULT_FETCH.batch;
const CONCURRENCY = DEFAULT_FETCH.concurrency;
const repo = fileURLToPath(new URL('../..', import.meta.url));

if (PERF_DIR) mkdirSync(PERF_DIR, { recursive: true });
const node = await startRegtestNode({
  extraArgs: ['-rest=1', '-dbcache=1000', '-rpcworkqueue=64', '-rpcthreads=8'],
});
const broker = await sharedBroker();
try {
  const coinbasesNeeded = Math.ceil((BLOCKS * (STAKES + 1) + FULL_BLOCKS * (FULL_STAKES + 1)) / 499) + 4;
  const kit = await ChainKit.create(node, { mature: coinbasesNeeded });

  const start = (await kit.height()) + 1;
  const paramsDoc = benchParamsDoc(start);
  const version = parseGlobalParams(paramsDoc).versions[0]!;
  const filler = opTrueFiller(kit, FILLERS);
  console.log(
    `busy small blocks: ${await buildChain(node, kit, version, { blocks: BLOCKS, stakesPerBlock: STAKES, filler }, 10)}`,
  );
  const busyEnd = await kit.height();
  const fullStart = busyEnd + 1;
  const payments = new PaymentTraffic();
  let funded = false;
  const fullFiller = () => {
    const fund = funded ? [] : [payments.fund(kit.coin(1_000_000_000n), FULL_TXS)];
    funded = true;
    return [...fund, ...payments.block()];
  };
  console.log(
    `full blocks: ${await buildChain(node, kit, version, { blocks: FULL_BLOCKS, stakesPerBlock: FULL_STAKES, filler: fullFiller }, 2)}`,
  );
  const to = (await kit.height()) - DEPTH + 1;
  const busyMid = start + Math.floor((busyEnd - start + 1) / 2) - 1;
  const fullMid = fullStart + Math.floor((to - fullStart + 1) / 2) - 1;

  const rest = new RestClient({ url: node.rpcUrl, connections: CONCURRENCY });
  const raws = await rest.blocks(await rest.blockHashes(range(start, to)));
  const totals = (a: number, b: number) => ({
    blocks: b - a + 1,
    txs: raws.slice(a - start, b - start + 1).reduce((x, y) => x + txCountOf(y), 0),
    bytes: raws.slice(a - start, b - start + 1).reduce((x, y) => x + y.length, 0),
  });
  const memory = new BlockMemory();
  const serve = async (a: number, b: number): Promise<Served> => {
    const batches: number[][] = [];
    for (let h = a; h <= b; h += BATCH) batches.push(range(h, Math.min(b, h + BATCH - 1)));
    const cpu0 = cpuSecondsOf(node.pid);
    const client0 = cpuSecondsOf(process.pid);
    const t = performance.now();
    let next = 0;
    // Read into memory used again, as the indexer's fetch thread reads (BlockMemory): a fresh
    // 200 kB buffer a block costs this client page faults the node's rate would be charged for.
    const worker = async () => {
      while (next < batches.length) {
        const blocks = await rest.blocks(await rest.blockHashes(batches[next++]!), memory);
        memory.give(blocks.map((b) => b.buffer as ArrayBuffer));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return {
      seconds: (performance.now() - t) / 1000,
      nodeCpu: cpuSecondsOf(node.pid) - cpu0,
      clientCpu: cpuSecondsOf(process.pid) - client0,
    };
  };
  // The node serving [a, b] NODE_TRIES times: the median time; the CPU per try over all of them
  // (the node's and this process's are whole-process figures in ticks of 10 ms, so summed first).
  const serveMedian = async (a: number, b: number): Promise<Served> => {
    const tries: Served[] = [];
    for (let i = 0; i < NODE_TRIES; i++) tries.push(await serve(a, b));
    return {
      seconds: median(tries.map((x) => x.seconds)),
      nodeCpu: tries.reduce((x, y) => x + y.nodeCpu, 0) / tries.length,
      clientCpu: tries.reduce((x, y) => x + y.clientCpu, 0) / tries.length,
    };
  };

  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const whole = await serve(start, to);
    const sync = await syncOnce(node, paramsDoc, to);
    // The node over each window's heights right after the sync, so both sides of a round's ratio
    // see the same machine.
    const busy = windowOf(sync, start, busyMid, busyEnd, 'within');
    const full = windowOf(sync, start, fullMid, to, 'through');
    rounds.push({
      whole,
      sync,
      busy: { ...busy, node: await serveMedian(busy.from, busy.to) },
      full: { ...full, node: await serveMedian(full.from, full.to) },
    });
  }
  const all = totals(start, to);
  console.log(
    `\nsync of ${all.blocks} confirmed blocks from ${start}, ${all.txs.toLocaleString('en-US')} txs, ${(all.bytes / 1e6).toFixed(1)} MB`,
  );
  for (const [i, r] of rounds.entries()) {
    const rate = (w: Window) => `${(totals(w.from, w.to).bytes / 1e6 / w.seconds).toFixed(1)} MB/s`;
    console.log(
      `  round ${i + 1}: node ${r.whole.seconds.toFixed(2)} s, sync ${r.sync.syncSeconds.toFixed(2)} s in ${r.sync.commits} commits; steady window ${rate(r.busy)}, full blocks ${rate(r.full)}`,
    );
  }
  const steady = report(
    'busy small blocks, steady window',
    rounds.map((r) => r.busy),
    totals,
    false,
  );
  const full = report(
    'full blocks (the indexer warm)',
    rounds.map((r) => r.full),
    totals,
    true,
  );
  // The whole sync: the median round by its ratio.
  const wholeRatios = rounds.map((r) => r.whole.seconds / r.sync.syncSeconds);
  const wholeRatio = median(wholeRatios);
  const { whole: nodeWhole, sync: s } = rounds[wholeRatios.indexOf(wholeRatio)]!;
  console.log(
    `\nwhole sync (the median round): node alone ${nodeWhole.seconds.toFixed(2)} s, indexer ${s.syncSeconds.toFixed(2)} s; whole-sync ratio ${wholeRatio.toFixed(3)} ${spread(wholeRatios)}`,
  );
  let ceiling: number | undefined;
  console.log(
    `  fully decoded: ${s.decoded.toLocaleString('en-US')} of ${s.txs.toLocaleString('en-US')} txs; ${s.events.toLocaleString('en-US')} events, all confirmed by RabbitMQ after ${s.publishedSeconds.toFixed(2)} s; indexer peak RSS ${s.maxRssMiB.toFixed(0)} MiB`,
  );
  console.log(
    `  CPU: the node ${nodeWhole.nodeCpu.toFixed(2)} s serving every block alone, ${s.nodeCpuDuringSync.toFixed(2)} s during the indexer's run; the indexer ${s.cpuSeconds.toFixed(2)} s (${s.mainThreadCpuSeconds.toFixed(2)} s on its main thread, the rest on its fetch, verdicts and relay threads and V8's helpers)`,
  );
  if (s.brokerCpu !== undefined) {
    // Persistent, confirmed messages: the broker's share of the two cores while the indexer syncs.
    console.log(
      `  RabbitMQ (the process on the broker's port): ${s.brokerCpu.toFixed(2)} s of CPU from the sync's start until every event was confirmed, ${Math.round((s.brokerCpu * 1e6) / s.events)} µs per event, ${Math.round((s.brokerCpu * 1e6) / all.blocks)} µs per block; the node serves a block for ${Math.round((nodeWhole.nodeCpu * 1e6) / all.blocks)} µs`,
    );
    // What two cores allow once the node and the broker have had their CPU, even for an indexer
    // that used none: the whole chain in (node + broker CPU) / 2 at best, against the node alone.
    ceiling = (2 * nodeWhole.seconds) / (nodeWhole.nodeCpu + s.brokerCpu);
    console.log(
      `  two cores' ceiling for any indexer publishing these events: (node + RabbitMQ CPU) / 2 = ${((nodeWhole.nodeCpu + s.brokerCpu) / 2).toFixed(2)} s for the chain, ${ceiling.toFixed(3)} of the node's rate, before the indexer's own CPU`,
    );
  }

  // The prescan against the node serving exactly the same blocks, alternating, the medians of each.
  const fullRaws = raws.slice(fullStart - start, to - start + 1);
  const prescanPass = prescanTimer(paramsDoc, fullStart, fullRaws);
  prescanPass(); // warm-up
  const pre: { seconds: number; cpu: number }[] = [];
  const fullNodeTries: number[] = [];
  for (let i = 0; i < NODE_TRIES; i++) {
    fullNodeTries.push((await serve(fullStart, to)).seconds);
    pre.push(prescanPass());
  }
  rest.close();
  // The prescan is one synchronous thread: on a core of its own its time is its CPU time, which
  // other processes on the machine do not stretch (its wall time, printed beside, they do).
  const prescanCpu = median(pre.map((p) => p.cpu));
  const prescanWall = median(pre.map((p) => p.seconds));
  const fullNode = median(fullNodeTries);
  const fullAll = totals(fullStart, to);
  console.log(
    `\nprescan alone, one thread, over the ${fullAll.blocks} full blocks, ${NODE_TRIES} passes: ${rates(fullAll.txs, fullAll.bytes, prescanCpu)} (its thread's CPU, median ${prescanCpu.toFixed(3)} s ${spread(pre.map((p) => p.cpu))}; wall ${prescanWall.toFixed(3)} s ${spread(pre.map((p) => p.seconds))})`,
  );
  console.log(
    `  the node serving them, alternating: ${rates(fullAll.txs, fullAll.bytes, fullNode)} (median ${fullNode.toFixed(3)} s ${spread(fullNodeTries)})`,
  );
  const prescanRatio = fullNode / prescanCpu;
  const prescanWallRatio = fullNode / prescanWall;
  console.log(
    `  prescan / node = ${prescanRatio.toFixed(3)} (target ≥ 0.8); by the prescan's wall time ${prescanWallRatio.toFixed(3)}`,
  );

  printResult({
    steady_ratio: steady.ratio,
    full_block_ratio: full.ratio,
    steady_thread_bound_ratio: steady.threadBound,
    full_block_thread_bound_ratio: full.threadBound,
    whole_sync_ratio: wholeRatio,
    ...(ceiling === undefined ? {} : { two_core_ceiling_ratio: ceiling }),
    prescan_ratio: prescanRatio,
    prescan_wall_ratio: prescanWallRatio,
    indexer_blocks_per_s: steady.blocksPerSecond,
    node_blocks_per_s: steady.nodeBlocksPerSecond,
    full_indexer_txs_per_s: full.txsPerSecond,
    full_indexer_mb_per_s: full.mbPerSecond,
    full_node_mb_per_s: full.nodeMbPerSecond,
    peak_rss_mib: Math.round(s.maxRssMiB),
  });
} finally {
  await node.stop();
  await broker.destroy();
}

/** Builds and mines `opts.blocks` blocks, then the confirmation window; returns a line to print. */
async function buildChain(
  node: RegtestNode,
  kit: ChainKit,
  version: ParamsVersion,
  opts: Parameters<typeof buildBusyBlocks>[3],
  blocksPerCall: number,
): Promise<string> {
  const t0 = performance.now();
  const start = (await kit.height()) + 1;
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
  return `${opts.blocks} blocks from ${start}, ${totalTxs.toLocaleString('en-US')} txs (${plan.stakes} stakes, ${plan.unbondings} unbondings, ${plan.withdraws} withdraws); built in ${((tBuilt - t0) / 1000).toFixed(1)} s, mined in ${((performance.now() - tBuilt) / 1000).toFixed(1)} s`;
}

interface Served {
  seconds: number;
  nodeCpu: number;
  /** This process's CPU while it only received the blocks: the floor of any REST client's cost. */
  clientCpu: number;
}
type Sync = ReturnType<typeof parseSync>;
interface Window {
  /** Heights [from, to] the indexer committed in `seconds`, with the CPU it used meanwhile. */
  from: number;
  to: number;
  seconds: number;
  cpu: number;
  mainCpu: number;
  /** The thread that used the most CPU in the window, by its role (syncRunner.ts), and its CPU. */
  busiest: { name: string; cpu: number };
  /** The CPU of the window's threads by role (`V8 helper` sums several threads). */
  roles: Map<string, number>;
}
type Measured = Window & { node: Served };
interface Round {
  whole: Served;
  sync: Sync;
  busy: Measured;
  full: Measured;
}

/**
 * The sync's window from its last commit at or before height `after` (or its start, `first`) to
 * its last commit within `last` (`within`), or its first commit at or past it (`through`).
 */
function windowOf(sync: Sync, first: number, after: number, last: number, end: 'within' | 'through'): Window {
  const marks = sync.marks.map(([t, height, cpu, main, threads]) => ({ t, height, cpu, main, threads }));
  const a = marks.findLast((m) => m.height <= after) ?? marks[0]!;
  const b = end === 'within' ? marks.findLast((m) => m.height <= last) : marks.find((m) => m.height >= last);
  if (!b || b.height <= a.height) throw new Error(`no commit closes the window after ${after} to ${last}`);
  let busiest = { name: 'main', cpu: 0 };
  const roles = new Map<string, number>();
  for (const [tid, [name, seconds]] of Object.entries(b.threads)) {
    const used = seconds - (a.threads[Number(tid)]?.[1] ?? 0);
    if (used > busiest.cpu) busiest = { name, cpu: used };
    roles.set(name, (roles.get(name) ?? 0) + used);
  }
  return {
    busiest,
    roles,
    from: Math.max(first, a.height + 1),
    to: b.height,
    seconds: b.t - a.t,
    cpu: b.cpu - a.cpu,
    mainCpu: b.main - a.main,
  };
}

/** One sync from a fresh store, in a fresh process; its directory and queues are removed after. */
async function syncOnce(node: RegtestNode, paramsDoc: unknown, to: number) {
  const prof = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const setup = await testSetup(node, broker.url, paramsDoc, { pollMs: 50 });
  try {
    const nodeCpu0 = cpuSecondsOf(node.pid);
    const brokerPid = pidListeningOn(Number(new URL(broker.url).port || 5672));
    const brokerCpu0 = brokerPid === undefined ? undefined : cpuIfAlive(brokerPid);
    const args = [...prof, '--import', 'tsx', 'indexer/bench/syncRunner.ts', setup.configFile, String(to)];
    const perfData = PERF_DIR && join(PERF_DIR, `sync-${++perfRuns}.perf.data`);
    const child = spawnSync(
      perfData ? 'perf' : process.execPath,
      perfData
        ? [
            'record',
            '-e',
            'cpu-clock',
            '-F',
            '999',
            '-g',
            '-o',
            perfData,
            '--',
            process.execPath,
            '--perf-basic-prof',
            ...args,
          ]
        : args,
      { cwd: repo, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } },
    );
    if (perfData) console.log(`  perf: ${perfData} (see the header for how to read it per thread)`);
    if (child.status !== 0) throw new Error(`sync runner failed: ${child.stderr}`);
    const brokerCpu1 = brokerPid === undefined ? undefined : cpuIfAlive(brokerPid);
    return {
      ...parseSync(child.stdout),
      nodeCpuDuringSync: cpuSecondsOf(node.pid) - nodeCpu0,
      // The broker serves only this bench when the machine is quiet; not measured if it could not
      // be found (another user's) or was not there for the whole sync (restarted meanwhile).
      brokerCpu: brokerCpu0 === undefined || brokerCpu1 === undefined ? undefined : brokerCpu1 - brokerCpu0,
    };
  } finally {
    rmSync(setup.dir, { recursive: true, force: true });
    const conn = await connectBroker({ url: broker.url });
    await deleteTopology(await openConsumerChannel(conn), setup.names).finally(() => conn.close());
  }
}

/** A process's CPU seconds, or undefined if it has ended. */
function cpuIfAlive(pid: number): number | undefined {
  try {
    return cpuSecondsOf(pid);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function parseSync(stdout: string) {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    syncSeconds: number;
    commits: number;
    caughtUpSeconds: number;
    marks: [number, number, number, number, Record<number, [string, number]>][];
    publishedSeconds: number;
    blocks: number;
    txs: number;
    decoded: number;
    events: number;
    maxRssMiB: number;
    cpuSeconds: number;
    mainThreadCpuSeconds: number;
    nodeCpuDuringSync: number;
    brokerCpu: number | undefined;
  };
}

/**
 * The prescan over the raw blocks, on this thread, as the fetch and verdicts threads run it (one
 * `RangePrescan` from an empty filter, in height order): each pass's wall time and this thread's
 * CPU.
 */
function prescanTimer(paramsDoc: unknown, from: number, raws: readonly Uint8Array[]) {
  const params = parseGlobalParams(paramsDoc);
  return (): { seconds: number; cpu: number } => {
    const p = new RangePrescan(params, []);
    const cpu0 = cpuSecondsOf(process.pid, process.pid);
    const t = performance.now();
    for (let i = 0; i < raws.length; i++) {
      if (!p.next(from + i, raws[i]!)) throw new Error(`the prescan failed at height ${from + i}`);
    }
    return { seconds: (performance.now() - t) / 1000, cpu: cpuSecondsOf(process.pid, process.pid) - cpu0 };
  };
}

/**
 * A window's figures over the rounds: every round's ratio and the rate its busiest thread allows,
 * their medians (nearest rank), and the detail of the median round.
 */
function report(
  title: string,
  ws: readonly Measured[],
  totals: (a: number, b: number) => { blocks: number; txs: number; bytes: number },
  perTx: boolean,
) {
  const ratios = ws.map((w) => w.node.seconds / w.seconds);
  const bounds = ws.map((w) => w.node.seconds / w.busiest.cpu);
  const ratio = median(ratios);
  const threadBound = median(bounds);
  const w = ws[ratios.indexOf(ratio)]!;
  const t = totals(w.from, w.to);
  const line = (label: string, seconds: number) =>
    console.log(
      `  ${label.padEnd(28)}${perTx ? rates(t.txs, t.bytes, seconds) : `${fmt(t.blocks / seconds)} blocks/s ${rates(t.txs, t.bytes, seconds)}`}  (${seconds.toFixed(2)} s)`,
    );
  console.log(
    `\n${title}: ratio indexer / node by round ${ratios.map((r) => r.toFixed(3)).join(', ')}; median ${ratio.toFixed(3)} (target ≥ 0.8)`,
  );
  console.log(
    `  the median round: heights ${w.from}-${w.to}, ${t.blocks} blocks, ${t.txs.toLocaleString('en-US')} txs, ${(t.bytes / 1e6).toFixed(1)} MB`,
  );
  line(`node alone (REST), median of ${NODE_TRIES}`, w.node.seconds);
  line('indexer', w.seconds);
  // CPU per block is what two loaded cores cannot hide: the ratio the machine allows is bounded by
  // the node's and the indexer's CPU together, whatever else runs beside them.
  const us = (cpu: number) => `${Math.round((cpu * 1e6) / t.blocks)} µs`;
  const byRole = [...w.roles]
    .sort((a, b) => b[1] - a[1])
    .map(([name, cpu]) => `${name} ${us(cpu)}`)
    .join(', ');
  console.log(
    `  CPU per block: the node ${us(w.node.nodeCpu)} serving alone (its REST client here ${us(w.node.clientCpu)}); the indexer ${us(w.cpu)} (${byRole}; threads ended within the window ${us(Math.max(0, w.cpu - [...w.roles.values()].reduce((a, b) => a + b, 0)))})`,
  );
  // On cores enough for the node, the broker and each of its threads, a pipeline of threads runs no
  // faster than its busiest thread: that thread's CPU per block bounds the rate the code allows,
  // whatever the two cores here must also carry.
  console.log(
    `  busiest indexer thread: ${w.busiest.name} ${us(w.busiest.cpu)} per block in the median round; the rate it allows / node by round ${bounds.map((b) => b.toFixed(3)).join(', ')}; median ${threadBound.toFixed(3)}`,
  );
  return {
    ratio,
    threadBound,
    blocksPerSecond: t.blocks / w.seconds,
    nodeBlocksPerSecond: t.blocks / w.node.seconds,
    txsPerSecond: t.txs / w.seconds,
    mbPerSecond: t.bytes / 1e6 / w.seconds,
    nodeMbPerSecond: t.bytes / 1e6 / w.node.seconds,
  };
}

/** The median (nearest rank, so always one of the values). */
function median(xs: readonly number[]): number {
  return percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
}
/** `(min–max)` of a list, for a median printed beside it. */
function spread(xs: readonly number[], digits = 3): string {
  return `(${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
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
