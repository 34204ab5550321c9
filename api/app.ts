import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { CodedError } from '../common/index.ts';
import { Database, migrate, readBtcInfo } from '../db/index.ts';
import { referenceNames, topologyNames } from '../events/index.ts';
import { type FinalityProvider, type GlobalParams, parseFinalityProviders } from '../params/index.ts';
import {
  createOpsServer,
  listenOps,
  loadParamsFile,
  type ParamsReload,
  readOptionalSecretText,
  redactUrlPassword,
  reloadParamsFile,
  urlWithPasswordFile,
} from '../runtime/index.ts';
import type { ApiConfig } from './config.ts';
import { EventConsumerService } from './consumer.ts';
import { defaultDashboardDir, registerDashboard } from './dashboard.ts';
import { type ApiMetrics, createApiMetrics } from './metrics.ts';
import { buildApiServer } from './server.ts';

export interface RunningApi {
  readonly url: string;
  readonly port: number;
  /** Metrics listener URL, when enabled. */
  readonly metricsUrl: string | undefined;
  readonly app: FastifyInstance;
  readonly db: Database;
  readonly consumer: EventConsumerService | undefined;
  readonly metrics: ApiMetrics;
  /** The params in force (replaced by a successful reload). */
  readonly params: { readonly current: GlobalParams };
  /**
   * Re-reads the params file (SIGHUP): applied only if it keeps every version in force unchanged
   * and its appended versions activate above the tip the indexer last reported plus the depth;
   * otherwise refused with a logged code and the old params stay. Never throws.
   */
  reloadParams(): Promise<ParamsReload>;
  /** Stops the consumer after the event in hand, finishes requests in flight, closes the pool. Idempotent. */
  stop(): Promise<void>;
}

export interface StartApiDeps {
  readonly logger?: pino.Logger;
}

function readJsonFile<T>(file: string, what: string, parse: (text: string) => T): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new CodedError(
      'CONFIG_UNREADABLE',
      `cannot read the ${what} file ${file}: ${(cause as Error).message}`,
      { cause },
    );
  }
  return parse(text);
}

/**
 * The tip appended params versions must activate above: the height of the latest btc-info event
 * applied. Without one (no event yet, or the database did not answer) appended versions cannot be
 * checked, so they are refused: the API would otherwise tell dashboards to stake under rules the
 * rest of the stack may not apply.
 * @throws {CodedError} API_PARAMS_RELOAD_REFUSED
 */
async function reloadTip(db: Database, file: string): Promise<number> {
  let height: number | undefined;
  try {
    height = (await readBtcInfo(db))?.height;
  } catch (cause) {
    throw new CodedError(
      'API_PARAMS_RELOAD_REFUSED',
      `${file} appends versions, and the tip they must activate above could not be read (the database did not answer)`,
      { cause },
    );
  }
  if (height === undefined) {
    throw new CodedError(
      'API_PARAMS_RELOAD_REFUSED',
      `${file} appends versions, and no btc-info event has told this API the tip they must activate above; retry once the indexer has reported`,
    );
  }
  return height;
}

/**
 * Starts the API: params and finality providers, the database (reachable, migrated under the
 * advisory lock), the event consumer (a broker that is down is retried in the background), the
 * REST listener and the metrics listener.
 * @throws {CodedError} CONFIG_…, PARAMS_…, DB_UNREACHABLE, DB_MIGRATION_…
 */
