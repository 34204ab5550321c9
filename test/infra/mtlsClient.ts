import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { CertFiles } from './pki.ts';

export interface HttpAnswer {
  readonly status: number;
  readonly json: unknown;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** What a request ended in: an HTTP answer, or no HTTP answer at all (TLS refusal, reset, close). */
export type Outcome =
  | { readonly kind: 'http'; readonly answer: HttpAnswer }
  | { readonly kind: 'no-http'; readonly error: string };

/**
 * A keep-alive HTTPS client presenting `identity` (or no certificate) and trusting `caFile` for the
 * server, for tests and benchmarks of mutual-TLS services.
 */
export class MtlsClient {
  readonly #agent: Agent;
  constructor(
    readonly baseUrl: string,
    opts: { readonly caFile: string; readonly identity?: CertFiles; readonly maxSockets?: number },
  ) {
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 16,
      ca: readFileSync(opts.caFile),
      ...(opts.identity
        ? { cert: readFileSync(opts.identity.cert), key: readFileSync(opts.identity.key) }
        : {}),
    });
  }

  send(
    method: string,
    path: string,
    body?: unknown,
    rawBody?: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<Outcome> {
    const payload = rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    return new Promise((resolve) => {
      const req = request(
        new URL(path, this.baseUrl),
        {
          method,
          agent: this.#agent,
          headers: {
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
            ...extraHeaders,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => resolve({ kind: 'no-http', error: e.message }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown = text;
            try {
              json = JSON.parse(text);
            } catch {}
            resolve({ kind: 'http', answer: { status: res.statusCode ?? 0, json, headers: res.headers } });
          });
        },
      );
      req.on('error', (e) => resolve({ kind: 'no-http', error: e.message }));
      req.end(payload);
    });
  }

  /** Sends and requires an HTTP answer. */
  async call(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const o = await this.send(method, path, body);
    if (o.kind !== 'http') throw new Error(`no HTTP answer: ${o.error}`);
    return o.answer;
  }

  close(): void {
    this.#agent.destroy();
  }
}
