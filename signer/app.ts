import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { type RpcClient, rpcClientFromConfig } from '../bitcoind/index.ts';
import { CodedError, isCodedError, toHex } from '../common/index.ts';
import type { CustodyBackend } from '../hsm/index.ts';
import { openCustody, parseCustodyConfig } from '../hsm/index.ts';
import { versionsListingKey } from '../params/index.ts';
import { createOpsServer, listenOps } from '../runtime/index.ts';
import { AuditLog } from './audit.ts';
import { rpcChainView } from './chain.ts';
import { normaliseFingerprint, type SignerConfig } from './config.ts';
import { createSignerMetrics, tipRefresher } from './metrics.ts';
import { ParamsHolder, paramsAuditFields, paramsHistoryCollector } from './paramsStore.ts';
import { Phase2ParamsHolder, phase2ReplayCollector } from './phase2.ts';
import {
  assertPhase2CanStart,
  createPhase2Service,
  loadHmacVerifier,
  type Phase2Service,
} from './phase2App.ts';
import { buildSignerServer } from './server.ts';
import { CovenantSigner, replayCollector } from './service.ts';

const CHAIN_OF_NETWORK: Record<SignerConfig['bitcoind']['network'], readonly string[]> = {
  mainnet: ['main'],
  testnet: ['test', 'testnet4'],
  signet: ['signet'],
  regtest: ['regtest'],
};

/** Well inside Prometheus's default 10 s scrape timeout, so a silent node cannot fail the scrape. */
const TIP_AT_SCRAPE_TIMEOUT_MS = 2_000;

export interface RunningSigner {
  readonly url: string;
  readonly port: number;
  readonly metricsUrl: string;
  readonly signer: CovenantSigner;
  /** Re-reads the params file; refused (and logged, audited, counted) unless append-only. */
  reloadParams(): Promise<{ ok: boolean; message: string }>;
  /** Re-reads the phase-2 params file (append-only); absent when phase 2 is off. */
  reloadPhase2Params?(): Promise<{ ok: boolean; message: string }>;
  /** Stops accepting, finishes requests in flight, records the stop, releases custody. Idempotent. */
  stop(): Promise<void>;
}

export interface StartSignerDeps {
  /** An already-open custody backend (tests); otherwise built from config.custody. */
  readonly custody?: CustodyBackend;
  readonly logger?: pino.Logger;
  /** Directory that relative paths in the custody table are resolved against (the config file's). */
  readonly baseDir?: string;
}

/**
 * The start-up self-test: it fails closed, with one clear sentence, if custody is unreachable or
 * locked, if no held key is in any params version, or if bitcoind is unreachable, still syncing,
 * or on another network.
 * @throws {CodedError} SIGNER_SELF_TEST_FAILED
 */
async function selfTest(
  custody: CustodyBackend,
  params: ParamsHolder,
  rpc: RpcClient,
  network: SignerConfig['bitcoind']['network'],
  log: pino.Logger,
): Promise<void> {
  const failed = (msg: string, cause?: unknown): never => {
    throw new CodedError(
      'SIGNER_SELF_TEST_FAILED',
      `start-up self-test failed: ${msg}`,
      cause ? { cause } : undefined,
    );
  };
  const health = await custody.health().catch((e) => failed('the custody backend did not answer', e));
  if (!health.ok) failed(`custody (${custody.kind}) is not ready: ${health.detail}`);
  const keys = await custody.publicKeys();
  if (keys.length === 0) failed(`custody (${custody.kind}) holds no key`);
  const listed = keys.filter((k) => versionsListingKey(params.current.params, k).length > 0);
  for (const k of keys) {
    if (!listed.includes(k)) log.warn({ key: toHex(k) }, 'custody holds a key that no params version lists');
  }
  if (listed.length === 0) failed('no key held by custody is listed in any params version');
  const info = await rpc.getblockchaininfo().catch((e) => failed('bitcoind is unreachable', e));
  if (!CHAIN_OF_NETWORK[network].includes(info.chain))
    failed(`bitcoind is on chain "${info.chain}", config says ${network}`);
  if (info.initialblockdownload && network !== 'regtest')
    failed('bitcoind is still in initial block download');
  if (info.blocks < info.headers) failed(`bitcoind is syncing (${info.blocks} of ${info.headers} blocks)`);
}

/**
 * Starts a covenant signer from its configuration: params, custody, bitcoind, the self-test, the
 * audit log (replayed into the anti-replay memory), then the mTLS listener and the metrics listener.
 */
