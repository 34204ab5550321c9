// The phase-2 params file (the chain's params_versions JSON): loaded, hashed, reloaded append-only.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CodedError } from '../../common/index.ts';
import {
  assertPhase2ParamsAppendOnly,
  type Phase2Params,
  parsePhase2ParamsVersions,
} from '../../params/index.ts';

/** The loaded `[phase2] params_file` (the chain's params_versions JSON). */
export interface LoadedPhase2Params {
  readonly params: Phase2Params;
  readonly fileSha256: string;
}

/** @throws {CodedError} SIGNER_PARAMS_UNREADABLE or a PARAMS_… code */
export function loadPhase2ParamsFile(path: string): LoadedPhase2Params {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new CodedError('SIGNER_PARAMS_UNREADABLE', `cannot read phase-2 params file ${path}`, { cause });
  }
  return {
    params: parsePhase2ParamsVersions(bytes),
    fileSha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** The phase-2 params in force; reloads only append (the chain never rewrites a version). */
export class Phase2ParamsHolder {
  #current: LoadedPhase2Params;
  constructor(readonly path: string) {
    this.#current = loadPhase2ParamsFile(path);
  }
  get current(): LoadedPhase2Params {
    return this.#current;
  }
  /** @throws {CodedError} PARAMS_PHASE2_RELOAD_REFUSED, SIGNER_PARAMS_UNREADABLE, PARAMS_… */
  reload(): { readonly added: number; readonly fileSha256: string } {
    const next = loadPhase2ParamsFile(this.path);
    assertPhase2ParamsAppendOnly(this.#current.params, next.params);
    const added = next.params.versions.length - this.#current.params.versions.length;
    this.#current = next;
    return { added, fileSha256: next.fileSha256 };
  }
}
