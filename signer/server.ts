import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { isCodedError } from '../common/index.ts';
import { capConnections, type ListenerLimits, serverTimeoutOptions } from '../runtime/index.ts';
import {
  SIGN_UNBONDING_PATH,
  SIGN_UNBONDING_REQUEST_SCHEMA,
  SIGN_UNBONDING_RESPONSE_SCHEMA,
  type SignerErrorBody,
  type SignUnbondingRequestBody,
  type SignUnbondingResponse,
} from '../staking/index.ts';
import type { AuditFields } from './audit.ts';
import { httpStatusOf, referenceErrorCode } from './errors.ts';
import { ClientRateLimiter, LogLimiter } from './logLimiter.ts';
import type { SignerMetrics } from './metrics.ts';
import type { CovenantSigner } from './service.ts';

export interface TlsMaterial {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** CA of the allowed client certificates. */
  readonly ca: string | Buffer;
}

export interface SignerServerOptions {
  readonly tls: TlsMaterial;
  /** Allowed client certificates: fingerprint (`AB:CD:…`, uppercase) → name. */
  readonly clients: ReadonlyMap<string, string>;
  readonly bodyLimitBytes: number;
  readonly rateLimitPerMinute: number;
  readonly maxConcurrentRequests: number;
  /** Headers, whole request, keep-alive idle time and connections; the TLS handshake shares the headers bound. */
  readonly limits: ListenerLimits;
  readonly signer: CovenantSigner;
  readonly metrics: SignerMetrics;
  readonly logger: FastifyBaseLogger;
  /** /readyz: every check with its state. */
  readonly readiness: () => Promise<{ ready: boolean; checks: Record<string, unknown> }>;
  /** Appends to the audit log (AuditLog.append): every refusal that reached HTTP is recorded. */
  readonly audit: (fields: AuditFields) => Promise<unknown>;
  /** Detailed log lines a minute for each kind of flood-prone refusal (TLS, rate limit). */
  readonly refusalLogLinesPerMinute: number;
  /** Params versions listing each held key, for /v1/public-keys. */
  readonly keyListing: () => Array<{ public_key_hex: string; params_versions: number[] }>;
  readonly isShuttingDown: () => boolean;
}

const SIGN_SCHEMA = {
  body: SIGN_UNBONDING_REQUEST_SCHEMA,
  response: { 200: SIGN_UNBONDING_RESPONSE_SCHEMA },
} as const;

function fingerprintOf(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  return cert && typeof cert.fingerprint256 === 'string' ? cert.fingerprint256.toUpperCase() : undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    clientName: string;
    /** Set once the signer's decision core took the request: it audits its own refusals. */
    decidedBySigner: boolean;
  }
}

/** Why a TLS peer got no HTTP: a bounded set, so it can be a metric label. */
type TlsRefusal = 'handshake_failed' | 'no_certificate' | 'untrusted_certificate' | 'not_on_allow_list';

// An audit record must stay small whatever a caller sends: a refused request's path is cut here.
const MAX_AUDITED_PATH = 128;
const MAX_AUDITED_REASON = 300;

/**
 * The signer's HTTPS service with mutual TLS. A client without a certificate, with one that does
 * not verify against the CA, or with one whose fingerprint is not on the allow-list has its socket
 * destroyed as soon as the handshake ends, before a byte of HTTP is read, so it gets no HTTP answer
 * at all; each is counted and logged (rate-limited). Every refusal that reaches HTTP is counted,
 * logged and audited; the rate limit comes first, so the audit log cannot grow faster than it.
 */