export async function startSigner(config: SignerConfig, deps: StartSignerDeps = {}): Promise<RunningSigner> {
  // Synchronous stdout: one write system call per line. pino's default destination writes each line
  // through the thread pool when lines are sparse (one request at a time), which measured 50-100 µs
  // more CPU per line here than the system call, and loses buffered lines if the process dies.
  const log =
    deps.logger ??
    pino(
      { level: config.log.level, base: { service: 'covenant-signer' } },
      pino.destination({ dest: 1, sync: true }),
    );
  const params = new ParamsHolder(config.params.file);
  const custody =
    deps.custody ??
    (await openCustody(parseCustodyConfig(config.custody, deps.baseDir ? { baseDir: deps.baseDir } : {}), {
      logger: log,
    }));
  const clog = log.child({ custody: custody.kind });
  let audit: AuditLog | undefined;
  try {
    assertPhase2CanStart(config.phase2, custody);
    const phase2Params = config.phase2.enabled
      ? new Phase2ParamsHolder(config.phase2.params_file)
      : undefined;
    const rpc = await rpcClientFromConfig(config.bitcoind);
    await selfTest(custody, params, rpc, config.bitcoind.network, clog);
    const replay = replayCollector();
    const history = paramsHistoryCollector();
    const metrics = createSignerMetrics(custody.kind);
    const replay2 = phase2ReplayCollector();
    audit = await AuditLog.open(
      config.audit.file,
      custody.audit,
      (r) => {
        replay.onRecord(r);
        replay2.onRecord(r);
        history.onRecord(r);
      },
      (n) => {
        metrics.auditAnchorFailures.inc(n);
        metrics.auditWritable.set(0);
      },
    );
    metrics.auditWritable.set(1);
    const theAudit = audit;
    if (audit.repaired) {
      clog.warn(
        { audit: config.audit.file, repaired: audit.repaired },
        'AUDIT LOG COMPLETED from custody’s anchor: it lacked its last batch (a crash between the anchor write and the log’s write); the records the anchor carries were appended',
      );
    }
    clog.info(
      { audit: config.audit.file, key: custody.audit.description },
      'audit log verified against custody',
    );
    try {
      params.assertGrewSince(history.last, await rpc.getblockcount());
    } catch (e) {
      // Refused before the start record, so the next start compares with the same last run.
      await audit.append({
        event: 'params_reload_refused',
        at: 'start',
        code: isCodedError(e) ? e.code : undefined,
        reason: e instanceof Error ? e.message : String(e),
      });
      throw e;
    }
    const showParams = () => {
      const { params: p, fileSha256 } = params.current;
      metrics.paramsVersions.set(p.versions.length);
      metrics.paramsInfo.reset();
      metrics.paramsInfo.set({ sha256: fileSha256, last_version: String(p.versions.at(-1)!.version) }, 1);
    };
    showParams();
    // One view for both phases: they share the tip checks and the cached chain facts.
    const chain = rpcChainView(rpc);
    const signer = new CovenantSigner({
      params: () => params.current.params,
      chain,
      custody,
      audit,
      signed: replay.index,
      maxStakingTxHeight: config.policy.max_staking_transaction_height,
      hooks: {
        onCustody: (s, ok) => {
          metrics.custodyDuration.observe(s);
          if (!ok) metrics.custodyErrors.inc();
        },
      },
    });
    const held = await signer.refreshKeys();

    const readiness = async () => {
      const checks: Record<string, unknown> = {};
      const [h, tip] = await Promise.all([
        custody.health().catch((e: Error) => ({ ok: false, detail: e.message })),
        rpc.getblockcount().catch(() => undefined),
      ]);
      checks.custody = { kind: custody.kind, ok: h.ok, detail: h.detail };
      checks.bitcoind = { ok: tip !== undefined, tip };
      if (tip !== undefined) metrics.bitcoindTip.set(tip);
      const p = params.current;
      checks.params = { ok: true, versions: p.params.versions.map((v) => v.version), sha256: p.fileSha256 };
      checks.phase2 = phase2 ? phase2.readiness() : { enabled: false };
      // A signer whose log cannot be written or anchored signs nothing more: say so, do not look ready.
      const auditFailure = theAudit.failure;
      checks.audit = auditFailure
        ? { ok: false, detail: auditFailure }
        : { ok: true, records: theAudit.records };
      return { ready: h.ok && tip !== undefined && !shuttingDown && !auditFailure, checks };
    };
    const keyListing = () =>
      [...held].map((hex) => ({
        public_key_hex: hex,
        params_versions: versionsListingKey(params.current.params, Buffer.from(hex, 'hex')).map(
          (v) => v.version,
        ),
      }));

    let shuttingDown = false;
    const app = buildSignerServer({
      tls: {
        key: readFileSync(config.server.tls_key_file),
        cert: readFileSync(config.server.tls_cert_file),
        ca: readFileSync(config.server.client_ca_file),
      },
      clients: new Map(
        config.server.clients.map((c) => [normaliseFingerprint(c.fingerprint_sha256), c.name]),
      ),
      bodyLimitBytes: config.server.body_limit_bytes,
      rateLimitPerMinute: config.server.rate_limit_per_minute,
      maxConcurrentRequests: config.server.max_concurrent_requests,
      limits: {
        headersTimeoutMs: config.server.headers_timeout_ms,
        requestTimeoutMs: config.server.request_timeout_ms,
        keepAliveTimeoutMs: config.server.keep_alive_timeout_ms,
        maxConnections: config.server.max_connections,
      },
      refusalLogLinesPerMinute: config.server.refusal_log_lines_per_minute,
      audit: (fields) => theAudit.append(fields),
      signer,
      metrics,
      logger: clog,
      readiness,
      keyListing,
      isShuttingDown: () => shuttingDown,
    });
    const hmac = phase2Params ? await loadHmacVerifier(config.phase2.hmac, clog) : undefined;
    const phase2: Phase2Service | undefined = phase2Params
      ? createPhase2Service({
          hmac,
          bodyLimitBytes: config.server.body_limit_bytes,
          params: phase2Params,
          chain,
          tipHeight: () => rpc.getblockcount(),
          custody,
          audit,
          signer,
          phase1: replay.index,
          signed: replay2.index,
          expansions: replay2.expansions,
          metrics,
          log: clog,
          maxConcurrentRequests: config.server.max_concurrent_requests,
          isShuttingDown: () => shuttingDown,
        })
      : undefined;
    phase2?.register(app);
    await app.listen({ host: config.server.host, port: config.server.port });
    const port = (app.server.address() as AddressInfo).port;
    const refreshTip = tipRefresher(metrics.bitcoindTip, () => rpc.getblockcount(), TIP_AT_SCRAPE_TIMEOUT_MS);
    const metricsServer = createOpsServer({
      metrics: async () => {
        await refreshTip();
        return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
      },
      readiness,
    });
    const metricsPort = await listenOps(metricsServer, config.ops.host, config.ops.port);
    await theAudit.append({
      event: 'start',
      keys: [...held],
      params_sha256: params.current.fileSha256,
      ...paramsAuditFields(params.current.params),
    });
    clog.info(
      { port, metricsPort, keys: [...held], paramsSha256: params.current.fileSha256 },
      'covenant signer started',
    );

    let stopping: Promise<void> | undefined;
    return {
      url: `https://${config.server.host}:${port}`,
      port,
      metricsUrl: `http://${config.ops.host}:${metricsPort}`,
      signer,
      ...(phase2 ? { reloadPhase2Params: () => phase2.reload() } : {}),
      async reloadParams() {
        try {
          // Without the tip the new rule cannot be checked: no tip, no reload.
          const r = params.reload(await rpc.getblockcount());
          showParams();
          metrics.paramsReloads.inc({ result: 'applied' });
          await theAudit.append({
            event: 'params_loaded',
            params_sha256: r.fileSha256,
            added_versions: r.added,
            ...paramsAuditFields(params.current.params),
          });
          clog.info({ added: r.added, sha256: r.fileSha256 }, 'params reloaded');
          return { ok: true, message: `params reloaded: ${r.added} version(s) added` };
        } catch (e) {
          metrics.paramsReloads.inc({ result: 'refused' });
          const message = e instanceof Error ? e.message : String(e);
          await theAudit.append({
            event: 'params_reload_refused',
            code: isCodedError(e) ? e.code : undefined,
            reason: message,
          });
          clog.error({ err: e }, 'params reload refused; the old params stay');
          return { ok: false, message };
        }
      },
      stop() {
        stopping ??= (async () => {
          shuttingDown = true;
          await app.close();
          await new Promise<void>((r) => metricsServer.close(() => r()));
          // A log that can no longer be written must not keep the signer from releasing custody.
          await theAudit
            .append({ event: 'stop' })
            .catch((e: unknown) => clog.error({ err: e }, 'the stop could not be recorded in the audit log'));
          await theAudit.close();
          // An injected backend belongs to the caller; one we opened is ours to close.
          if (!deps.custody) await custody.close();
          clog.info('covenant signer stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await audit?.close().catch(() => undefined);
    if (!deps.custody) await custody.close().catch(() => undefined);
    throw e;
  }
}