export async function startApi(config: ApiConfig, deps: StartApiDeps = {}): Promise<RunningApi> {
  const log = deps.logger ?? pino({ level: config.log.level, base: { service: 'staking-api' } });
  const params: GlobalParams = loadParamsFile(config.params.file).params;
  const fps: readonly FinalityProvider[] = config.params.finality_providers_file
    ? readJsonFile(config.params.finality_providers_file, 'finality providers', (t) =>
        parseFinalityProviders(t),
      )
    : [];
  const db = Database.open({
    url: config.database.url,
    password: await readOptionalSecretText(config.database.password_file, 'database password file'),
    poolSize: config.database.pool_size,
    connectTimeoutMs: config.database.connect_timeout_ms,
    statementTimeoutMs: config.database.statement_timeout_ms,
    lockTimeoutMs: config.database.lock_timeout_ms,
    queryTimeoutMs: config.database.query_timeout_ms,
  });
  const metrics = createApiMetrics();
  const paramsRef: { current: GlobalParams } = { current: params };
  let consumer: EventConsumerService | undefined;
  let metricsServer: Server | undefined;
  let app: FastifyInstance | undefined;
  try {
    await db.ping();
    const migrated = await migrate(db);
    metrics.dbUp.set(1);
    log.info({ database: redactUrlPassword(config.database.url, 'database'), ...migrated }, 'database ready');

    if (config.rabbitmq.enabled) {
      consumer = new EventConsumerService({
        url: await urlWithPasswordFile(
          config.rabbitmq.url,
          config.rabbitmq.password_file,
          'queue password file',
        ),
        names: topologyNames(config.rabbitmq.prefix),
        queueType: config.rabbitmq.queue_type,
        prefetch: config.rabbitmq.prefetch,
        maxAttempts: config.rabbitmq.max_attempts,
        retryDelayMs: config.rabbitmq.retry_delay_ms,
        topology: config.rabbitmq.topology,
        referenceNames: referenceNames(config.rabbitmq.prefix),
        requeueDelayMs: config.rabbitmq.requeue_delay_ms,
        db,
        logger: log.child({ component: 'consumer' }),
        metrics,
      });
      const attached = await consumer.start({ background: true });
      if (attached)
        log.info(
          { broker: redactUrlPassword(config.rabbitmq.url, 'amqp'), prefix: config.rabbitmq.prefix },
          'consuming events',
        );
    } else {
      log.warn('queue.enabled = false: this instance serves the API but applies no events');
    }

    let shuttingDown = false;
    const readiness = async () => {
      const checks: Record<string, unknown> = {};
      let dbOk = false;
      try {
        checks.database = {
          ok: true,
          latency_ms: Math.round((await db.ping()) * 100) / 100,
          version: migrated.version,
        };
        dbOk = true;
        metrics.dbUp.set(1);
      } catch (e) {
        checks.database = { ok: false, error: (e as Error).message };
        metrics.dbUp.set(0);
      }
      await consumer?.refreshLag();
      checks.consumer = consumer ? consumer.status : { enabled: false };
      return { ready: dbOk && !shuttingDown, checks };
    };

    const built = buildApiServer({
      db,
      params: paramsRef,
      finalityProviders: fps,
      network: config.bitcoind.network,
      paginationLimit: config.api.pagination_limit,
      statsCacheMs: config.api.stats_cache_ms,
      bodyLimitBytes: config.server.body_limit_bytes,
      limits: {
        headersTimeoutMs: config.server.headers_timeout_ms,
        requestTimeoutMs: config.server.request_timeout_ms,
        keepAliveTimeoutMs: config.server.keep_alive_timeout_ms,
        maxConnections: config.server.max_connections,
      },
      handlerTimeoutMs: config.server.handler_timeout_ms,
      corsAllowedOrigins: config.server.cors_allowed_origins,
      logRequests: config.server.log_requests,
      termsAcceptance: config.api.log_terms_acceptance,
      maxStakingTransactionHeight: config.api.max_staking_transaction_height,
      rateLimit: {
        enabled: config.rate_limit.enabled,
        max: config.rate_limit.max,
        windowMs: config.rate_limit.window_ms,
        exemptLoopback: config.rate_limit.exempt_loopback,
      },
      metrics,
      logger: log.child({ component: 'http' }),
    });
    app = built.app;
    if (config.dashboard.enabled) {
      registerDashboard(app, {
        dir: config.dashboard.dir || defaultDashboardDir(),
        log: log.child({ component: 'dashboard' }),
        explorerUrl: config.dashboard.explorer_url,
      });
    }
    await app.listen({ host: config.server.host, port: config.server.port });
    const port = (app.server.address() as AddressInfo).port;
    let metricsUrl: string | undefined;
    if (config.ops.enabled) {
      const ms = createOpsServer({
        metrics: async () => {
          // Fresh at every scrape, so the database and lag alerts do not wait for a /readyz call.
          await db.ping().then(
            () => metrics.dbUp.set(1),
            () => metrics.dbUp.set(0),
          );
          await consumer?.refreshLag();
          return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
        },
        readiness,
      });
      metricsServer = ms;
      metricsUrl = `http://${config.ops.host}:${await listenOps(ms, config.ops.host, config.ops.port)}`;
    }
    const url = `http://${config.server.host}:${port}`;
    log.info(
      { url, metricsUrl, paramsVersions: params.versions.length, finalityProviders: fps.length },
      'staking API started',
    );

    const theApp = app;
    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      metricsUrl,
      app: theApp,
      db,
      consumer,
      metrics,
      params: paramsRef,
      reloadParams() {
        const file = config.params.file;
        return reloadParamsFile({
          file,
          current: paramsRef.current,
          tip: () => reloadTip(db, file),
          apply: (next) => {
            paramsRef.current = next;
          },
          log,
        });
      },
      stop() {
        stopping ??= (async () => {
          shuttingDown = true;
          await consumer?.stop();
          const grace = setTimeout(
            () => theApp.server.closeAllConnections(),
            config.server.shutdown_grace_ms,
          );
          await theApp.close();
          clearTimeout(grace);
          if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
          await db.close();
          log.info('staking API stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await consumer?.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    metricsServer?.close();
    await db.close();
    throw e;
  }
}
