// What every request of the public listener goes through besides its route: the shutdown 503, CORS,
// the duration histogram, the per-address rate limit, and the 404 (rate limited, and CORS preflights).
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CodedError } from '../common/index.ts';
import { notFound } from './errorReplies.ts';
import type { ApiErrorCode } from './errors.ts';
import type { ApiServerOptions, RateLimitOptions } from './serverOptions.ts';

/** The shutdown 503, CORS headers and the request-duration histogram. */
export function registerRequestHooks(app: FastifyInstance, o: ApiServerOptions): void {
  // Callback hooks, not async ones: one promise fewer per request on the hot routes.
  const anyOrigin = o.corsAllowedOrigins.includes('*');
  const cors = o.corsAllowedOrigins.length > 0;
  // Requests arriving on kept-alive connections while the server closes get our 503 body
  // (fastify's own, return503OnClosing, has another shape).
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (req, reply, done) => {
    if (closing) {
      reply.code(503).header('connection', 'close').header('x-correlation-id', req.id).send({
        errorCode: 'SERVICE_UNAVAILABLE',
        message: 'the instance is shutting down; retry',
        code: 'API_SHUTTING_DOWN',
      });
      return;
    }
    const origin = req.headers.origin;
    if (cors && origin !== undefined) {
      if (anyOrigin) reply.header('access-control-allow-origin', '*');
      else if (o.corsAllowedOrigins.includes(origin)) {
        reply.header('access-control-allow-origin', origin);
        reply.header('vary', 'Origin');
      }
    }
    done();
  });
  // One histogram child per (route, status), looked up by a string key rather than hashed labels.
  const durations = new Map<string, { observe(v: number): void }>();
  app.addHook('onResponse', (req, reply, done) => {
    const endpoint = req.routeOptions.url ?? 'unmatched';
    const key = `${reply.statusCode} ${endpoint}`;
    let child = durations.get(key);
    if (!child) {
      child = o.metrics.httpDuration.labels({ endpoint, status: String(reply.statusCode) });
      durations.set(key, child);
    }
    child.observe(reply.elapsedTime / 1000);
    done();
  });
}

/** The 404 of unknown paths, which also answers CORS preflights. */
export function registerNotFound(app: FastifyInstance, o: ApiServerOptions): void {
  // Unknown paths count against the same per-address limit (a scanner walks 404s); the plugin's
  // handler exists once it has loaded, so it is taken at the first such request.
  let limitNotFound: ReturnType<FastifyInstance['rateLimit']> | undefined;
  const notFoundOptions = o.rateLimit.enabled
    ? {
        preHandler: (req: FastifyRequest, reply: FastifyReply) => {
          limitNotFound ??= app.rateLimit();
          return limitNotFound.call(app, req, reply);
        },
      }
    : {};
  app.setNotFoundHandler(notFoundOptions, (req, reply) => {
    if (req.method === 'OPTIONS' && o.corsAllowedOrigins.length > 0) {
      // CORS preflight for any route.
      return reply
        .status(204)
        .header('access-control-allow-methods', 'GET, POST, OPTIONS')
        .header('access-control-allow-headers', 'Content-Type')
        .header('access-control-max-age', '600')
        .send();
    }
    return notFound(req, reply);
  });
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');

/**
 * @fastify/rate-limit per client address (the socket's: the API trusts no forwarding header),
 * answered 429 API_RATE_LIMITED in the one error format, with its Retry-After and
 * x-ratelimit-* headers.
 */
export function registerRateLimit(app: FastifyInstance, o: RateLimitOptions): void {
  void app.register(rateLimit, {
    global: true,
    max: o.max,
    timeWindow: o.windowMs,
    ...(o.exemptLoopback ? { allowList: (req: FastifyRequest) => isLoopback(req.ip) } : {}),
    errorResponseBuilder: (_req, ctx) =>
      new CodedError<ApiErrorCode>(
        'API_RATE_LIMITED',
        `too many requests from this address; retry in ${Math.max(1, Math.ceil(ctx.ttl / 1000))} s`,
      ),
  });
}
