import { CodedError } from '../common/index.ts';
import type { ParamsErrorCode } from './errors.ts';

/** Where a field sits, for error messages: `params version 2: covenant_quorum …`. */
export type FieldContext = { where: string };

export function fail(code: ParamsErrorCode, ctx: FieldContext, message: string, field?: string): never {
  throw new CodedError(code, `${ctx.where}: ${message}`, { details: { where: ctx.where, field } });
}

export function parseJsonDocument(text: string | Uint8Array, what: string): unknown {
  const s = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  try {
    return JSON.parse(s);
  } catch (cause) {
    throw new CodedError('PARAMS_NOT_JSON', `${what}: not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads an integer field within [min, max]. JSON numbers beyond 2^53 cannot be represented exactly
 * in JavaScript; every real amount is far below that (21e6 BTC is 2.1e15 sat), so they are refused
 * rather than silently rounded.
 */
export function intField(
  obj: Record<string, unknown>,
  field: string,
  ctx: FieldContext,
  range: { min: number; max: number },
  opts: { optional?: boolean } = {},
): number {
  const v = obj[field];
  if (v === undefined || v === null) {
    if (opts.optional) return 0;
    fail('PARAMS_FIELD_MISSING', ctx, `${field} is missing`, field);
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    fail('PARAMS_FIELD_TYPE', ctx, `${field} must be a JSON integer, got ${JSON.stringify(v)}`, field);
  }
  if (!Number.isSafeInteger(v)) {
    fail(
      'PARAMS_INTEGER_RANGE',
      ctx,
      `${field} ${v} is beyond 2^53-1 and cannot be represented exactly`,
      field,
    );
  }
  if (v < range.min || v > range.max) {
    fail('PARAMS_INTEGER_RANGE', ctx, `${field} must be in [${range.min}, ${range.max}], got ${v}`, field);
  }
  return v;
}

export function stringField(obj: Record<string, unknown>, field: string, ctx: FieldContext): string {
  const v = obj[field];
  if (v === undefined || v === null) fail('PARAMS_FIELD_MISSING', ctx, `${field} is missing`, field);
  if (typeof v !== 'string') fail('PARAMS_FIELD_TYPE', ctx, `${field} must be a string`, field);
  return v;
}

export function rejectUnknownFields(
  obj: Record<string, unknown>,
  known: ReadonlySet<string>,
  ctx: FieldContext,
  allow: boolean,
): void {
  if (allow) return;
  for (const k of Object.keys(obj)) {
    if (!known.has(k)) fail('PARAMS_UNKNOWN_FIELD', ctx, `unknown field ${JSON.stringify(k)}`, k);
  }
}
