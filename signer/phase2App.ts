import type { FastifyInstance } from 'fastify';
import type { pino } from 'pino';
import { Counter } from 'prom-client';
import { CodedError, isCodedError } from '../common/index.ts';
import type { CustodyBackend } from '../hsm/index.ts';
import { readSecretText } from '../runtime/index.ts';
import {
  SIGN_TRANSACTIONS_PATH,
  SIGN_TRANSACTIONS_REQUEST_SCHEMA,
  SIGN_TRANSACTIONS_RESPONSE_SCHEMA,
  type SignTransactionsRequestBody,
} from '../staking/index.ts';
import type { AuditLog } from './audit.ts';
import type { ChainView } from './chain.ts';
import { httpStatusOf } from './errors.ts';
import { HmacVerifier, requireHmacOn } from './hmac.ts';
import { registerKeyRoutes } from './keyRoutes.ts';
import type { SignerMetrics } from './metrics.ts';
import {
  type ExpansionRecord,
  type Phase2ParamsHolder,
  type Phase2SignedRecord,
  Phase2Signer,
} from './phase2.ts';
import type { CovenantSigner, SignedRecord } from './service.ts';

/** The `[phase2]` config section (signer/config.ts). Off by default. */
export interface Phase2Config {
  readonly enabled: boolean;
  /** The chain's `GET /babylon/btcstaking/v1/params_versions` response, saved as a file. */
  readonly params_file: string;
  readonly hmac: {
    readonly key_file: string;
    readonly allow_body_only_hmac: boolean;
    readonly window_seconds: number;
    readonly max_nonces: number;
  };
}

/** The phase-2 routes, all behind the HMAC when one is configured. */
const PHASE2_ROUTES = new Set([SIGN_TRANSACTIONS_PATH, '/v1/public-key', '/v1/unlock', '/v1/lock']);

/**
 * The HMAC verifier of `[phase2.hmac]`, or undefined when no key file is set. The weaker body-only
 * form is said to be weaker at every start it is allowed.
 * @throws {CodedError} CONFIG_SECRET_UNREADABLE, CONFIG_SECRET_PERMISSIONS
 */
export async function loadHmacVerifier(
  config: Phase2Config['hmac'],
  log: pino.Logger,
): Promise<HmacVerifier | undefined> {
  if (!config.key_file) return undefined;
  const key = await readSecretText(config.key_file, 'phase2.hmac.key_file');
  if (config.allow_body_only_hmac) {
    log.warn(
      'phase2.hmac.allow_body_only_hmac = true: requests with the reference’s body-only X-Covenant-HMAC are accepted, and such a MAC can be replayed for ever (mutual TLS still applies); prefer the timestamp and nonce headers',
    );
  }
  return new HmacVerifier({
    key,
    allowBodyOnly: config.allow_body_only_hmac,
    windowSeconds: config.window_seconds,
    maxNonces: config.max_nonces,
  });
}

/**
 * Fails the start, before any listener, when phase 2 is on and custody cannot make adaptor
 * signatures or no params file is named.
 * @throws {CodedError} SIGNER_P2_CUSTODY_UNSUPPORTED, SIGNER_SELF_TEST_FAILED
 */
export function assertPhase2CanStart(config: Phase2Config, custody: CustodyBackend): void {
  if (!config.enabled) return;
  if (typeof custody.adaptorSign !== 'function') {
    throw new CodedError(
      'SIGNER_P2_CUSTODY_UNSUPPORTED',
      `phase2.enabled is true but custody backend "${custody.kind}" cannot make Schnorr adaptor signatures; use pkcs11 (or file for development), or set phase2.enabled = false`,
    );
  }
  if (!config.params_file) {
    throw new CodedError(
      'SIGNER_SELF_TEST_FAILED',
      'start-up self-test failed: phase2.enabled is true but phase2.params_file is not set',
    );
  }
}

const SIGN_TRANSACTIONS_SCHEMA = {
  body: SIGN_TRANSACTIONS_REQUEST_SCHEMA,
  response: { 200: SIGN_TRANSACTIONS_RESPONSE_SCHEMA },
} as const;

export interface Phase2Service {
  readonly signer: Phase2Signer;
  /** Adds the reference phase-2 routes to the mTLS listener (before it listens). */
  register(app: FastifyInstance): void;
  /** The /readyz entry. */
  readiness(): Record<string, unknown>;
  /** Re-reads params_file; refused (and audited, counted) unless append-only. */
  reload(): Promise<{ ok: boolean; message: string }>;
}

