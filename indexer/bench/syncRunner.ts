/**
 * Child process of the indexer benchmark: starts the indexer from a config file, waits until it
 * has decided every confirmed block and the broker has confirmed every event, and prints one JSON
 * line with the times and this process's peak RSS. A process of its own, so the RSS is the
 * indexer's alone (not the chain generator's).
 *
 * argv: the config file and the last height to sync. Besides the totals, the JSON has every
 * commit's last height with its time and the process's CPU (all of it, and its main thread's) when
 * it was made, from which the benchmark cuts its steady windows: a fresh process's start-up and
 * JIT warm-up fall before them, as they fall before any block of a long-running service.
 */
import { pino } from 'pino';
import { cpuSecondsOf, threadCpuOf } from '../../test/infra/cpu.ts';
import { startIndexer } from '../app.ts';
import { loadIndexerConfig } from '../config.ts';

const configFile = process.argv[2]!;
const endHeight = Number(process.argv[3]);
// Timed from the moment the indexer is up (store open, listener bound): the sync itself.
const indexer = await startIndexer(loadIndexerConfig(configFile), { logger: pino({ level: 'warn' }) });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const mainCpu0 = cpuSecondsOf(process.pid, process.pid);
// Each commit's last height, as the follower reports it to the metrics (the sync runs in
// microtasks while blocks are ready, so a timer would not fire between its commits).
interface Mark {
  readonly t: number;
  readonly height: number;
  readonly cpu: number;
  readonly main: number;
  /** Every thread's CPU seconds so far, by tid, with its role: the window's busiest thread is judged. */
  readonly threads: Record<number, [string, number]>;
}
const mark = (height: number): Mark => {
  const c = process.cpuUsage();
  return {
    t: performance.now(),
    height,
    cpu: (c.user + c.system) / 1e6,
    main: cpuSecondsOf(process.pid, process.pid),
    threads: Object.fromEntries(
      [...threadCpuOf(process.pid)].map(([tid, t]) => [tid, [roleOf(tid, t.name), t.seconds]]),
    ),
  };
};
/**
 * What a thread does, from its name: the indexer's worker threads name themselves after their
 * modules (runtime/ `startTsWorker`); every other thread is `node`: V8's compiler and GC helpers,
 * libuv's pool, tsx's loader.
 */
function roleOf(tid: number, comm: string): string {
  if (tid === process.pid) return 'main';
  return ROLES[comm] ?? (comm === 'node' ? 'V8 helper' : comm);
}
const ROLES: Record<string, string> = { fetchThread: 'fetch', verdictThread: 'verdicts', relay: 'relay' };
const commits: Mark[] = [mark(-1)];
const gauge = indexer.metrics.lastProcessedHeight;
const set = gauge.set.bind(gauge) as (h: number) => void;
gauge.set = ((h: number) => {
  set(h);
  if (commits.at(-1)!.height < endHeight) commits.push(mark(h));
}) as typeof gauge.set;
await indexer.caughtUp();
const synced = performance.now();
const cpu = process.cpuUsage(cpu0);
const mainCpuSeconds = cpuSecondsOf(process.pid, process.pid) - mainCpu0;
const end = commits.find((c) => c.height >= endHeight);
if (!end) throw new Error(`the sync never committed height ${endHeight}`);
while (indexer.status().outboxDepth > 0) await new Promise((r) => setTimeout(r, 5));
const published = performance.now();
const txs = await indexer.metrics.txsSeen.get();
const decoded = txs.values.find((v) => v.labels.decoded === 'yes')?.value ?? 0;
const skipped = txs.values.find((v) => v.labels.decoded === 'no')?.value ?? 0;
const blocks = (await indexer.metrics.blocksProcessed.get()).values[0]?.value ?? 0;
const events = (await indexer.metrics.published.get()).values.reduce((a, v) => a + v.value, 0);
await indexer.stop();
console.log(
  JSON.stringify({
    syncSeconds: (end.t - t0) / 1000,
    commits: commits.length - 1,
    caughtUpSeconds: (synced - t0) / 1000,
    marks: commits.map((c) => [(c.t - t0) / 1000, c.height, c.cpu, c.main, c.threads]),
    publishedSeconds: (published - t0) / 1000,
    blocks,
    txs: decoded + skipped,
    decoded,
    events,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mainThreadCpuSeconds: mainCpuSeconds,
  }),
);
process.exit(0);
