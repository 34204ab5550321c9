import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * JSON answers load nothing and belong in no frame: a response a browser is tricked into
 * rendering can run nothing, fetch nothing and be framed by no one.
 */
const API_DIRECTIVES = {
  defaultSrc: ["'none'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
};

export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Swagger UI (/docs, /swagger/): scripts and styles from this origin only (the plugin serves them
 * from node_modules; server.ts picks the layout without the top bar, whose logo carries the UI's
 * only inline style), its stylesheet's icons as data: images, and the document fetched from
 * here; nothing third-party can load, and it still belongs in no frame.
 */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * What responses written outside fastify's hooks (fastify's frameworkErrors, Node's parser errors)
 * carry, so that no answer of this API goes without them.
 */
export const BASE_SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': API_CSP,
} as const;

/**
 * Helmet's headers on every response; `Cache-Control: no-store` unless the route sets its own
 * (the dashboard's page and assets do, and so does its stricter CSP, set by its handler after
 * these hooks ran).
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  // Registered before any route: fastify gives a route the hooks of plugins registered before it.
  void app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: API_DIRECTIVES },
    frameguard: { action: 'deny' },
    // The API is read cross-origin by design (server.cors_allowed_origins).
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    // TLS ends at the proxy in front, which owns HSTS for its domain; sent from here it could bind
    // sibling hosts of that domain the API knows nothing about.
    strictTransportSecurity: false,
  });
  app.addHook('onRequest', (_req, reply, done) => {
    reply.header('cache-control', 'no-store');
    done();
  });
}