export function buildSignerServer(opts: SignerServerOptions): FastifyInstance {
  const timeouts = serverTimeoutOptions(opts.limits);
  const app = Fastify({
    loggerInstance: opts.logger,
    https: {
      key: opts.tls.key,
      cert: opts.tls.cert,
      ca: opts.tls.ca,
      requestCert: true,
      // The CA check is ours, at the end of the handshake and before any HTTP is read (below):
      // failing the handshake inside OpenSSL would hide which certificate was shown, and the log
      // is to name it. OpenSSL still verifies the chain; `socket.authorized` is its verdict.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      // Read by Node only here, at creation (runtime/listenerLimits.ts): set later they do nothing.
      ...timeouts,
      // A peer that opens TCP and never finishes the handshake is held no longer than one that
      // never finishes its headers.
      handshakeTimeout: timeouts.headersTimeout,
    },
    bodyLimit: opts.bodyLimitBytes,
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: timeouts.keepAliveTimeout,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // Our own log line per decision replaces fastify's two per request.
    logController: new LogController({ disableRequestLogging: true }),
    // Strict JSON: no type coercion, unknown fields refused (not stripped), first error only.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false },
    },
  });

  capConnections(app.server, opts.limits);
  const m = opts.metrics;
  const perMinute = opts.refusalLogLinesPerMinute;
  const tlsLog = new LogLimiter({
    max: perMinute,
    intervalMs: 60_000,
    summary: (suppressed, intervalMs) => {
      m.logLinesSuppressed.inc({ kind: 'tls' }, suppressed);
      opts.logger.warn({ suppressed, intervalMs }, 'TLS refusals not logged one by one (over the log limit)');
    },
  });
  const rateLog = new LogLimiter({
    max: perMinute,
    intervalMs: 60_000,
    summary: (suppressed, intervalMs) => {
      m.logLinesSuppressed.inc({ kind: 'rate_limited' }, suppressed);
      opts.logger.warn(
        { suppressed, intervalMs },
        'rate-limited requests not logged one by one (over the log limit)',
      );
    },
  });
  const tlsRefused = (reason: TlsRefusal, fields: Record<string, unknown>) => {
    m.tlsRefusals.inc({ reason });
    if (tlsLog.allow())
      opts.logger.warn({ tlsRefusal: reason, ...fields }, 'TLS peer refused: no HTTP answer');
  };

  // A handshake that fails has its socket torn down before the error is reported, and with it the
  // peer's address: keep the address from the moment the TCP connection arrived.
  const remotes = new WeakMap<object, string | undefined>();
  app.server.on('connection', (raw: Socket) => {
    remotes.set(raw, raw.remoteAddress);
  });
  app.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const parent = (socket as unknown as { _parent?: object })._parent;
    tlsRefused('handshake_failed', {
      remote: socket.remoteAddress ?? (parent ? remotes.get(parent) : undefined),
      fingerprint: fingerprintOf(socket),
      error: err.code ?? err.message,
    });
  });

  // The client's name per connection, decided once at the handshake (keep-alive reuses it). A
  // socket that is refused here is destroyed in the same tick, before a byte of HTTP is read.
  const names = new WeakMap<object, string>();
  app.server.on('secureConnection', (socket: TLSSocket) => {
    const fp = fingerprintOf(socket);
    const remote = socket.remoteAddress;
    if (!socket.authorized) {
      tlsRefused(fp ? 'untrusted_certificate' : 'no_certificate', {
        remote,
        fingerprint: fp,
        error: String(socket.authorizationError ?? 'no certificate'),
      });
      socket.destroy();
      return;
    }
    const name = fp ? opts.clients.get(fp) : undefined;
    if (name) names.set(socket, name);
    else {
      tlsRefused('not_on_allow_list', { remote, fingerprint: fp });
      socket.destroy();
    }
  });

  // Refused before the rate limit: nothing; after it, each refusal is audited one by one (so the
  // audit log grows no faster than the limit allows); the 429s themselves are counted, logged up to
  // the log limit, and audited as one record per client per minute (and at close).
  const rateLimited = new Map<string, { count: number; since: string }>();
  const flushRateLimited = async () => {
    const batch = [...rateLimited];
    rateLimited.clear();
    for (const [caller, { count, since }] of batch) {
      await opts
        .audit({
          event: 'decision',
          outcome: 'refused',
          code: 'SIGNER_RATE_LIMITED',
          caller,
          count,
          since,
          reason: `${count} request(s) over the rate limit, audited together`,
        })
        .catch((err: unknown) => opts.logger.error({ err }, 'cannot audit rate-limited requests'));
    }
  };
  const flushTimer = setInterval(() => void flushRateLimited(), 60_000);
  flushTimer.unref();
  app.addHook('onClose', async () => {
    clearInterval(flushTimer);
    await flushRateLimited();
    tlsLog.close();
    rateLog.close();
  });

  const body = (status: number, code: string, message: string): SignerErrorBody => ({
    errorCode: referenceErrorCode(status),
    message,
    code,
  });

  /** Answers a refusal the signer's decision core did not see: counted, logged, audited, then sent. */
  const refuse = async (
    req: FastifyRequest,
    reply: FastifyReply,
    code: string,
    message: string,
    err?: unknown,
  ) => {
    const status = httpStatusOf(code);
    m.requests.inc({ outcome: status >= 500 && code === 'SIGNER_INTERNAL' ? 'error' : 'refused', code });
    const fields = { client: req.clientName, code, correlationId: req.id, method: req.method };
    if (code === 'SIGNER_INTERNAL') req.log.error({ ...fields, err }, 'request failed');
    else req.log.info({ ...fields, path: req.url.slice(0, MAX_AUDITED_PATH) }, 'request refused');
    try {
      await opts.audit({
        event: 'decision',
        outcome: 'refused',
        code,
        caller: req.clientName,
        correlation_id: req.id,
        method: req.method,
        path: req.url.slice(0, MAX_AUDITED_PATH),
        reason: code === 'SIGNER_INTERNAL' ? 'internal error' : message.slice(0, MAX_AUDITED_REASON),
      });
    } catch (e) {
      // Nothing was signed: the refusal still goes out, and the log says the record is missing.
      req.log.error({ err: e, correlationId: req.id }, 'cannot audit a refusal');
    }
    return reply.status(status).send(body(status, code, message));
  };

  let inFlight = 0;
  app.decorateRequest('clientName', '');
  app.decorateRequest('decidedBySigner', false);

  // Per client certificate name, not per address: several providers may share a NAT, and one
  // provider's instances share its name. Checked in the one onRequest hook, after the name is known
  // and before the body is read, for every route and for the 404 handler alike (fastify gives a
  // 404 handler no onRequest hook of its own, and a later hook would audit, one by one, the bodies
  // it failed to parse). Synchronous: a request that passes costs one map lookup and no promise.
  const limiter = new ClientRateLimiter({ max: opts.rateLimitPerMinute, windowMs: 60_000 });
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-correlation-id', req.id);
    // Defence in depth: the connection-level check already ran; a request never runs without a name.
    const name = names.get(req.raw.socket);
    if (!name) {
      // No answer and no next step: the request ends with its socket.
      req.raw.socket.destroy();
      return;
    }
    req.clientName = name;
    const retryAfterS = limiter.take(name);
    if (retryAfterS === undefined) {
      done();
      return;
    }
    m.requests.inc({ outcome: 'refused', code: 'SIGNER_RATE_LIMITED' });
    const tally = rateLimited.get(name);
    if (tally) tally.count++;
    else rateLimited.set(name, { count: 1, since: new Date().toISOString() });
    if (rateLog.allow())
      req.log.warn(
        { client: name, code: 'SIGNER_RATE_LIMITED', correlationId: req.id },
        'request rate-limited',
      );
    // Answered here, not through the error handler: one audit record per refusal would let a
    // flood grow the audit log faster than the limit (they are tallied above instead). Sent
    // without calling done(), so no later step of the request runs and its body is never read.
    void reply
      .status(429)
      .header('retry-after', retryAfterS)
      .send(body(429, 'SIGNER_RATE_LIMITED', 'rate limit exceeded for this client; retry later'));
  });

  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    let code: string;
    let message: string;
    if (isCodedError(err)) {
      code = err.code;
      message = err.message;
    } else if (err.validation) {
      code = 'SIGNER_BAD_REQUEST_BODY';
      message = `request body ${err.message.replace(/^body/, '').trim()}`;
    } else if (err.statusCode === 413) {
      code = 'SIGNER_BODY_TOO_LARGE';
      message = `the request body is larger than ${opts.bodyLimitBytes} bytes`;
    } else if (err.statusCode === 415) {
      code = 'SIGNER_UNSUPPORTED_MEDIA_TYPE';
      message = 'the request body must be application/json';
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      code = 'SIGNER_BAD_REQUEST_BODY';
      message = err.message;
    } else {
      code = 'SIGNER_INTERNAL';
      message = 'Internal service error';
    }
    if (httpStatusOf(code) >= 500 && code === 'SIGNER_INTERNAL') message = 'Internal service error';
    if (!req.decidedBySigner) return refuse(req, reply, code, message, err);
    // The decision core already audited this refusal, and the handler counted it.
    const status = httpStatusOf(code);
    if (status >= 500)
      req.log.error({ err, code, correlationId: req.id, client: req.clientName }, 'request failed');
    return reply.status(status).send(body(status, code, message));
  });

  app.setNotFoundHandler((req, reply) =>
    refuse(req, reply, 'SIGNER_NOT_FOUND', `no route ${req.method} ${req.url.slice(0, MAX_AUDITED_PATH)}`),
  );

  app.post<{ Body: SignUnbondingRequestBody; Reply: SignUnbondingResponse | SignerErrorBody }>(
    SIGN_UNBONDING_PATH,
    { schema: SIGN_SCHEMA },
    async (req, reply) => {
      const t0 = performance.now();
      const finish = (outcome: string, code: string) => {
        m.requests.inc({ outcome, code });
        m.duration.observe({ outcome }, (performance.now() - t0) / 1000);
      };
      if (opts.isShuttingDown())
        return refuse(req, reply, 'SIGNER_SHUTTING_DOWN', 'the signer is shutting down');
      if (inFlight >= opts.maxConcurrentRequests)
        return refuse(req, reply, 'SIGNER_BUSY', 'the signer is at its concurrency limit');
      inFlight++;
      m.received.inc();
      req.decidedBySigner = true;
      try {
        const out = await opts.signer.sign(req.body, req.clientName, req.id);
        finish(out.outcome, 'OK');
        m.succeeded.inc();
        req.log.info(
          { client: req.clientName, outcome: out.outcome, paramsVersion: out.paramsVersion },
          'unbonding signature returned',
        );
        return { data: { signature_hex: out.signatureHex } };
      } catch (e) {
        const code = isCodedError(e) ? e.code : 'SIGNER_INTERNAL';
        finish(httpStatusOf(code) >= 500 ? 'error' : 'refused', code);
        m.failed.inc();
        req.log.info({ client: req.clientName, code }, 'sign request refused');
        throw e;
      } finally {
        inFlight--;
      }
    },
  );

  app.get('/v1/public-keys', async () => ({ data: { public_keys: opts.keyListing() } }));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = await opts.readiness();
    return reply.status(r.ready ? 200 : 503).send(r);
  });
  return app;
}
