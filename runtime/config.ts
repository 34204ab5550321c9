import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { CodedError } from '../common/index.ts';

/**
 * One way to configure every service: a TOML file, then environment overrides, then a JSON Schema
 * that fills defaults, coerces types (environment values are strings) and refuses unknown keys,
 * so a typo stops start-up instead of silently keeping a default.
 *
 * An override is `<PREFIX>__<SECTION>__<KEY>=value`, e.g. `SIGNER__SERVER__PORT=9791`; a value that
 * starts with `[` or `{` is read as JSON (for lists and tables).
 */
export interface LoadConfigOptions {
  /** TOML file; when absent, only defaults and the environment apply. */
  readonly file?: string | undefined;
  /** e.g. `SIGNER`. */
  readonly envPrefix: string;
  /** JSON Schema of the whole document, `additionalProperties: false` at every level. */
  readonly schema: SchemaObject;
  readonly env?: NodeJS.ProcessEnv;
}

// `verbose` gives each error its schema node, so a `pattern` failure can be told by its `hint`.
const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: true, verbose: true });
/**
 * `hint`: what a `pattern`-checked value should look like, in words ("64 hex digits…"). The error
 * shows it in place of the regular expression, which reads as noise to an operator.
 */
ajv.addKeyword({ keyword: 'hint', schemaType: 'string' });
const compiled = new WeakMap<SchemaObject, ReturnType<typeof ajv.compile>>();

/** @throws {CodedError} CONFIG_UNREADABLE, CONFIG_INVALID_TOML, CONFIG_INVALID */
export function loadConfig<T>(opts: LoadConfigOptions): T {
  let raw: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (cause) {
      throw new CodedError(
        'CONFIG_UNREADABLE',
        `cannot read config file ${opts.file}: ${(cause as Error).message}`,
        { cause },
      );
    }
    try {
      raw = parseToml(text) as Record<string, unknown>;
    } catch (cause) {
      throw new CodedError(
        'CONFIG_INVALID_TOML',
        `${opts.file} is not valid TOML: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  const fromEnv = applyEnvOverrides(raw, opts.envPrefix, opts.env ?? process.env);
  let validate = compiled.get(opts.schema);
  if (!validate) {
    validate = ajv.compile(opts.schema);
    compiled.set(opts.schema, validate);
  }
  if (!validate(raw)) {
    const errors = validate.errors ?? [];
    // Blame what set the value: an environment variable, or the file (or the defaults) otherwise.
    const envNames = [...new Set(errors.map((e) => envSource(fromEnv, e)).filter((n) => n !== undefined))];
    const fromFile = errors.filter((e) => envSource(fromEnv, e) === undefined);
    const parts: string[] = [];
    if (envNames.length > 0) {
      const problems = errors.filter((e) => envSource(fromEnv, e) !== undefined).map(describeError);
      parts.push(`environment variable ${envNames.join(', ')}: ${problems.join('; ')}`);
    }
    if (fromFile.length > 0) {
      parts.push(
        `invalid configuration${opts.file ? ` in ${opts.file}` : ''}: ${fromFile.map(describeError).join('; ')}`,
      );
    }
    throw new CodedError('CONFIG_INVALID', parts.join('; '));
  }
  return deepFreeze(raw) as T;
}

/**
 * Applies `<PREFIX>__…` variables onto `raw`.
 * @returns each overridden option's dotted path, with the variable that set it
 */
function applyEnvOverrides(
  raw: Record<string, unknown>,
  prefix: string,
  env: NodeJS.ProcessEnv,
): Map<string, string> {
  const sources = new Map<string, string>();
  const lead = `${prefix}__`;
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(lead) || value === undefined) continue;
    const path = name.slice(lead.length).toLowerCase().split('__');
    let node = raw;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    const trimmed = value.trim();
    let parsed: unknown = value;
    if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
      try {
        parsed = JSON.parse(trimmed);
      } catch (cause) {
        throw new CodedError('CONFIG_INVALID', `environment variable ${name} is not valid JSON`, { cause });
      }
    }
    node[path[path.length - 1]!] = parsed;
    sources.set(path.join('.'), name);
  }
  return sources;
}

/** The variable that set the option an error is about, or one that set a table around it. */
function envSource(sources: Map<string, string>, e: ErrorObject): string | undefined {
  const parts = e.instancePath.split('/').slice(1);
  if (e.keyword === 'additionalProperties') parts.push(String(e.params.additionalProperty));
  for (let n = parts.length; n > 0; n--) {
    const name = sources.get(parts.slice(0, n).join('.'));
    if (name) return name;
  }
  return undefined;
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : '(top level)';
  if (e.keyword === 'additionalProperties') {
    return `${where === '(top level)' ? '' : `${where}.`}${String(e.params.additionalProperty)} is not a known option`;
  }
  if (e.keyword === 'pattern') {
    const hint = (e.parentSchema as { hint?: unknown } | undefined)?.hint;
    return typeof hint === 'string' ? `${where} must be ${hint}` : `${where} is not in the expected format`;
  }
  return `${where} ${e.message ?? 'is invalid'}`;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** pino's levels, the `[log]` table every service shares. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export const LOG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: { level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'], default: 'info' } },
} as const;

/**
 * The `[metrics]` table: the plain operations listener (/metrics, /healthz, /readyz), loopback by
 * default. Each service has its own default port so they can share a host.
 */
export function metricsSchema(defaultPort: number) {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      host: { type: 'string', minLength: 1, default: '127.0.0.1' },
      port: { type: 'integer', minimum: 0, maximum: 65535, default: defaultPort },
    },
  } as const;
}
