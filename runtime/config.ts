import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { parse as parseToml } from 'smol-toml';
import { CodedError, type DeepReadonly } from '../common/index.ts';

/**
 * One way to configure every service: a TOML file, then environment overrides, then a JSON Schema
 * that fills defaults, coerces types (environment values are strings) and refuses unknown keys,
 * so a typo stops start-up instead of silently keeping a default.
 *
 * An override is `<PREFIX>__<SECTION>__<KEY>=value`, e.g. `SIGNER__SERVER__PORT=9791`; a value that
 * starts with `[` or `{` is read as JSON (for lists and tables).
 */
export interface LoadConfigOptions<T = unknown> {
  /** TOML file; when absent, only defaults and the environment apply. */
  readonly file?: string | undefined;
  /** e.g. `SIGNER`. */
  readonly envPrefix: string;
  /** The whole document's schema (configSchema), `additionalProperties: false` at every level. */
  readonly schema: TypedConfigSchema<T>;
  readonly env?: NodeJS.ProcessEnv;
  /** Options and tables renamed since the last release: their old names are still read, with a warning. */
  readonly renamed?: readonly RenamedOption[];
  /** Where deprecation warnings go; by default Node's `process.emitWarning` (a `DeprecationWarning` on stderr). */
  readonly warn?: (message: string) => void;
}

/**
 * A dotted path that changed its name, e.g. `{ from: 'queue', to: 'rabbitmq' }` (a whole table) or
 * `{ from: 'params.global_params_file', to: 'params.file' }` (one option). The old name is accepted for
 * one release: it is moved to the new one with a warning naming both; setting both for the same option
 * is CONFIG_INVALID, since which one should win is the operator's decision, not ours.
 */
export interface RenamedOption {
  readonly from: string;
  readonly to: string;
}

/** What a config schema must be for its type to be derived from it (json-schema-to-ts). */
export type ConfigSchema = Exclude<JSONSchema, boolean>;

/**
 * The TypeScript type of what a schema accepts, once Ajv has filled its defaults (an option with a
 * default is always present). Each service's config type is this of its schema: one declaration, no twin.
 */
export type ConfigOf<S extends ConfigSchema> = DeepReadonly<FromSchema<S>>;

/**
 * A config schema carrying the type of what it accepts, so that loadConfig's result is typed by the
 * schema it was checked against, with no twin interface and no cast at the call.
 */
export interface TypedConfigSchema<T> {
  readonly json: SchemaObject;
  /** Never set: it only carries the type. */
  readonly accepts?: T;
}

/**
 * Wraps an `as const` JSON Schema for loadConfig. The type is worked out here, once, where the schema
 * is declared (worked out inside a generic call instead, it can exhaust TypeScript's inference).
 */
export function configSchema<const S extends ConfigSchema>(json: S): TypedConfigSchema<ConfigOf<S>> {
  return { json };
}

// `verbose` gives each error its schema node, so a `pattern` failure can be told by its `hint`.
const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: true, verbose: true });
/**
 * `hint`: what a `pattern`-checked value should look like, in words ("64 hex digits…"). The error
 * shows it in place of the regular expression, which reads as noise to an operator.
 */
ajv.addKeyword({ keyword: 'hint', schemaType: 'string' });

/** What checkConfig found: the value, typed by its schema, or the schema's errors. */
export type CheckedConfig<T> =
  | { readonly value: T; readonly errors?: undefined }
  | { readonly value?: undefined; readonly errors: readonly ErrorObject[] };

/**
 * Checks `data` against `schema` with the one Ajv instance every configuration goes through (Ajv
 * caches each schema's compiled validator by identity): fills defaults and coerces in place, and
 * returns the value typed by the schema, or the errors for the caller to word in its own codes.
 */
export function checkConfig<T>(schema: TypedConfigSchema<T>, data: unknown): CheckedConfig<T>;
// As loadConfig's: only what Ajv has checked against that very schema is returned as its type.
export function checkConfig(schema: TypedConfigSchema<unknown>, data: unknown): CheckedConfig<unknown> {
  const validate = ajv.compile(schema.json);
  return validate(data) ? { value: data } : { errors: validate.errors ?? [] };
}

/**
 * The configuration `opts.schema` describes, typed by that schema and frozen.
 * @throws {CodedError} CONFIG_UNREADABLE, CONFIG_INVALID_TOML, CONFIG_INVALID
 */
export function loadConfig<T>(opts: LoadConfigOptions<T>): T;
// The signature above is where the schema's type meets the data: only what Ajv has checked against
// that very schema is returned.
export function loadConfig(opts: LoadConfigOptions): unknown {
  let raw: Record<string, unknown> = {};
  if (opts.file) raw = readTomlFile(opts.file);
  const fromFile = new Set(leafPaths(raw));
  const fromEnv = applyEnvOverrides(raw, opts.envPrefix, opts.env ?? process.env);
  const where: Origin = { file: opts.file, fromFile, fromEnv, envPrefix: opts.envPrefix };
  for (const r of opts.renamed ?? []) applyRename(raw, r, where, opts.warn ?? emitDeprecation);
  const checked = checkConfig(opts.schema, raw);
  if (checked.errors) {
    const errors = checked.errors;
    // Blame what set the value: an environment variable, or the file (or the defaults) otherwise.
    const envNames = [...new Set(errors.map((e) => envSource(fromEnv, e)).filter((n) => n !== undefined))];
    const inFile = errors.filter((e) => envSource(fromEnv, e) === undefined);
    const parts: string[] = [];
    if (envNames.length > 0) {
      const problems = errors.filter((e) => envSource(fromEnv, e) !== undefined).map(describeError);
      parts.push(`environment variable ${envNames.join(', ')}: ${problems.join('; ')}`);
    }
    if (inFile.length > 0) {
      parts.push(
        `invalid configuration${opts.file ? ` in ${opts.file}` : ''}: ${inFile.map(describeError).join('; ')}`,
      );
    }
    throw new CodedError('CONFIG_INVALID', parts.join('; '));
  }
  return deepFreeze(raw);
}

