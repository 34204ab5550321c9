import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

/** Where `npm run build:web` writes the dashboard: `<repo>/web/dist`. */
export function defaultDashboardDir(): string {
  return fileURLToPath(new URL('../web/dist/', import.meta.url));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only its own files and talk only to this origin: no CDN, font or tracker can
 * sneak in through a later edit, and an injected script has nowhere to send a key or a PSBT.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The config schema already limits the URL to http(s) without quotes; this keeps the HTML sound anyway. */
function escapeAttribute(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Staking dashboard not built</title></head>
<body><h1>The staking dashboard is not built on this server</h1>
<p>Build it with <code>npm run build:web</code> (writes <code>web/dist/</code>) and restart the API.
The REST API itself works: see <a href="/docs">/docs</a>.</p></body></html>`;

/**
 * Serves the built dashboard (web/README.md): `index.html` at `/`, everything under `assets/` at
 * `/assets/…`. The files are read once, at start-up, into memory (the whole bundle is a few hundred
 * kB): no path from a request ever reaches the file system, so there is no traversal to guard.
 * When the directory holds no build, `/` answers 503 with a page that says how to build it, rather
 * than a blank page or a bare 404.
 * @returns the URL paths served
 */
export function registerDashboard(
  app: FastifyInstance,
  opts: {
    readonly dir: string;
    readonly log: FastifyBaseLogger;
    /** `dashboard.explorer_url`: where the page links transactions and addresses; '' for nowhere. */
    readonly explorerUrl?: string;
  },
): string[] {
  const index = join(opts.dir, 'index.html');
  if (!existsSync(index)) {
    opts.log.warn(
      { dir: opts.dir },
      'dashboard.enabled but no built dashboard in dashboard.dir: run `npm run build:web`; / explains this',
    );
    app.get('/', (_req, reply) => {
      void reply.status(503).headers(COMMON_HEADERS).type(TYPES['.html']!).send(NOT_BUILT);
    });
    return ['/'];
  }
  const assets = new Map<string, Asset>();
  const load = (file: string, edit?: (text: string) => string): Asset => {
    const body = edit ? Buffer.from(edit(readFileSync(file, 'utf8'))) : readFileSync(file);
    const ext = file.slice(file.lastIndexOf('.'));
    return {
      body,
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    };
  };
  // The page reads its explorer from this meta tag: the bundle stays one build for every operator,
  // and a page without the setting names no other origin at all.
  assets.set(
    '/',
    load(index, (html) =>
      html.replace(
        '<meta name="staking-explorer-url" content="">',
        `<meta name="staking-explorer-url" content="${escapeAttribute(opts.explorerUrl ?? '')}">`,
      ),
    ),
  );
  const assetDir = join(opts.dir, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      const file = join(assetDir, name);
      if (statSync(file).isFile() && /^[A-Za-z0-9._-]+$/.test(name))
        assets.set(`/assets/${name}`, load(file));
    }
  }
  for (const [url, asset] of assets) {
    const isPage = url === '/';
    app.get(url, (req, reply) => {
      void reply.headers(COMMON_HEADERS).header('etag', asset.etag);
      if (isPage) {
        // The page names its assets by content hash, so only the page itself must be revalidated.
        void reply.header('content-security-policy', DASHBOARD_CSP).header('cache-control', 'no-cache');
      } else {
        void reply.header('cache-control', 'public, max-age=31536000, immutable');
      }
      if (req.headers['if-none-match'] === asset.etag) return reply.status(304).send();
      return reply.type(asset.type).send(asset.body);
    });
  }
  opts.log.info({ dir: opts.dir, files: assets.size }, 'serving the staking dashboard at /');
  return [...assets.keys()];
}
