import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { pino } from 'pino';
import { rpcClientFromConfig } from '../bitcoind/index.ts';
import { CodedError, isCodedError } from '../common/index.ts';
import { type BrokerOptions, referenceNames, topologyNames } from '../events/index.ts';
import type { GlobalParams } from '../params/index.ts';
import {
  createOpsServer,
  listenOps,
  loadParamsFile as loadParams,
  type ParamsReload,
  redactUrlPassword,
  reloadParamsFile,
  urlWithPasswordFile,
} from '../runtime/index.ts';
import type { IndexerConfig } from './config.ts';
import type { IndexerErrorCode } from './errors.ts';
import { FetchThread } from './fetchThread.ts';
import { ChainFollower } from './follower.ts';
import {
  createIndexerMetrics,
  type IndexerMetrics,
  recordBlocks,
  recordPublished,
  recordRejections,
} from './metrics.ts';
import { ProgressMeter, type SyncProgress, type SyncState, syncState } from './progress.ts';
import { OutboxRelay } from './relay.ts';
import { IndexerStore } from './store.ts';

/** Errors that stop following the chain (the process stays up to report them); others are retried. */
const FATAL: readonly string[] = ['INDEXER_MAJOR_REORG', 'INDEXER_PARAMS_CHANGED'];

export interface IndexerStatus {
  readonly following: boolean;
  readonly stopped?: { readonly code: string; readonly message: string };
  readonly nodeTip?: number;
  readonly lastProcessed?: number;
  readonly syncLag?: number;
  readonly outboxDepth: number;
  readonly brokerConnected: boolean;
  readonly lastPollOk: boolean;
  /** The interface raw blocks were last fetched over; absent before the first fetch. */
  readonly fetchVia?: 'rest' | 'rpc';
  /**
   * `starting` before the first poll answered, `syncing` while more than the confirmation window
   * behind the node's tip, `following` within it, `stopped` after a fatal error.
   */
  readonly sync: SyncState;
  /** While syncing: the figures of the last progress report. */
  readonly progress?: SyncProgress;
}

export interface RunningIndexer {
  readonly metricsUrl: string;
  readonly metrics: IndexerMetrics;
  status(): IndexerStatus;
  /** Resolves after the next poll that found nothing left to process. */
  caughtUp(): Promise<void>;
  /**
   * Reads the params file again (SIGHUP). Applied between two polls only if it appends versions
   * that activate above the node's tip plus the depth; otherwise refused, logged with its code, and
   * the old params stay.
   */
  reloadParams(): Promise<ParamsReload>;
  /** Stops polling after the current commit, lets the relay finish its batch, closes everything. Idempotent. */
  stop(): Promise<void>;
}

export interface StartIndexerDeps {
  readonly logger?: pino.Logger;
}

/** @throws {CodedError} PARAMS_FILE_UNREADABLE or another PARAMS_… code, naming the file */
export function loadParamsFile(file: string): GlobalParams {
  return loadParams(file).params;
}

export async function brokerFromConfig(c: IndexerConfig['rabbitmq']): Promise<BrokerOptions> {
  const u = new URL(await urlWithPasswordFile(c.url, c.password_file, 'rabbitmq password'));
  if (c.user) u.username = encodeURIComponent(c.user);
  return {
    url: u.toString(),
    names: topologyNames(c.prefix),
    queueType: c.queue_type,
    referenceQueues: c.reference_queues,
    topology: c.topology,
    referenceNames: referenceNames(c.prefix),
    heartbeatSeconds: c.heartbeat_s,
  };
}

/**
 * Starts the indexer: opens the store (checking the params against it), starts the outbox relay,
 * the metrics/health listener, and the polling loop.
 * @throws {CodedError} PARAMS_FILE_UNREADABLE (or another PARAMS_… code, naming the file), INDEXER_PARAMS_CHANGED, INDEXER_STORE_UNAVAILABLE, CONFIG_…
 */
