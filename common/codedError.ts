/**
 * The one error type for expected rejections across the project. `code` is a stable string with a
 * room prefix (`PARAMS_…`, `STAKING_…`, `RPC_…`); `message` is one human sentence naming the field
 * and the rule. Anything else thrown is a bug.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  /** Extra machine-readable facts (field names, versions); never secrets. */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CodedError';
    this.code = code;
    this.details = options?.details ? Object.freeze({ ...options.details }) : undefined;
  }
}

/** True when `err` is a CodedError, optionally with one of the given codes. */
export function isCodedError(err: unknown, ...codes: string[]): err is CodedError {
  return err instanceof CodedError && (codes.length === 0 || codes.includes(err.code));
}
