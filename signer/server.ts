import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from 'fastify';
import { isCodedError } from '../common/index.ts';
import { httpStatusOf, referenceErrorCode } from './errors.ts';
import type { SignerMetrics } from './metrics.ts';
import type { CovenantSigner } from './service.ts';
import type { SignUnbondingRequestBody } from './validate.ts';

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
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly signer: CovenantSigner;
  readonly metrics: SignerMetrics;
  readonly logger: FastifyBaseLogger;
  /** /readyz: every check with its state. */
  readonly readiness: () => Promise<{ ready: boolean; checks: Record<string, unknown> }>;
  /** Params versions listing each held key, for /v1/public-keys. */
  readonly keyListing: () => Array<{ public_key_hex: string; params_versions: number[] }>;
  readonly isShuttingDown: () => boolean;
}

const HEX = { type: 'string', maxLength: 200_000 } as const;
const SIGN_SCHEMA = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: [
      'staking_output_pk_script_hex',
      'unbonding_tx_hex',
      'staker_unbonding_sig_hex',
      'covenant_public_key',
    ],
    properties: {
      staking_output_pk_script_hex: HEX,
      unbonding_tx_hex: HEX,
      staker_unbonding_sig_hex: HEX,
      covenant_public_key: HEX,
      staking_tx_hex: HEX,
    },
  },
  response: {
    200: {
      type: 'object',
      required: ['data'],
      properties: {
        data: {
          type: 'object',
          required: ['signature_hex'],
          properties: { signature_hex: { type: 'string' } },
        },
      },
    },
  },
} as const;

/** A token bucket per client: `perMinute` requests a minute, bursts up to the same number. */
class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(readonly perMinute: number) {}
  take(client: string, now = performance.now()): boolean {
    const b = this.#buckets.get(client) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
    b.at = now;
    this.#buckets.set(client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

function fingerprintOf(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  return cert && typeof cert.fingerprint256 === 'string' ? cert.fingerprint256.toUpperCase() : undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    clientName: string;
  }
}

/**
 * The signer's HTTPS service with mutual TLS. The CA check happens in the TLS handshake (no client
 * certificate, or one from another CA, fails it); a certificate whose fingerprint is not on the
 * allow-list has its socket destroyed as soon as the handshake ends, before a byte of HTTP is read,
 * so such a client gets no HTTP answer at all.
 */
export function buildSignerServer(opts: SignerServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger,
    https: {
      key: opts.tls.key,
      cert: opts.tls.cert,
      ca: opts.tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    bodyLimit: opts.bodyLimitBytes,
    requestTimeout: opts.requestTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    // Our own log line per decision replaces fastify's two per request.
    logController: new LogController({ disableRequestLogging: true }),
    // Strict JSON: no type coercion, unknown fields refused (not stripped), first error only.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false },
    },
  });

  // The client's name per connection, decided once at the handshake (keep-alive reuses it).
  const names = new WeakMap<object, string>();
  app.server.on('secureConnection', (socket: TLSSocket) => {
    const fp = fingerprintOf(socket);
    const name = fp ? opts.clients.get(fp) : undefined;
    if (name) names.set(socket, name);
    else {
      opts.logger.warn(
        { fingerprint: fp, remote: socket.remoteAddress },
        'client certificate not on the allow-list: connection dropped',
      );
      socket.destroy();
    }
  });

  const limiter = new RateLimiter(opts.rateLimitPerMinute);
  let inFlight = 0;
  app.decorateRequest('clientName', '');

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-correlation-id', req.id);
    // Defence in depth: the connection-level check already ran; a request never runs without a name.
    const name = names.get(req.raw.socket);
    if (!name) {
      req.raw.socket.destroy();
      return reply;
    }
    req.clientName = name;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
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
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      code = 'SIGNER_BAD_REQUEST_BODY';
      message = err.message;
    } else {
      code = 'SIGNER_INTERNAL';
      message = 'Internal service error';
    }
    const status = httpStatusOf(code);
    if (status >= 500) {
      req.log.error({ err, code, correlationId: req.id, client: req.clientName }, 'request failed');
      if (code === 'SIGNER_INTERNAL') message = 'Internal service error';
    }
    void reply.status(status).send({ errorCode: referenceErrorCode(status), message, code });
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      errorCode: 'NOT_FOUND',
      message: `no route ${req.method} ${req.url}`,
      code: 'SIGNER_NOT_FOUND',
    });
  });

  app.post<{ Body: SignUnbondingRequestBody }>(
    '/v1/sign-unbonding-tx',
    { schema: SIGN_SCHEMA },
    async (req, reply) => {
      const t0 = performance.now();
      const m = opts.metrics;
      const finish = (outcome: string, code: string) => {
        m.requests.inc({ outcome, code });
        m.duration.observe({ outcome }, (performance.now() - t0) / 1000);
      };
      if (opts.isShuttingDown()) {
        finish('refused', 'SIGNER_SHUTTING_DOWN');
        return reply.status(503).send({
          errorCode: 'SERVICE_UNAVAILABLE',
          message: 'the signer is shutting down',
          code: 'SIGNER_SHUTTING_DOWN',
        });
      }
      if (!limiter.take(req.clientName)) {
        finish('refused', 'SIGNER_RATE_LIMITED');
        return reply.status(429).send({
          errorCode: 'TOO_MANY_REQUESTS',
          message: 'rate limit exceeded for this client',
          code: 'SIGNER_RATE_LIMITED',
        });
      }
      if (inFlight >= opts.maxConcurrentRequests) {
        finish('refused', 'SIGNER_BUSY');
        return reply.status(503).send({
          errorCode: 'SERVICE_UNAVAILABLE',
          message: 'the signer is at its concurrency limit',
          code: 'SIGNER_BUSY',
        });
      }
      inFlight++;
      m.received.inc();
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
