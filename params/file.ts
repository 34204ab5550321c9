import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CodedError, isCodedError } from '../common/index.ts';
import { type GlobalParams, type ParseParamsOptions, parseGlobalParams } from './globalParams.ts';

/** A params file as a service loaded it. */
export interface ParamsFile {
  readonly file: string;
  /** Deep-frozen, as parseGlobalParams returns them. */
  readonly params: GlobalParams;
  /** SHA-256 of the file's bytes, so operators can compare what two hosts loaded. */
  readonly sha256: string;
}

/**
 * Every service's one way to read a params file: read, parse, validate. Each failure is one coded
 * error whose message and details name the file, since a service reads several files and an
 * operator must know which one to fix. A rule's own code (PARAMS_…) is kept.
 *
 * The only params/ module that touches the disk; it is left out of params/index.ts, which the
 * dashboard bundles for the browser. Services import it as `params/file.ts`.
 * @throws {CodedError} PARAMS_FILE_UNREADABLE, PARAMS_NOT_JSON or the code of the rule broken
 */
export function loadParamsFile(file: string, opts?: ParseParamsOptions): ParamsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new CodedError('PARAMS_FILE_UNREADABLE', `cannot read the params file ${file} (${errno})`, {
      cause,
      details: { file, errno },
    });
  }
  try {
    return {
      file,
      params: parseGlobalParams(bytes, opts),
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
  } catch (e) {
    if (!isCodedError(e)) throw e;
    throw new CodedError(e.code, `params file ${file}: ${e.message}`, {
      cause: e,
      details: { ...e.details, file },
    });
  }
}