export async function startIndexer(
  config: IndexerConfig,
  deps: StartIndexerDeps = {},
): Promise<RunningIndexer> {
  const log = deps.logger ?? pino({ level: config.log.level, base: { service: 'staking-indexer' } });
  let params = loadParamsFile(config.params.file);
  const rpc = await rpcClientFromConfig(config.bitcoind);
  const broker = await brokerFromConfig(config.rabbitmq);
  const store = IndexerStore.open(config.store.path, params);
  const metrics = createIndexerMetrics();
  metrics.startHeight.set(store.startHeight() ?? params.versions[0]!.activationHeight);
  const last0 = store.last();
  if (last0) metrics.lastProcessedHeight.set(last0.height);

  let running = true;
  let stopped: { code: string; message: string } | undefined;
  let nodeTip: number | undefined;
  let lastPollOk = false;
  let caughtUpWaiters: Array<() => void> = [];
  let lastProgress: SyncProgress | undefined;
  let reportedSyncing = false;

  const relay = new OutboxRelay({
    store,
    broker,
    batchSize: config.rabbitmq.batch_size,
    log,
    hooks: {
      onPublished(byKind) {
        recordPublished(metrics, byKind);
        metrics.outboxDepth.set(store.outboxDepth());
      },
      onError() {
        metrics.relayErrors.inc();
      },
      onConnected(c) {
        metrics.brokerConnected.set(c ? 1 : 0);
      },
    },
  });

  const newFetchThread = (p: GlobalParams) =>
    new FetchThread(
      config.bitcoind,
      {
        batch: config.bitcoind.fetch_batch_blocks,
        concurrency: config.bitcoind.fetch_concurrency,
        via: config.bitcoind.fetch_via,
        onSource(via) {
          metrics.fetchVia.set({ via }, 1);
          metrics.fetchVia.set({ via: via === 'rest' ? 'rpc' : 'rest' }, 0);
          if (via === 'rest') log.info("fetching raw blocks over the node's REST interface");
          else if (config.bitcoind.fetch_via === 'auto') {
            log.info(
              'fetching raw blocks over JSON-RPC: the node does not serve REST (starting it with -rest=1 makes a sync several times cheaper for both)',
            );
          } else log.info('fetching raw blocks over JSON-RPC (bitcoind.fetch_via = "rpc")');
        },
      },
      p,
    );
  // Replaced with one that prescans with the new params when a reload is applied.
  let fetchThread = newFetchThread(params);
  try {
    await fetchThread.start();
  } catch (e) {
    await fetchThread.close();
    await store.close();
    throw e;
  }
  // Before the first poll, as the fetch thread: the relay thread's start is the service's.
  await relay.start();
  const meter = new ProgressMeter({
    intervalMs: config.log.progress_interval_ms,
    startHeight: store.startHeight() ?? params.versions[0]!.activationHeight,
  });
  const follower = new ChainFollower({
    rpc,
    // Read at every block, so a reload applied between polls takes effect at the next one.
    get params() {
      return params;
    },
    store,
    fetcher: (from, to, tracked) => fetchThread.fetcher(from, to, tracked),
    commitMaxBlocks: config.store.commit_max_blocks,
    confirmedInfoEvents: config.rabbitmq.confirmed_info_events,
    hooks: {
      onTip(tip) {
        nodeTip = tip;
        metrics.nodeTip.set(tip);
        const height = store.last()?.height ?? follower.startHeight - 1;
        if (!reportedSyncing && tip - height > follower.depth) {
          reportedSyncing = true;
          log.info({ height, tip, behind: tip - follower.depth + 1 - height }, 'catching up with the node');
        }
      },
      onBlocks(results) {
        recordBlocks(metrics, results);
        if (nodeTip !== undefined) {
          const height = results.at(-1)?.height ?? store.last()?.height ?? 0;
          metrics.syncLag.set(Math.max(0, nodeTip - follower.depth + 1 - height));
          let txs = 0;
          for (const b of results) txs += b.result.stats.txCount;
          const p = meter.record({
            blocks: results.length,
            txs,
            height,
            tip: nodeTip,
            depth: follower.depth,
          });
          if (p) {
            lastProgress = p;
            reportedSyncing = true;
            log.info({ ...p }, 'sync progress');
          } else if (reportedSyncing && height >= nodeTip - follower.depth + 1) {
            reportedSyncing = false;
            lastProgress = undefined;
            log.info({ height, tip: nodeTip }, 'sync caught up: following the tip');
          }
        }
      },
      onWindow(w) {
        metrics.lastCalculatedTvl.set(w.unconfirmedTvl);
        recordRejections(metrics, w.rejections);
      },
      onCommitted() {
        metrics.outboxDepth.set(store.outboxDepth());
        relay.wake();
      },
    },
  });

  let wakePoll: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      wakePoll = done;
    });

  // A reload is applied here, between two polls: no block is decided half under each params.
  let pendingParams: { next: GlobalParams; done: (err?: unknown) => void } | undefined;
  const applyPendingParams = async () => {
    const p = pendingParams;
    if (!p) return;
    pendingParams = undefined;
    const fresh = newFetchThread(p.next);
    try {
      await fresh.start();
    } catch (cause) {
      await fresh.close().catch(() => undefined);
      p.done(
        new CodedError<IndexerErrorCode>(
          'INDEXER_FETCH_FAILED',
          'the fetch thread for the new params did not start',
          { cause },
        ),
      );
      return;
    }
    const old = fetchThread;
    fetchThread = fresh;
    params = p.next;
    await old.close().catch(() => undefined);
    p.done();
  };

  const loop = (async () => {
    let failures = 0;
    while (running) {
      try {
        await applyPendingParams();
        const r = await follower.poll(() => !running);
        lastPollOk = true;
        failures = 0;
        const lag = Math.max(0, r.tip - follower.depth + 1 - (r.lastHeight ?? follower.startHeight - 1));
        metrics.syncLag.set(lag);
        if (lag === 0) {
          const w = caughtUpWaiters;
          caughtUpWaiters = [];
          for (const f of w) f();
        } else if (r.processed > 0) {
          continue; // more to do: no pause
        }
      } catch (e) {
        lastPollOk = false;
        if (isCodedError(e) && FATAL.includes(e.code)) {
          if (e.code === 'INDEXER_MAJOR_REORG') metrics.majorReorgs.inc();
          metrics.stopped.set({ code: e.code }, 1);
          stopped = { code: e.code, message: e.message };
          log.fatal({ code: e.code, details: e.details }, e.message);
          break;
        }
        failures++;
        metrics.pollErrors.inc();
        if (failures === 1 || failures % 20 === 0) {
          log.warn(
            { err: isCodedError(e) ? `${e.code}: ${e.message}` : String(e), failures },
            'poll failed; retrying',
          );
        }
      }
      if (running) await sleep(config.bitcoind.poll_interval_ms);
    }
    // A reload that arrived as the loop ended is still applied (or refused), never left waiting.
    await applyPendingParams();
  })();

  const status = (): IndexerStatus => {
    const last = store.last()?.height;
    const sync = syncState({
      stopped: stopped !== undefined,
      nodeTip,
      last,
      startHeight: follower.startHeight,
      depth: follower.depth,
    });
    return {
      sync,
      ...(sync === 'syncing' && lastProgress ? { progress: lastProgress } : {}),
      following: running && !stopped,
      ...(stopped ? { stopped } : {}),
      ...(nodeTip !== undefined ? { nodeTip } : {}),
      ...(last !== undefined ? { lastProcessed: last } : {}),
      ...(nodeTip !== undefined && last !== undefined
        ? { syncLag: Math.max(0, nodeTip - follower.depth + 1 - last) }
        : {}),
      outboxDepth: store.outboxDepth(),
      brokerConnected: relay.connected,
      lastPollOk,
      ...(fetchThread.via ? { fetchVia: fetchThread.via } : {}),
    };
  };

  const server = createOpsServer({
    metrics: async () => {
      metrics.outboxDepth.set(store.outboxDepth());
      return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    readiness: async () => {
      const s = status();
      return {
        ready: s.following && s.lastPollOk && s.brokerConnected && s.sync === 'following',
        checks: { ...s },
      };
    },
    readinessAliases: ['/health'],
  });
  const metricsPort = await listenOps(server, config.ops.host, config.ops.port);
  log.info(
    {
      node: rpc.url,
      broker: redactUrlPassword(broker.url, 'amqp'),
      store: config.store.path,
      startHeight: store.startHeight() ?? follower.startHeight,
      last: last0,
      depth: follower.depth,
      metricsPort,
    },
    'staking indexer started',
  );

  const reloadOnce = (): Promise<ParamsReload> =>
    reloadParamsFile({
      file: config.params.file,
      current: params,
      // Without the node's tip the rule cannot be checked: no tip, no reload of appended versions.
      tip: () => rpc.getblockcount(),
      // A running follower takes new params between two polls, so a block is never decided half
      // under each.
      apply: async (next) => {
        if (!running || stopped) {
          params = next;
          return;
        }
        await new Promise<void>((resolve, reject) => {
          pendingParams = { next, done: (err) => (err ? reject(err) : resolve()) };
          wakePoll?.();
        });
      },
      log,
    });
  let reloading: Promise<unknown> = Promise.resolve();

  let stopping: Promise<void> | undefined;
  return {
    metricsUrl: `http://${config.ops.host}:${metricsPort}`,
    metrics,
    status,
    caughtUp: () => new Promise<void>((resolve) => caughtUpWaiters.push(resolve)),
    reloadParams() {
      // One at a time: a second SIGHUP compares with what the first one applied.
      const r = reloading.then(reloadOnce, reloadOnce);
      reloading = r;
      return r;
    },
    stop() {
      stopping ??= (async () => {
        running = false;
        wakePoll?.();
        await loop;
        await fetchThread.close();
        await relay.stop();
        await new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        await store.close();
        log.info('staking indexer stopped');
      })();
      return stopping;
    },
  };
}

