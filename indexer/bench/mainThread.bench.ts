/**
 * The indexer's main thread alone, per busy block: `npx tsx indexer/bench/mainThread.bench.ts`.
 *
 * bench:indexer judges the busiest thread's CPU per busy block, and the main thread (decide,
 * commit, the relay's deletes) is that thread in the steady window; the bench reads it in ticks of
 * 10 ms over windows of a second or so. This replays the bench's busy chain (the same blocks:
 * BENCH_FILLERS OP_TRUE spends and BENCH_STAKES stakes a block, with the unbondings and withdraws
 * of `buildBusyBlocks`) through the main thread's code exactly as the service runs it (the
 * follower's loop, the processor, the store's commits, the metrics), fed as the fetch and verdicts
 * threads hand blocks over (walked, decided, packed, cloned), and reads the thread's CPU from
 * /proc/thread-self/schedstat (nanoseconds on the CPU) at each commit. Each run is a process of
 * its own with a fresh store, as a sync is: the JIT warms up over the first half and the curve's
 * and the spends' key caches start empty; the figure is the second half's CPU per block, as the
 * bench's steady window. The relay's confirms are made at once after each commit (their deletes
 * are this thread's work); the hand-off's deserialization is not counted (it was done before).
 *
 * The chain is built once on a regtest node and kept in MAIN_BENCH_DIR (default
 * $TMPDIR/indexer-main-bench), so that two trees can be compared on the same blocks: run it in each,
 * alternating, several times (other sessions' load moves CPU time too). BENCH_BLOCKS (default
 * 6,000), BENCH_RUNS (default 5). Prints each run's figures, then their median and spread, and ends with
 * `RESULT main_us_per_busy_block=… min_us=… max_us=… runs=…`.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { RestClient, type RpcClient, startRegtestNode } from '../../bitcoind/index.ts';
import { parseGlobalParams } from '../../params/index.ts';
import { printResult } from '../../test/bench/measure.ts';
import { cpuSecondsOf } from '../../test/infra/cpu.ts';
import type { FetchedBlock } from '../fetchAhead.ts';
import { ChainFollower } from '../follower.ts';
import { createIndexerMetrics, recordBlocks } from '../metrics.ts';
import {
  type PrescanBatch,
  packPrescans,
  packWalks,
  RangeVerdicts,
  RangeWalk,
  unpackPrescans,
  unpackWalks,
} from '../prescan.ts';
import { StakesSeen } from '../spendRules.ts';
import { IndexerStore } from '../store.ts';
import { ChainKit } from '../testkit/chain.ts';
import { DEFAULT_FETCH } from '../testkit/harness.ts';
import { buildBusyBlocks } from '../testkit/scenario.ts';
import { BENCH_DEPTH, benchParamsDoc, opTrueFiller } from './busyChain.ts';

const DIR = process.env.MAIN_BENCH_DIR ?? join(tmpdir(), 'indexer-main-bench');
const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 6000);
const FILLERS = Number(process.env.BENCH_FILLERS ?? 150);
const STAKES = Number(process.env.BENCH_STAKES ?? 1);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DEPTH = BENCH_DEPTH;

interface Chain {
  readonly start: number;
  readonly tip: number;
  readonly hashes: readonly string[];
  readonly paramsDoc: unknown;
}
interface Batch {
  readonly heights: readonly number[];
  readonly hashes: readonly string[];
  readonly batch: PrescanBatch;
}
interface Run {
  /** Main-thread CPU per block, µs: the second half of the busy blocks, and every block. */
  readonly steadyUs: number;
  readonly wholeUs: number;
  readonly commits: number;
}

const chainDir = join(DIR, `busy-${BLOCKS}-${FILLERS}-${STAKES}`);
if (process.argv[2] === '--run') {
  console.log(JSON.stringify(await replay(readChain(), deserialize(readFileSync(process.argv[3]!)))));
  process.exit(0);
}

