/**
 * Child process of the indexer benchmark: starts the indexer from a config file, waits until it
 * has decided every confirmed block and the broker has confirmed every event, and prints one JSON
 * line with the times and this process's peak RSS. A process of its own, so the RSS is the
 * indexer's alone (not the chain generator's).
 *
 * argv: the config file, the height after which the steady window starts, and the last height to
 * sync. The steady window runs from the first moment the indexer has committed past the middle
 * height to the moment it committed the last: a fresh process's start-up and JIT warm-up fall
 * before it, as they fall before any block of a long-running service.
 */
import { pino } from 'pino';
import { cpuSecondsOf } from '../../test/infra/cpu.ts';
import { startIndexer } from '../app.ts';
import { loadIndexerConfig } from '../config.ts';

const configFile = process.argv[2]!;
const midHeight = Number(process.argv[3]);
const endHeight = Number(process.argv[4]);
// Timed from the moment the indexer is up (store open, listener bound): the sync itself.
const indexer = await startIndexer(loadIndexerConfig(configFile), { logger: pino({ level: 'warn' }) });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const mainCpu0 = cpuSecondsOf(process.pid, process.pid);
// Each commit's last height, as the follower reports it to the metrics: the sync runs in
// microtasks while blocks are ready, so a timer would not fire between its commits.
let mid: { t: number; height: number; cpu: NodeJS.CpuUsage; main: number } | undefined;
let end: { t: number; cpu: NodeJS.CpuUsage; main: number } | undefined;
const mainCpu = () => cpuSecondsOf(process.pid, process.pid);
const gauge = indexer.metrics.lastProcessedHeight;
const set = gauge.set.bind(gauge) as (h: number) => void;
gauge.set = ((h: number) => {
  set(h);
  if (!mid && h > midHeight)
    mid = { t: performance.now(), height: h, cpu: process.cpuUsage(), main: mainCpu() };
  if (!end && h >= endHeight) end = { t: performance.now(), cpu: process.cpuUsage(), main: mainCpu() };
}) as typeof gauge.set;
await indexer.caughtUp();
const synced = performance.now();
const cpu = process.cpuUsage(cpu0);
const mainCpuSeconds = cpuSecondsOf(process.pid, process.pid) - mainCpu0;
if (!mid || !end || mid.height >= endHeight) {
  throw new Error(`no commit fell inside the steady window (middle ${midHeight}, end ${endHeight})`);
}
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
    caughtUpSeconds: (synced - t0) / 1000,
    steadyFrom: mid.height,
    steadySeconds: (end.t - mid.t) / 1000,
    steadyCpuSeconds: (end.cpu.user + end.cpu.system - mid.cpu.user - mid.cpu.system) / 1e6,
    publishedSeconds: (published - t0) / 1000,
    blocks,
    txs: decoded + skipped,
    decoded,
    events,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mainThreadCpuSeconds: mainCpuSeconds,
    steadyMainCpuSeconds: end.main - mid.main,
  }),
);
process.exit(0);
