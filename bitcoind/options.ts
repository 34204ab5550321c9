import { CodedError } from '../common/index.ts';
import type { BitcoindErrorCode } from './errors.ts';

/** Both clients' default deadline of a call, milliseconds. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** RPC_BAD_OPTIONS naming the option at fault. */
export function optionsError(message: string, field: string): CodedError<BitcoindErrorCode> {
  return new CodedError<BitcoindErrorCode>('RPC_BAD_OPTIONS', message, { details: { field } });
}

/**
 * A node's URL, http or https. The raw string may hold userinfo, so a message never repeats it.
 * @throws {CodedError} RPC_BAD_OPTIONS
 */
export function parseNodeUrl(raw: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw optionsError('url is not a valid URL', 'url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw optionsError(`url must be http or https, not ${parsed.protocol}`, 'url');
  }
  return parsed;
}

/** A call deadline, or the default. @throws {CodedError} RPC_BAD_OPTIONS */
export function timeoutOption(ms: number | undefined): number {
  const timeoutMs = ms ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw optionsError('timeoutMs must be a positive integer', 'timeoutMs');
  }
  return timeoutMs;
}