if (!existsSync(join(chainDir, 'chain.json'))) await buildChain();
const chain = readChain();
const work = mkdtempSync(join(tmpdir(), 'main-bench-'));
try {
  const batchesFile = join(work, 'batches.v8');
  writeFileSync(batchesFile, serialize(handOffs(chain)));
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'indexer/bench/mainThread.bench.ts', '--run', batchesFile],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        encoding: 'utf8',
        env: { ...process.env, MAIN_BENCH_DIR: DIR },
      },
    );
    if (child.status !== 0) throw new Error(`run failed: ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Run;
    runs.push(r);
    console.log(
      `run ${i + 1}: main thread ${r.steadyUs.toFixed(1)} µs per busy block (second half), ${r.wholeUs.toFixed(1)} µs over the sync, ${r.commits} commits`,
    );
  }
  const steady = runs.map((r) => r.steadyUs).sort((a, b) => a - b);
  console.log(
    `main thread per busy block, second half: median ${median(steady).toFixed(1)} µs (min ${steady[0]!.toFixed(1)}, max ${steady.at(-1)!.toFixed(1)}) over ${RUNS} runs of ${BLOCKS} blocks`,
  );
  printResult({
    main_us_per_busy_block: median(steady),
    min_us: steady[0]!,
    max_us: steady.at(-1)!,
    runs: RUNS,
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}

function median(sorted: readonly number[]): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}

function readChain(): Chain & { raws: Uint8Array[] } {
  const meta = JSON.parse(readFileSync(join(chainDir, 'chain.json'), 'utf8')) as Chain;
  const buf = readFileSync(join(chainDir, 'chain.bin'));
  const raws: Uint8Array[] = [];
  for (let at = 0; at < buf.length; ) {
    const n = buf.readUInt32LE(at);
    raws.push(new Uint8Array(buf.subarray(at + 4, at + 4 + n)));
    at += 4 + n;
  }
  return { ...meta, raws };
}

/** The busy blocks of bench:indexer (its first workload), then the confirmation window, saved raw. */
async function buildChain(): Promise<void> {
  const node = await startRegtestNode({ extraArgs: ['-rest=1', '-dbcache=1000'] });
  try {
    const kit = await ChainKit.create(node, { mature: Math.ceil((BLOCKS * (STAKES + 1)) / 499) + 4 });
    const start = (await kit.height()) + 1;
    const paramsDoc = benchParamsDoc(start);
    const version = parseGlobalParams(paramsDoc).versions[0]!;
    // As bench:indexer's busy blocks: a chain of OP_TRUE spends from one coin, no signatures.
    const filler = opTrueFiller(kit, FILLERS);
    const plan = buildBusyBlocks(kit, version, start - 1, { blocks: BLOCKS, stakesPerBlock: STAKES, filler });
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
    await kit.mineEmpty(DEPTH);
    const tip = await kit.height();
    const rest = new RestClient({ url: node.rpcUrl, connections: DEFAULT_FETCH.concurrency });
    const hashes = await rest.blockHashes(Array.from({ length: tip - start + 1 }, (_, i) => start + i));
    const raws = await rest.blocks(hashes);
    rest.close();
    const parts: Buffer[] = [];
    for (const r of raws) {
      const n = Buffer.alloc(4);
      n.writeUInt32LE(r.length);
      parts.push(n, Buffer.from(r.buffer, r.byteOffset, r.byteLength));
    }
    mkdirSync(chainDir, { recursive: true });
    writeFileSync(join(chainDir, 'chain.bin'), Buffer.concat(parts));
    writeFileSync(join(chainDir, 'chain.json'), JSON.stringify({ start, tip, hashes, paramsDoc }));
  } finally {
    await node.stop();
  }
}

/**
 * The confirmed blocks as the main thread receives them from the verdicts thread: walked (the
 * fetch thread's verdicts for every third block, as it makes them), decided, packed, and cloned as
 * a message is.
 */
function handOffs(c: Chain & { raws: Uint8Array[] }): Batch[] {
  const params = parseGlobalParams(c.paramsDoc);
  const walk = new RangeWalk(params, []);
  const verdicts = new RangeVerdicts(params, new StakesSeen());
  const out: Batch[] = [];
  for (let h = c.start; h <= c.tip - DEPTH + 1; h += DEFAULT_FETCH.batch) {
    const heights: number[] = [];
    for (let x = h; x <= Math.min(c.tip - DEPTH + 1, h + DEFAULT_FETCH.batch - 1); x++) heights.push(x);
    const raws = heights.map((x) => c.raws[x - c.start]!);
    const packed = packWalks(
      raws,
      heights.map((x, i) => walk.next(x, raws[i]!, x % 3 === 0)),
    );
    const prescanned = unpackWalks(packed).map((w, i) => {
      const prescan = w && verdicts.next(heights[i]!, w.walked);
      if (!w || !prescan) throw new Error(`no prescan for block ${heights[i]}`);
      return { header: w.header, prescan };
    });
    out.push({
      heights,
      hashes: heights.map((x) => c.hashes[x - c.start]!),
      batch: structuredClone(packPrescans(packed.bytes, prescanned)),
    });
  }
  return out;
}

/** One sync of the chain from a fresh store through the follower, timed on this thread. */
async function replay(c: Chain & { raws: Uint8Array[] }, batches: Batch[]): Promise<Run> {
  const params = parseGlobalParams(c.paramsDoc);
  const confirmedTip = c.tip - DEPTH + 1;
  const mid = c.start + Math.floor((c.tip - DEPTH - c.start + 1) / 2) - 1;
  const rpc = {
    url: 'replay',
    getblockcount: async () => c.tip,
    getblockhash: async (h: number) => c.hashes[h - c.start]!,
    batch: async (calls: { method: string; params: unknown[] }[]) =>
      calls.map((call) => {
        const at = call.method === 'getblockhash' ? (call.params[0] as number) - c.start : -1;
        return {
          ok: true,
          result:
            at >= 0
              ? c.hashes[at]
              : Buffer.from(c.raws[c.hashes.indexOf(call.params[0] as string)]!).toString('hex'),
        };
      }),
  } as unknown as RpcClient;
  const dir = mkdtempSync(join(tmpdir(), 'main-bench-store-'));
  const store = IndexerStore.open(join(dir, 'store'), params);
  const metrics = createIndexerMetrics();
  const marks: [height: number, ns: number][] = [];
  let next = 0;
  const follower = new ChainFollower({
    rpc,
    params,
    store,
    fetcher: () => ({
      take: async (max) => {
        const out: FetchedBlock[] = [];
        while (next < batches.length && out.length < max) {
          const b = batches[next++]!;
          const blocks = unpackPrescans(b.batch);
          b.heights.forEach((height, i) => {
            const p = blocks[i]!;
            out.push({ height, hash: b.hashes[i]!, raw: p.header, prescan: p.prescan });
          });
        }
        return out;
      },
      cancel() {},
    }),
    hooks: {
      onBlocks: (results) => recordBlocks(metrics, results),
      onCommitted() {
        metrics.outboxDepth.set(store.outboxDepth());
        // As the relay thread's confirm of everything committed so far.
        store.deleteOutboxThrough(store.outboxFirst() + store.outboxDepth() - 1);
        marks.push([store.last()?.height ?? 0, threadNs()]);
      },
    },
  });
  const t0 = threadNs();
  // The sync's start, for a chain too short to have a commit before its middle.
  marks.push([c.start - 1, t0]);
  try {
    await follower.poll();
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const a = marks.findLast(([h]) => h <= mid)!;
  const b = marks.findLast(([h]) => h <= confirmedTip)!;
  return {
    steadyUs: (b[1] - a[1]) / 1e3 / (b[0] - a[0]),
    wholeUs: (b[1] - t0) / 1e3 / (b[0] - c.start + 1),
    commits: marks.length - 1,
  };
}

/** The main thread's (the replay's) time on the CPU so far, in nanoseconds: test/infra/cpu.ts's schedstat reading. */
function threadNs(): number {
  return cpuSecondsOf(process.pid, process.pid) * 1e9;
}
