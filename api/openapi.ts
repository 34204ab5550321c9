import type { RouteSpec } from './server.ts';

const QUERY_PARTS = ['querystring'] as const;

/**
 * The OpenAPI 3.0 document of the routes, from the very schemas fastify validates and serializes
 * with (no second description to drift). JSON Schema draft-07 and OpenAPI 3.0 differ in small
 * ways (`type: 'null'`), which are translated here.
 */
export function buildOpenApi(routes: readonly RouteSpec[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const s = r.schema as Record<string, unknown>;
    const parameters: unknown[] = [];
    for (const part of QUERY_PARTS) {
      const q = s[part] as { properties?: Record<string, unknown>; required?: string[] } | undefined;
      for (const [name, schema] of Object.entries(q?.properties ?? {})) {
        const { description, ...rest } = schema as { description?: string };
        parameters.push({
          name,
          in: 'query',
          required: q?.required?.includes(name) ?? false,
          ...(description ? { description } : {}),
          schema: toOas(rest),
        });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries((s.response ?? {}) as Record<string, unknown>)) {
      const { description, ...rest } = schema as { description?: string };
      responses[status] = {
        description: description ?? (status.startsWith('2') ? 'success' : 'error'),
        content: { 'application/json': { schema: toOas(rest) } },
      };
    }
    paths[r.url] ??= {};
    paths[r.url]![r.method.toLowerCase()] = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(parameters.length ? { parameters } : {}),
      ...(s.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: toOas(s.body) } } } }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Staking API (Babylon phase-1)',
      version: '1.0.0',
      description:
        'Reference-compatible staking API: the phase-1 routes, envelopes and JSON shapes of staking-api-service. ' +
        'Errors are {"errorCode", "message", "code"}: the reference wire code, a sentence, and our stable code (api/README.md).',
    },
    paths,
  };
}

/** JSON Schema → OpenAPI 3.0 schema object. */
function toOas(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toOas);
  if (!v || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (o.type === 'null')
    return { nullable: true, enum: [null], ...(o.description ? { description: o.description } : {}) };
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if (k === 'const') out.enum = [x];
    else out[k] = toOas(x);
  }
  return out;
}

const esc = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** The docs page's only style, inline; its CSP allows exactly this text by hash. */
export const DOCS_STYLE = `body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border-top:1px solid #ddd;padding:.5rem 0}code,pre{font-family:ui-monospace,monospace;font-size:.85rem}
pre{background:#f6f6f6;padding:.5rem;overflow:auto}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .4rem;vertical-align:top;text-align:left}
.m{display:inline-block;min-width:3.5rem;padding:.1rem .3rem;border-radius:.2rem;color:#fff;font-size:.8rem;text-align:center}.get{background:#2b7}.post{background:#27b}`;

/**
 * A self-contained HTML page (no script, no CDN: it works offline and under a strict CSP) listing
 * every route of the OpenAPI document with its parameters, body and responses.
 */
export function docsPage(doc: Record<string, unknown>): string {
  const info = doc.info as { title: string; description: string };
  const parts: string[] = [];
  for (const [path, ops] of Object.entries(
    doc.paths as Record<string, Record<string, Record<string, unknown>>>,
  )) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters as Array<Record<string, unknown>> | undefined) ?? [];
      const rows = params
        .map(
          (p) =>
            `<tr><td><code>${esc(String(p.name))}</code></td><td>${p.required ? 'required' : 'optional'}</td><td><code>${esc(
              JSON.stringify(p.schema),
            )}</code></td><td>${esc(String(p.description ?? ''))}</td></tr>`,
        )
        .join('');
      const body = op.requestBody
        ? `<h4>Body</h4><pre>${esc(JSON.stringify((op.requestBody as { content: { 'application/json': { schema: unknown } } }).content['application/json'].schema, null, 2))}</pre>`
        : '';
      const responses = Object.entries(
        op.responses as Record<
          string,
          { description: string; content: { 'application/json': { schema: unknown } } }
        >,
      )
        .map(
          ([status, r]) =>
            `<details><summary><b>${esc(status)}</b> ${esc(r.description)}</summary><pre>${esc(JSON.stringify(r.content['application/json'].schema, null, 2))}</pre></details>`,
        )
        .join('');
      parts.push(`<section id="${esc(String(op.operationId))}">
<h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>
<p>${esc(String(op.summary))}</p>
${rows ? `<h4>Query parameters</h4><table><tr><th>name</th><th></th><th>schema</th><th></th></tr>${rows}</table>` : ''}
${body}<h4>Responses</h4>${responses}</section>`);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${DOCS_STYLE}</style>
</head><body><h1>${esc(info.title)}</h1><p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.0).</p>${parts.join('\n')}</body></html>`;
}
