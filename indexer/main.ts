#!/usr/bin/env -S npx tsx
import { parseArgs } from 'node:util';
import { answerStandardCommand, runMain, takeSighup, untilStopSignal } from '../runtime/index.ts';
import { backupStore, rebuildFromHeight, startIndexer } from './app.ts';
import { loadIndexerConfig } from './config.ts';

const HELP = `staking-indexer: follows a Bitcoin node, decides Babylon phase-1 staking, unbonding, withdraw,
overflow and expiry from confirmed blocks, and publishes ordered events to RabbitMQ.

Usage:
  npx tsx indexer/main.ts start --config <indexer.toml>
      Runs the indexer: resumes from its store (or starts at the first params version's
      activation height), polls the node every bitcoind.poll_interval_ms, relays events from the
      store's outbox with publisher confirms. SIGTERM or SIGINT: finish the current commit and
      publish batch, close, exit 0. A re-organisation deeper than the confirmation depth stops
      following (metric si_major_reorgs_counter, /readyz 503 with the reason and fork point); the
      process stays up to report it until stopped. SIGHUP reloads the params file between two
      polls; a file that changes or removes a version, or appends one activating at or below the
      node's tip plus the confirmation depth, is refused (logged with its code) and the old
      params stay.
      Every option can be overridden from the environment: INDEXER__<SECTION>__<KEY>, e.g.
      INDEXER__BITCOIND__POLL_INTERVAL_MS=1000, INDEXER__RABBITMQ__PREFIX=staging.

  npx tsx indexer/main.ts rebuild --config <indexer.toml> --from-height <h>
      Rolls the store back (from its undo records) so that the next start re-processes from
      height h and re-emits those blocks' events. Run it with the indexer stopped, e.g. after a
      major re-org with h = fork point + 1 (the stop message names it).

  npx tsx indexer/main.ts backup --config <indexer.toml> --out <dir>
      Copies the store into the new or empty directory <dir> while the indexer runs (a consistent
      snapshot), checks the copy opens, and prints {"dir", "lastHeight", "outboxDepth"} as JSON.
      Restore: stop the indexer, put the copy at store.path, start it.

  npx tsx indexer/main.ts sample-config
      Prints a commented sample configuration.

Docs: indexer/README.md, events/README.md (the event contract)`;

const SAMPLE = `# staking indexer configuration (TOML). Every key can be overridden: INDEXER__<SECTION>__<KEY>.
[bitcoind]
url = "http://127.0.0.1:8332"
cookie_file = "/var/lib/bitcoind/.cookie"   # or user = "..." with password_file = "..."
timeout_ms = 30000
poll_interval_ms = 5000
fetch_batch_blocks = 16          # blocks per batch during sync
fetch_concurrency = 8            # batches in flight
fetch_via = "auto"               # REST when the node serves it (-rest=1: cheaper), else JSON-RPC; or "rest", "rpc"

[params]
file = "/etc/indexer/global-params.json"

[store]
path = "/var/lib/indexer/store"  # LMDB directory
commit_max_blocks = 200          # most blocks per write transaction during sync

[rabbitmq]
url = "amqp://indexer@127.0.0.1:5672/staking"
password_file = "/etc/indexer/rabbitmq.password"
prefix = ""                      # prefix of exchange and queue names
queue_type = "quorum"            # quorum | classic
reference_queues = false         # also fill the reference's per-kind queues (ordered topology)
topology = "ordered"             # ordered | reference (staking-queue-client's queues, events/README.md)
confirmed_info_events = false    # a confirmed-info event (7) after each confirmed block
heartbeat_s = 10
batch_size = 500

[ops]                            # /metrics, /healthz, /readyz
host = "127.0.0.1"
port = 2114

[log]
level = "info"
progress_interval_ms = 10000     # at most one "sync progress" line per interval while catching up
`;

async function main(argv: string[]): Promise<number> {
  const [command = '', ...rest] = argv;
  const standard = answerStandardCommand(command, HELP, SAMPLE);
  if (standard !== undefined) return standard;
  if (command === 'rebuild') {
    const { values } = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, 'from-height': { type: 'string' } },
    });
    const from = Number(values['from-height']);
    if (!values.config || !Number.isSafeInteger(from)) {
      console.error('rebuild needs --config <indexer.toml> and --from-height <h>');
      return 2;
    }
    const r = await rebuildFromHeight(loadIndexerConfig(values.config), from);
    console.log(
      `store rolled back: it will re-process from height ${r.from} (it had processed up to ${r.previousLast ?? 'nothing'})`,
    );
    return 0;
  }
  if (command === 'backup') {
    const { values } = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, out: { type: 'string' } },
    });
    if (!values.config || !values.out) {
      console.error('backup needs --config <indexer.toml> and --out <dir>');
      return 2;
    }
    console.log(JSON.stringify(await backupStore(loadIndexerConfig(values.config), values.out)));
    return 0;
  }
  if (command === 'start') {
    const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
    const sighup = takeSighup();
    const indexer = await startIndexer(loadIndexerConfig(values.config));
    sighup.reloadWith(() => {
      void indexer.reloadParams();
    });
    await untilStopSignal(() => indexer.stop());
    return 0;
  }
  console.error(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
  return 2;
}

runMain('staking-indexer', main);
