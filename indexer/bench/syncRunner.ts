/**
 * Child process of the indexer benchmark: starts the indexer from a config file, waits until it
 * has decided every confirmed block and the broker has confirmed every event, and prints one JSON
 * line with the times and this process's peak RSS. A process of its own, so the RSS is the
 * indexer's alone (not the chain generator's).
 */
import { pino } from 'pino';
import { cpuSecondsOf } from '../../test/infra/cpu.ts';
import { startIndexer } from '../app.ts';
import { loadIndexerConfig } from '../config.ts';

const configFile = process.argv[2]!;
// Timed from the moment the indexer is up (store open, listener bound): the sync itself.
const indexer = await startIndexer(loadIndexerConfig(configFile), { logger: pino({ level: 'warn' }) });
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const mainCpu0 = cpuSecondsOf(process.pid, process.pid);
await indexer.caughtUp();
const synced = performance.now();
const cpu = process.cpuUsage(cpu0);
const mainCpu = cpuSecondsOf(process.pid, process.pid) - mainCpu0;
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
    syncSeconds: (synced - t0) / 1000,
    publishedSeconds: (published - t0) / 1000,
    blocks,
    txs: decoded + skipped,
    decoded,
    events,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mainThreadCpuSeconds: mainCpu,
  }),
);
process.exit(0);
