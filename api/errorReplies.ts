import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isCodedError } from '../common/index.ts';
import { isTransientDbError } from '../db/index.ts';
import { type ApiErrorCode, statusOf } from './errors.ts';
import type { ApiMetrics } from './metrics.ts';
import { BASE_SECURITY_HEADERS } from './securityHeaders.ts';

/**
 * Every error the API answers, whichever layer refuses the request (a route, fastify's router,
 * Node's HTTP parser), leaves in one format: `{errorCode, message, code}` with the correlation id
 * in `x-correlation-id`. The message is ours, never the request's path or headers echoed back.
 */
export function sendApiError(
  req: FastifyRequest,
  reply: FastifyReply,
  code: string,
  message: string,
  err?: unknown,
): FastifyReply {
  const { status, errorCode } = statusOf(code);
  // The id an operator finds the logged cause under (on errors only: a hot route saves the header).
  reply.header('x-correlation-id', req.id);
  if (status >= 500) req.log.error({ err, code, correlationId: req.id }, 'request failed');
  return reply.status(status).send({ errorCode, message, code });
}

const MESSAGES = {
  API_BAD_URL: 'the request URL does not decode (bad percent-encoding or too long a part)',
  API_BAD_REQUEST: 'the request is not valid HTTP',
  API_HEADERS_TOO_LARGE: 'the request headers are larger than this server accepts',
  API_REQUEST_TIMEOUT: 'the request was not received in time',
} as const;

/**
 * The root error handler: coded errors as they are, fastify's 4xx by status, a 5xx without detail
 * (its cause is logged under the correlation id).
 */
export function apiErrorHandler(o: { readonly bodyLimitBytes: number; readonly metrics: ApiMetrics }) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    let code: string;
    let message = err.message;
    if (isCodedError(err) && (err.code.startsWith('API_') || err.code.startsWith('STAKING_'))) {
      code = err.code;
    } else if (err.validation) {
      code = 'API_BAD_REQUEST';
    } else if (err.statusCode === 413) {
      code = 'API_BODY_TOO_LARGE';
      message = `the request body is larger than ${o.bodyLimitBytes} bytes`;
    } else if (err.statusCode === 415) {
      code = 'API_UNSUPPORTED_MEDIA_TYPE';
      message = 'the body must be application/json';
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      code = 'API_BAD_REQUEST';
    } else if (err.code === 'FST_ERR_HANDLER_TIMEOUT') {
      code = 'API_TIMEOUT';
      message = 'the request took too long to answer; retry later';
    } else if (isTransientDbError(err)) {
      code = 'API_DATABASE_UNAVAILABLE';
      message = 'the database is unavailable; retry later';
      o.metrics.dbUp.set(0);
    } else {
      code = 'API_INTERNAL';
      message = 'Internal service error';
    }
    void sendApiError(req, reply, code, message, err);
  };
}

/**
 * Errors fastify raises before routing (a URL that does not decode, a parameter too long): their
 * own messages quote the URL, so a fixed sentence replaces them.
 */
export function frameworkErrors(_err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  // Before routing: no onRequest hook ran, so none of the security headers are on the reply yet.
  void sendApiError(req, reply.headers(BASE_SECURITY_HEADERS), 'API_BAD_REQUEST', MESSAGES.API_BAD_URL);
}

export function notFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendApiError(req, reply, 'API_NOT_FOUND', 'no such route');
}

/**
 * Node's parser refusing a connection's bytes (malformed request, headers over the limit, a
 * request not received within the timeouts) never reaches fastify's handlers: the answer is
 * written on the socket, in the same format, and the socket closed.
 */
export function clientErrorHandler(log: FastifyBaseLogger) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const code: keyof typeof MESSAGES & ApiErrorCode =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'API_REQUEST_TIMEOUT'
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? 'API_HEADERS_TOO_LARGE'
          : 'API_BAD_REQUEST';
    const id = randomUUID();
    // Debug only: anyone can provoke these, and a log line each would let them fill the disk.
    log.debug({ err: err.message, errno: err.code, code, correlationId: id }, 'client error');
    // A response already on its way cannot be followed by another one on the same socket.
    const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
      ?.headersSent;
    if (socket.writable && !started) {
      const { status, errorCode } = statusOf(code);
      const body = JSON.stringify({ errorCode, message: MESSAGES[code], code });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
          'content-type: application/json; charset=utf-8\r\n' +
          `content-length: ${Buffer.byteLength(body)}\r\n` +
          `x-correlation-id: ${id}\r\n` +
          Object.entries(BASE_SECURITY_HEADERS)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join('') +
          `connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(err);
  };
}
