import type { Server } from 'node:http';

/** How long a client may take, and how many may be connected at once (the `server.*` options). */
export interface ListenerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
}

/**
 * The fastify options that bound a client's time. Node reads `headersTimeout` and
 * `connectionsCheckingInterval` only when the server is created (fastify sets `requestTimeout`
 * afterwards, which left headers at Node's 60 s as the real limit of the whole request, checked
 * every 30 s), so they go through `http`, the options fastify creates the server with.
 * No `connectionTimeout` (socket inactivity): the three bounds cover a silent client at every
 * stage, and an inactivity limit would also cut a slow handler's connection.
 */
export function listenerOptions(l: ListenerLimits) {
  // Node refuses headersTimeout > requestTimeout: the whole request bounds its headers too.
  const headersTimeout = Math.min(l.headersTimeoutMs, l.requestTimeoutMs);
  return {
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    http: {
      headersTimeout,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      // Expired requests are found by a sweep: often enough that a bound is kept within a quarter
      // of itself, at most once a second.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 4))),
    },
  };
}

/** Connections beyond the cap are closed as they arrive (Node's `maxConnections`). */
export function capConnections(server: Server, l: ListenerLimits): void {
  server.maxConnections = l.maxConnections;
}