/**
 * Rolls the store back so that the next start re-processes from `fromHeight` (and re-emits those
 * blocks' events; consumers are idempotent).
 * @throws {CodedError} INDEXER_REBUILD_HEIGHT, INDEXER_PARAMS_…, INDEXER_STORE_UNAVAILABLE
 */
export async function rebuildFromHeight(
  config: IndexerConfig,
  fromHeight: number,
): Promise<{ from: number; previousLast: number | undefined }> {
  const params = loadParamsFile(config.params.file);
  const store = IndexerStore.open(config.store.path, params);
  try {
    const last = store.last();
    const start = store.startHeight() ?? params.versions[0]!.activationHeight;
    if (!Number.isSafeInteger(fromHeight) || fromHeight < start || (last && fromHeight > last.height + 1)) {
      throw new CodedError<IndexerErrorCode>(
        'INDEXER_REBUILD_HEIGHT',
        `rebuild height ${fromHeight} must be in [${start}, ${last ? last.height + 1 : start}]`,
      );
    }
    store.rollbackTo(fromHeight - 1);
    return { from: fromHeight, previousLast: last?.height };
  } finally {
    await store.close();
  }
}

/**
 * A hot backup of the store into `outDir` (created; must be empty), then a check of the copy:
 * it opens with the same params and reports where it stands. Safe while the indexer runs.
 * @throws {CodedError} INDEXER_BACKUP_FAILED, INDEXER_PARAMS_…, INDEXER_STORE_UNAVAILABLE
 */
