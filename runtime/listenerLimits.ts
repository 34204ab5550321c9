import type { Server } from 'node:http';

/** How long a client may take, and how many may be connected at once (each service's `server.*` options). */
export interface ListenerLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
}

/**
 * The options Node reads only when it creates the server: `headersTimeout` and
 * `connectionsCheckingInterval` set afterwards (as fastify sets `requestTimeout`) do nothing, which
 * left headers at Node's 60 s as the real limit of the whole request, checked every 30 s. For an
 * HTTPS server they go into the `https` options beside the TLS material; for HTTP, into `http`.
 * No inactivity timeout: these bounds cover a silent client at every stage, and an inactivity limit
 * would also cut a slow handler's connection.
 */
export function serverTimeoutOptions(l: ListenerLimits) {
  // Node refuses headersTimeout > requestTimeout: the whole request bounds its headers too.
  const headersTimeout = Math.min(l.headersTimeoutMs, l.requestTimeoutMs);
  return {
    headersTimeout,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    // Expired requests are found by a sweep: often enough that a bound is kept within a quarter
    // of itself, at most once a second.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 4))),
  };
}

/** The fastify options of a plain HTTP listener that bound a client's time. */
export function listenerOptions(l: ListenerLimits) {
  return {
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    http: serverTimeoutOptions(l),
  };
}

/** Connections beyond the cap are closed as they arrive (Node's `maxConnections`). */
export function capConnections(server: Server, l: ListenerLimits): void {
  server.maxConnections = l.maxConnections;
}