/**
 * A TOML file as a plain table.
 * @throws {CodedError} CONFIG_UNREADABLE, CONFIG_INVALID_TOML
 */
export function readTomlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new CodedError(
      'CONFIG_UNREADABLE',
      `cannot read config file ${file}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  try {
    return parseToml(text);
  } catch (cause) {
    throw new CodedError('CONFIG_INVALID_TOML', `${file} is not valid TOML: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** Where each option of the document came from, to name it in warnings and errors. */
interface Origin {
  readonly file: string | undefined;
  /** Dotted paths of the options the file set. */
  readonly fromFile: ReadonlySet<string>;
  /** Dotted path of each option an environment variable set, with that variable. */
  readonly fromEnv: Map<string, string>;
  readonly envPrefix: string;
}

function emitDeprecation(message: string): void {
  process.emitWarning(message, { type: 'DeprecationWarning', code: 'CONFIG_DEPRECATED_NAME' });
}

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Dotted paths of every option under `node` (a table's own path is not listed, its options are). */
function leafPaths(node: Record<string, unknown>, at = ''): string[] {
  return Object.entries(node).flatMap(([k, v]) =>
    isTable(v) && Object.keys(v).length > 0 ? leafPaths(v, `${at}${k}.`) : [`${at}${k}`],
  );
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`);
const envNameOf = (prefix: string, path: string) => `${prefix}__${path.replaceAll('.', '__').toUpperCase()}`;

/** Moves the option or table at `r.from` to `r.to`, warning once per file and once per variable. */
function applyRename(
  raw: Record<string, unknown>,
  r: RenamedOption,
  where: Origin,
  warn: (message: string) => void,
): void {
  const fromKeys = r.from.split('.');
  const oldParent = tableAt(raw, fromKeys.slice(0, -1), false);
  const oldKey = fromKeys[fromKeys.length - 1]!;
  if (oldParent === undefined || !(oldKey in oldParent)) return;
  const moved = (p: string) => `${r.to}${p.slice(r.from.length)}`;
  const describe = (p: string) => {
    const variable = where.fromEnv.get(p);
    return variable ? `${p} (environment variable ${variable})` : `${p} (in ${where.file ?? 'the file'})`;
  };
  // Refuse before moving anything: both names for one option is a conflict, whichever source set each.
  const leaves = [...new Set([...where.fromFile, ...where.fromEnv.keys()])];
  const oldLeaves = leaves.filter((p) => under(p, r.from));
  const newLeaves = leaves.filter((p) => under(p, r.to));
  const clashes = oldLeaves.flatMap((p) => {
    const twin = newLeaves.find((n) => under(n, moved(p)) || under(moved(p), n));
    return twin ? [`${describe(p)} is the deprecated name of ${describe(twin)}: set only ${moved(p)}`] : [];
  });
  if (clashes.length > 0) throw new CodedError('CONFIG_INVALID', clashes.join('; '));
  if (oldLeaves.some((p) => where.fromFile.has(p))) {
    warn(
      `${where.file ?? 'the config file'}: "${r.from}" is a deprecated name, read for this release only: rename it "${r.to}"`,
    );
  }
  for (const [p, variable] of [...where.fromEnv]) {
    if (!under(p, r.from)) continue;
    warn(
      `environment variable ${variable} uses the deprecated name "${r.from}", read for this release only: set ${envNameOf(where.envPrefix, moved(p))} instead`,
    );
    where.fromEnv.set(moved(p), variable);
  }
  const value = oldParent[oldKey];
  delete oldParent[oldKey];
  const toKeys = r.to.split('.');
  const newParent = tableAt(raw, toKeys.slice(0, -1), true)!;
  const newKey = toKeys[toKeys.length - 1]!;
  newParent[newKey] = mergeTables(newParent[newKey], value);
}

/** The table at `keys`, created on the way when `create`. */
function tableAt(
  raw: Record<string, unknown>,
  keys: readonly string[],
  create: boolean,
): Record<string, unknown> | undefined {
  let node = raw;
  for (const k of keys) {
    if (!isTable(node[k])) {
      if (!create || node[k] !== undefined) return undefined;
      node[k] = {};
    }
    node = node[k] as Record<string, unknown>;
  }
  return node;
}

/** `moved` laid under `into`; the clash check has made sure no option is in both. */
function mergeTables(into: unknown, moved: unknown): unknown {
  if (!isTable(into) || !isTable(moved)) return into === undefined ? moved : into;
  for (const [k, v] of Object.entries(moved)) into[k] = mergeTables(into[k], v);
  return into;
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

/** Freezes `v` and everything in it; the type follows (a frozen object's type is its read-only view). */
export function deepFreeze<T>(v: T): DeepReadonly<T> {
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v as DeepReadonly<T>;
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
 * The `[ops]` table: the plain operations listener (/metrics, /healthz, /readyz), loopback by
 * default. Each service has its own default port so they can share a host.
 */
export function opsSchema(defaultPort: number) {
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

/** `[metrics]` was the `[ops]` table's name in every service until this release. */
export const OPS_RENAMED: RenamedOption = { from: 'metrics', to: 'ops' };