export async function backupStore(
  config: IndexerConfig,
  outDir: string,
): Promise<{ dir: string; lastHeight: number | undefined; outboxDepth: number }> {
  const params = loadParamsFile(config.params.file);
  // Opening a store creates it: a mistyped path must not yield the backup of an empty one.
  if (!existsSync(config.store.path)) {
    throw new CodedError<IndexerErrorCode>(
      'INDEXER_STORE_UNAVAILABLE',
      `there is no store at ${config.store.path} to back up`,
    );
  }
  if (existsSync(outDir) && readdirSync(outDir).length > 0) {
    throw new CodedError<IndexerErrorCode>(
      'INDEXER_BACKUP_FAILED',
      `the backup directory ${outDir} is not empty`,
    );
  }
  mkdirSync(outDir, { recursive: true });
  const store = IndexerStore.open(config.store.path, params);
  try {
    await store.backup(outDir);
  } catch (cause) {
    throw new CodedError<IndexerErrorCode>(
      'INDEXER_BACKUP_FAILED',
      `could not copy the store to ${outDir}: ${(cause as Error).message}`,
      { cause },
    );
  } finally {
    await store.close();
  }
  const copy = IndexerStore.open(outDir, params);
  try {
    return { dir: outDir, lastHeight: copy.last()?.height, outboxDepth: copy.outboxDepth() };
  } finally {
    await copy.close();
  }
}
