import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { CodedError } from './codedError.ts';

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

const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: true });
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
  applyEnvOverrides(raw, opts.envPrefix, opts.env ?? process.env);
  let validate = compiled.get(opts.schema);
  if (!validate) {
    validate = ajv.compile(opts.schema);
    compiled.set(opts.schema, validate);
  }
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map(describeError).join('; ');
    throw new CodedError(
      'CONFIG_INVALID',
      `invalid configuration${opts.file ? ` in ${opts.file}` : ''}: ${problems}`,
    );
  }
  return deepFreeze(raw) as T;
}

function applyEnvOverrides(raw: Record<string, unknown>, prefix: string, env: NodeJS.ProcessEnv): void {
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
  }
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : '(top level)';
  if (e.keyword === 'additionalProperties') {
    return `${where === '(top level)' ? '' : `${where}.`}${String(e.params.additionalProperty)} is not a known option`;
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
