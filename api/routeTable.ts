// How a route is declared: once, for fastify and for the OpenAPI document, behind the reference's
// tolerant reader (unknown fields dropped, hex lowercased) that runs before the route's schema.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { HEX_FIELDS } from './schemas.ts';

/** A route as declared once, for fastify and for the OpenAPI document. */
export interface RouteSpec {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly summary: string;
  readonly schema: FastifySchema;
}

/** Collects the routes as the route groups declare them; buildApiServer adds them to fastify at the end. */
export class RouteTable {
  readonly routes: RouteSpec[] = [];
  readonly defs: RouteOptions[] = [];
  readonly route = <Q = unknown, B = unknown>(
    spec: RouteSpec,
    handler: (req: { query: Q; body: B; id: string; log: FastifyBaseLogger }, reply: FastifyReply) => unknown,
  ) => {
    this.routes.push(spec);
    this.defs.push({
      method: spec.method,
      url: spec.url,
      schema: { ...spec.schema, summary: spec.summary },
      preValidation: tolerantReader(spec.schema),
      handler: handler as never,
    });
  };
}

/** At most this many ignored names, each cut to this length, go to the debug log. */
const MAX_LOGGED_UNKNOWN = 10;
const MAX_LOGGED_NAME = 64;

/**
 * The reference's tolerance, where it is safe: query parameters and top-level body fields the
 * route does not know are dropped (and logged at debug: a client sending them may expect
 * something we do not do), and hex fields (HEX_FIELDS) are turned to lowercase, before the
 * route's schema validates what remains. Known fields with bad values are still refused.
 */
function tolerantReader(schema: FastifySchema) {
  const known = (part: unknown) => {
    const props = (part as { properties?: Record<string, unknown> } | undefined)?.properties;
    return props ? new Set(Object.keys(props)) : undefined;
  };
  const queryKeys = known(schema.querystring);
  const bodyKeys = known(schema.body);
  return (req: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    const ignored: string[] = [];
    const drop = (o: unknown, keys: Set<string> | undefined, where: string) => {
      if (!keys || !isPlainObject(o)) return;
      for (const k of Object.keys(o)) {
        if (keys.has(k)) continue;
        delete o[k];
        if (ignored.length < MAX_LOGGED_UNKNOWN) ignored.push(`${where}.${k.slice(0, MAX_LOGGED_NAME)}`);
      }
    };
    drop(req.query, queryKeys, 'query');
    drop(req.body, bodyKeys, 'body');
    if (ignored.length > 0)
      req.log.debug({ correlationId: req.id, ignored }, 'ignored unknown request fields');
    lowercaseHex(req.query, 0);
    lowercaseHex(req.params, 0);
    lowercaseHex(req.body, 0);
    done();
  };
}

function isPlainObject(o: unknown): o is Record<string, unknown> {
  return typeof o === 'object' && o !== null && !Array.isArray(o);
}

/** Request bodies are shallow (a list of objects at most): deeper is never ours to normalise. */
function lowercaseHex(o: unknown, depth: number): void {
  if (depth > 3) return;
  if (Array.isArray(o)) {
    for (const x of o) lowercaseHex(x, depth + 1);
    return;
  }
  if (!isPlainObject(o)) return;
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'string') {
      if (HEX_FIELDS.has(k)) o[k] = v.toLowerCase();
    } else if (Array.isArray(v) && HEX_FIELDS.has(k)) {
      o[k] = v.map((x) => (typeof x === 'string' ? x.toLowerCase() : x));
    } else {
      lowercaseHex(v, depth + 1);
    }
  }
}
