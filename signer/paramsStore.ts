import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CodedError } from '../common/index.ts';
import { type GlobalParams, paramsVersionToJson, parseGlobalParams } from '../params/index.ts';

export interface LoadedParams {
  readonly params: GlobalParams;
  /** SHA-256 of the file's bytes, shown on /readyz and in metrics so operators can compare hosts. */
  readonly fileSha256: string;
}

/** @throws {CodedError} SIGNER_PARAMS_UNREADABLE or a PARAMS_… code */
export function loadParamsFile(path: string): LoadedParams {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new CodedError('SIGNER_PARAMS_UNREADABLE', `cannot read params file ${path}`, { cause });
  }
  return { params: parseGlobalParams(bytes), fileSha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * Params may only grow: a reload keeps every existing version byte for byte and may append new
 * ones. Changing or removing a version would change the rules for stakes already on chain (Babylon
 * governance appends versions: networks#195), so such a file is refused and the old params stay.
 * @throws {CodedError} SIGNER_PARAMS_RELOAD_REFUSED
 */
export function assertAppendOnly(current: GlobalParams, next: GlobalParams): void {
  if (next.versions.length < current.versions.length) {
    throw new CodedError(
      'SIGNER_PARAMS_RELOAD_REFUSED',
      `the new params file has ${next.versions.length} versions, fewer than the ${current.versions.length} loaded: versions cannot be removed`,
    );
  }
  current.versions.forEach((v, i) => {
    if (JSON.stringify(paramsVersionToJson(v)) !== JSON.stringify(paramsVersionToJson(next.versions[i]!))) {
      throw new CodedError(
        'SIGNER_PARAMS_RELOAD_REFUSED',
        `the new params file changes version ${v.version}: existing versions cannot change`,
      );
    }
  });
}

/** The live params of a running signer, replaced only by an append-only reload. */
export class ParamsHolder {
  #loaded: LoadedParams;
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
    this.#loaded = loadParamsFile(path);
  }

  get current(): LoadedParams {
    return this.#loaded;
  }

  /**
   * Re-reads the file. Returns what changed, or throws and keeps the old params.
   * @throws {CodedError} SIGNER_PARAMS_UNREADABLE, PARAMS_…, SIGNER_PARAMS_RELOAD_REFUSED
   */
  reload(): { readonly added: number; readonly fileSha256: string } {
    const next = loadParamsFile(this.#path);
    assertAppendOnly(this.#loaded.params, next.params);
    const added = next.params.versions.length - this.#loaded.params.versions.length;
    this.#loaded = next;
    return { added, fileSha256: next.fileSha256 };
  }
}
