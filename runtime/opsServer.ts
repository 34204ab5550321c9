import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a service exposes on its plain operations port. */
export interface OpsEndpoints {
  /** Prometheus exposition: content type and text. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** /readyz: every check with its state; 200 when ready, 503 otherwise. */
  readiness(): Promise<{ readonly ready: boolean; readonly checks: Record<string, unknown> }>;
  /** More paths that answer as /readyz (e.g. the reference's `/health`). */
  readonly readinessAliases?: readonly string[];
}

/**
 * Every service's plain operations listener (bound to loopback by default): /metrics, /healthz
 * (the process answers) and /readyz (its dependencies do). One implementation for all services,
 * which may not import each other.
 */
export function createOpsServer(ops: OpsEndpoints): Server {
  return createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    (async () => {
      if (req.method !== 'GET') return send(405, 'text/plain', 'method not allowed\n');
      if (req.url === '/metrics') {
        const m = await ops.metrics();
        return send(200, m.contentType, m.body);
      }
      if (req.url === '/healthz') return send(200, 'application/json', '{"status":"ok"}');
      if (req.url === '/readyz' || (req.url !== undefined && ops.readinessAliases?.includes(req.url))) {
        const r = await ops.readiness();
        return send(r.ready ? 200 : 503, 'application/json', JSON.stringify(r));
      }
      return send(404, 'text/plain', 'not found\n');
    })().catch(() => send(500, 'text/plain', 'internal error\n'));
  });
}

/** Listens and resolves with the bound port (0 picks a free one). */
export function listenOps(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}
