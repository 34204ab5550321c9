import { hostname } from 'node:os';
import { pino } from 'pino';
import { rpcClientFromConfig } from '../bitcoind/index.ts';
import { CodedError } from '../common/index.ts';
import { Database, migrate } from '../db/index.ts';
import { versionsListingKey } from '../params/index.ts';
import {
  createOpsServer,
  listenOps,
  loadParamsFile,
  type ParamsReload,
  readOptionalSecretText,
  reloadParamsFile,
} from '../runtime/index.ts';
import type { PipelineConfig } from './config.ts';
import { createPipelineMetrics } from './metrics.ts';
import { endpointOf, SignerClient } from './signerClient.ts';
import { PipelineWorker } from './worker.ts';

export interface RunningPipeline {
  readonly metricsUrl: string;
  readonly worker: PipelineWorker;
  /**
   * Reads the params file again (SIGHUP); each request after it uses the new params. Refused,
   * logged with its code, and the old params kept, unless it only appends versions that activate
   * above the node's tip plus the confirmation depth.
   */
  reloadParams(): Promise<ParamsReload>;
  /** Stops claiming, finishes the requests in hand, closes connections. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the unbonding pipeline: database (migrations applied under the advisory lock), node,
 * params, the signers' clients, the worker (every `interval_ms`, or one round with `once`), and
 * the operations port. Refuses to start when a configured signer's key is in no params version.
 */
export async function startPipeline(
  config: PipelineConfig,
  opts: { readonly once?: boolean; readonly logger?: pino.Logger } = {},
): Promise<RunningPipeline> {
  const log = opts.logger ?? pino({ level: config.log.level, base: { service: 'unbonding-pipeline' } });
  let params = loadParamsFile(config.params.file).params;
  const signers = config.signers.map(
    (s) =>
      new SignerClient(
        endpointOf(s),
        config.tls && s.ca_file
          ? { certFile: config.tls.client_cert_file, keyFile: config.tls.client_key_file, caFile: s.ca_file }
          : undefined,
      ),
  );
  for (const s of signers) {
    if (versionsListingKey(params, s.endpoint.key).length === 0) {
      throw new CodedError(
        'PIPELINE_CONFIG_INVALID',
        `signer ${s.endpoint.name}'s key is in no params version`,
      );
    }
  }
  const rpc = await rpcClientFromConfig(config.bitcoind);
  const db = Database.open({
    url: config.database.url,
    password: await readOptionalSecretText(config.database.password_file, 'database password file'),
  });
  await migrate(db);
  const metrics = createPipelineMetrics();
  const worker = new PipelineWorker({
    db,
    rpc,
    params: () => params,
    signers,
    options: {
      workerId: config.pipeline.worker_id ?? `${hostname()}-${process.pid}`,
      batchSize: config.pipeline.batch_size,
      concurrency: config.pipeline.concurrency,
      leaseMs: config.pipeline.lease_ms,
      backoffBaseMs: config.pipeline.backoff_base_ms,
      backoffMaxMs: config.pipeline.backoff_max_ms,
    },
    metrics,
    log,
  });
  const ops = createOpsServer({
    metrics: async () => {
      // Fresh at every scrape: between rounds (interval_ms) the age keeps growing.
      await worker.backlog().catch(() => undefined);
      return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    readiness: async () => {
      const [backlog, tip] = await Promise.all([
        worker.backlog().catch(() => undefined),
        rpc.getblockcount().catch(() => undefined),
      ]);
      const dbOk = backlog !== undefined;
      return {
        ready: dbOk && tip !== undefined,
        checks: {
          database: { ok: dbOk },
          bitcoind: { ok: tip !== undefined, tip },
          // The lag is reported, not judged: a backlog is the signers' or the node's problem, and
          // taking this instance out of service would not shorten it.
          ...(backlog ? { backlog } : {}),
        },
      };
    },
  });
  const port = await listenOps(ops, config.ops.host, config.ops.port);
  if (opts.once) await worker.runOnce();
  else worker.start(config.pipeline.interval_ms);
  log.info(
    { port, signers: config.signers.map((s) => s.name), once: opts.once ?? false },
    'unbonding pipeline started',
  );
  const reloadOnce = (): Promise<ParamsReload> =>
    reloadParamsFile({
      file: config.params.file,
      current: params,
      // Without the node's tip the rule cannot be checked: no tip, no reload of appended versions.
      tip: () => rpc.getblockcount(),
      apply: (next) => {
        params = next;
      },
      log,
    });
  let reloading: Promise<unknown> = Promise.resolve();

  let stopping: Promise<void> | undefined;
  return {
    metricsUrl: `http://${config.ops.host}:${port}`,
    worker,
    reloadParams() {
      // One at a time: a second SIGHUP compares with what the first one applied.
      const r = reloading.then(reloadOnce, reloadOnce);
      reloading = r;
      return r;
    },
    stop() {
      stopping ??= (async () => {
        await worker.stop();
        await new Promise<void>((r) => ops.close(() => r()));
        for (const s of signers) s.close();
        await db.close();
        log.info('unbonding pipeline stopped');
      })();
      return stopping;
    },
  };
}