/** Builds the phase-2 duties of a started signer: params, the decision core, the route, its metrics. */
export function createPhase2Service(deps: {
  readonly params: Phase2ParamsHolder;
  readonly chain: ChainView;
  readonly tipHeight: () => Promise<number>;
  readonly custody: CustodyBackend;
  readonly audit: AuditLog;
  readonly signer: CovenantSigner;
  readonly phase1: Map<string, SignedRecord>;
  readonly signed: Map<string, Phase2SignedRecord>;
  readonly expansions: Map<string, ExpansionRecord>;
  readonly metrics: SignerMetrics;
  readonly log: pino.Logger;
  readonly maxConcurrentRequests: number;
  readonly isShuttingDown: () => boolean;
  readonly hmac?: HmacVerifier;
  readonly bodyLimitBytes: number;
}): Phase2Service {
  const m = deps.metrics;
  // Beside signer_requests_total (whose labels other code owns): the same count split for phase 2.
  const p2Requests = new Counter({
    name: 'signer_phase2_requests_total',
    help: 'POST /v1/sign-transactions decisions by outcome (signed, repeated, refused, error) and code',
    labelNames: ['outcome', 'code'],
    registers: [m.registry],
  });
  const p2Reloads = new Counter({
    name: 'signer_phase2_params_reloads_total',
    help: 'Phase-2 params reloads by result (applied, refused)',
    labelNames: ['result'],
    registers: [m.registry],
  });
  const signer = new Phase2Signer({
    params: () => deps.params.current.params,
    chain: deps.chain,
    tipHeight: deps.tipHeight,
    custody: deps.custody,
    audit: deps.audit,
    heldKeys: () => deps.signer.heldKeys,
    phase1: deps.phase1,
    signed: deps.signed,
    expansions: deps.expansions,
    exclusive: (slot, fn) => deps.signer.exclusive(slot, fn),
    onCustody: (s, ok) => {
      m.custodyDuration.observe(s);
      if (!ok) m.custodyErrors.inc();
    },
  });
  let inFlight = 0;
  return {
    signer,
    register(app) {
      if (deps.hmac) requireHmacOn(app, PHASE2_ROUTES, deps.hmac, deps.bodyLimitBytes);
      registerKeyRoutes(app, {
        custody: deps.custody,
        heldKeys: () => deps.signer.heldKeys,
        metrics: m,
        audit: (f) => deps.audit.append(f),
      });
      app.post<{ Body: SignTransactionsRequestBody }>(
        SIGN_TRANSACTIONS_PATH,
        { schema: SIGN_TRANSACTIONS_SCHEMA },
        async (req) => {
          const t0 = performance.now();
          const finish = (outcome: string, code: string) => {
            m.requests.inc({ outcome, code });
            p2Requests.inc({ outcome, code });
            m.duration.observe({ outcome }, (performance.now() - t0) / 1000);
          };
          // Thrown before the decision core: the server's error handler counts, audits and answers.
          if (deps.isShuttingDown())
            throw new CodedError('SIGNER_SHUTTING_DOWN', 'the signer is shutting down');
          if (inFlight >= deps.maxConcurrentRequests)
            throw new CodedError('SIGNER_BUSY', 'the signer is at its concurrency limit');
          inFlight++;
          m.received.inc();
          req.decidedBySigner = true;
          try {
            const out = await signer.sign(req.body, req.clientName, req.id);
            finish(out.outcome, 'OK');
            m.succeeded.inc();
            req.log.info(
              { client: req.clientName, outcome: out.outcome, paramsVersion: out.paramsVersion },
              'phase-2 signatures returned',
            );
            return { data: out.response };
          } catch (e) {
            const code = isCodedError(e) ? e.code : 'SIGNER_INTERNAL';
            finish(httpStatusOf(code) >= 500 ? 'error' : 'refused', code);
            m.failed.inc();
            req.log.info({ client: req.clientName, code }, 'phase-2 request refused');
            throw e;
          } finally {
            inFlight--;
          }
        },
      );
    },
    readiness() {
      const p = deps.params.current;
      return {
        ok: true,
        enabled: true,
        versions: p.params.versions.map((v) => v.version),
        sha256: p.fileSha256,
      };
    },
    async reload() {
      try {
        const r = deps.params.reload();
        p2Reloads.inc({ result: 'applied' });
        await deps.audit.append({
          event: 'phase2_params_loaded',
          params_sha256: r.fileSha256,
          added_versions: r.added,
        });
        deps.log.info({ added: r.added, sha256: r.fileSha256 }, 'phase-2 params reloaded');
        return { ok: true, message: `phase-2 params reloaded: ${r.added} version(s) added` };
      } catch (e) {
        p2Reloads.inc({ result: 'refused' });
        const message = e instanceof Error ? e.message : String(e);
        await deps.audit.append({
          event: 'phase2_params_reload_refused',
          code: isCodedError(e) ? e.code : undefined,
          reason: message,
        });
        deps.log.error({ err: e }, 'phase-2 params reload refused; the old params stay');
        return { ok: false, message };
      }
    },
  };
}
