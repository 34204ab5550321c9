import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CodedError, isCodedError } from '../common/index.ts';
import {
  assertNewVersionsActivateAboveTip,
  assertParamsAppendOnly,
  type GlobalParams,
  type ParseParamsOptions,
  parseGlobalParams,
} from '../params/index.ts';

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
 * The disk half of the one params loader; the parsing and every rule are params/'s, which stays
 * pure and bundles for the browser.
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

/** What a params reload did, for the caller's SIGHUP handler, tests and operators. */
export interface ParamsReload {
  readonly ok: boolean;
  readonly code?: string;
  readonly message: string;
}

/**
 * Every service's one reload of its params file: load it, keep the versions in force unchanged
 * (`assertParamsAppendOnly`), let appended versions in only above the tip plus the depth
 * (`assertNewVersionsActivateAboveTip`), then `apply` them. A refusal keeps the old params and is
 * logged with its code; nothing is thrown. `tip` is asked only when versions were appended, and
 * throws (with a code of the service's own) when the service cannot know it.
 */
export async function reloadParamsFile(o: {
  readonly file: string;
  readonly current: GlobalParams;
  readonly tip: () => Promise<number>;
  readonly apply: (next: GlobalParams) => void | Promise<void>;
  readonly log: {
    info(fields: object, msg: string): void;
    error(fields: object, msg: string): void;
  };
}): Promise<ParamsReload> {
  try {
    const next = loadParamsFile(o.file).params;
    assertParamsAppendOnly(o.current, next, o.file);
    const added = next.versions.length - o.current.versions.length;
    if (added > 0) assertNewVersionsActivateAboveTip(o.current, next, await o.tip(), o.file);
    await o.apply(next);
    o.log.info({ file: o.file, added, versions: next.versions.length }, 'params reloaded');
    return { ok: true, message: `params reloaded: ${added} version(s) added` };
  } catch (e) {
    const code = isCodedError(e) ? e.code : undefined;
    const message = e instanceof Error ? e.message : String(e);
    o.log.error({ code, file: o.file, err: message }, 'params reload refused; the old params stay');
    return code ? { ok: false, code, message } : { ok: false, message };
  }
}
