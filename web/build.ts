#!/usr/bin/env -S npx tsx
/**
 * Builds the dashboard into web/dist (index.html, assets/app-<hash>.js, assets/app-<hash>.css):
 * one ES module bundle, minified, no source maps, nothing fetched at run time. `npm run build:web`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const WEB = fileURLToPath(new URL('.', import.meta.url));
export const DEFAULT_OUT_DIR = join(WEB, 'dist');
/** The bundle's budget, minified and gzipped: a page that stays quick on a slow link. */
export const MAX_GZIP_BYTES = 200_000;

export interface BuiltDashboard {
  readonly outDir: string;
  readonly files: readonly string[];
  readonly jsBytes: number;
  readonly gzipBytes: number;
}

export async function buildDashboard(outDir = DEFAULT_OUT_DIR): Promise<BuiltDashboard> {
  rmSync(outDir, { recursive: true, force: true });
  const assets = join(outDir, 'assets');
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: { app: join(WEB, 'main.ts'), style: join(WEB, 'style.css') },
    outdir: assets,
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    treeShaking: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    inject: [join(WEB, 'shims', 'buffer.ts')],
    define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' },
  });
  const outputs = Object.keys(result.metafile.outputs);
  const js = outputs.find((f) => /app-[^/]+\.js$/.test(f));
  const css = outputs.find((f) => /style-[^/]+\.css$/.test(f));
  if (!js || !css) throw new Error(`build:web: unexpected outputs ${outputs.join(', ')}`);
  const code = readFileSync(js, 'utf8');
  // What the page must never carry: Node built-ins, server libraries, or a request to another origin.
  for (const [bad, why] of [
    [/from\s*["']node:|import\(["']node:/, 'a Node built-in import'],
    [/from\s*["'](?:ajv|smol-toml)["']/, 'a server-only library'],
    [/https?:\/\/(?!www\.w3\.org\/)[a-z0-9.-]+\.[a-z]{2,}\//i, 'a URL of another origin'],
  ] as const) {
    if (bad.test(code)) throw new Error(`build:web: the bundle contains ${why} (${bad})`);
  }
  const html = readFileSync(join(WEB, 'index.html'), 'utf8')
    .replace('{{JS}}', basename(js))
    .replace('{{CSS}}', basename(css));
  writeFileSync(join(outDir, 'index.html'), html);
  const gzipBytes = gzipSync(code).length + gzipSync(readFileSync(css)).length;
  if (gzipBytes > MAX_GZIP_BYTES) {
    throw new Error(
      `build:web: the bundle is ${gzipBytes} bytes gzipped, above the ${MAX_GZIP_BYTES} budget`,
    );
  }
  return {
    outDir,
    files: ['index.html', `assets/${basename(js)}`, `assets/${basename(css)}`],
    jsBytes: code.length,
    gzipBytes,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildDashboard(process.argv[2]).then(
    (r) => {
      console.log(
        `dashboard built in ${r.outDir}: ${r.files.join(', ')} (${Math.round(r.jsBytes / 1024)} KiB JS, ${Math.round(r.gzipBytes / 1024)} KiB gzipped in all)`,
      );
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
