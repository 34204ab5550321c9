import { createHash } from 'node:crypto';
import { CodedError, isCodedError } from '../common/index.ts';
import {
  assertNewVersionsActivateAboveTip,
  assertParamsAppendOnly,
  assertParamsGrewFrom,
  type GlobalParams,
  type ParamsVersion,
  paramsVersionIdentity,
} from '../params/index.ts';
import { loadParamsFile } from '../runtime/index.ts';
import type { AuditRecord } from './audit.ts';

export interface LoadedParams {
  readonly params: GlobalParams;
  /** SHA-256 of the file's bytes, shown on /readyz and in metrics so operators can compare hosts. */
  readonly fileSha256: string;
}

/** @throws {CodedError} PARAMS_FILE_UNREADABLE or another PARAMS_… code, naming the file */
function loadParams(path: string): LoadedParams {
  const f = loadParamsFile(path);
  return { params: f.params, fileSha256: f.sha256 };
}

/**
 * Params may only grow (params/'s rule, as in the indexer and every service that reloads): a
 * reload keeps every existing version byte for byte and may append new ones, else the file is
 * refused and the old params stay. The signer's code is kept.
 * @throws {CodedError} SIGNER_PARAMS_RELOAD_REFUSED
 */
export function assertAppendOnly(current: GlobalParams, next: GlobalParams, file: string): void {
  asSignerRefusal(() => assertParamsAppendOnly(current, next, file));
}

/**
 * params/'s PARAMS_VERSIONS_CHANGED as the signer's SIGNER_PARAMS_RELOAD_REFUSED, message (with
 * `against`, what the file was compared with) and details kept.
 */
function asSignerRefusal(check: () => void, against?: string): void {
  try {
    check();
  } catch (e) {
    if (!isCodedError(e, 'PARAMS_VERSIONS_CHANGED')) throw e;
    const message = against ? `${e.message} (compared with ${against})` : e.message;
    throw new CodedError('SIGNER_PARAMS_RELOAD_REFUSED', message, {
      cause: e,
      ...(e.details ? { details: { ...e.details } } : {}),
    });
  }
}

/** One version's identity for the audit log: the sha256 of its reference JSON. */
export function versionHash(v: ParamsVersion): string {
  return createHash('sha256').update(paramsVersionIdentity(v)).digest('hex');
}

/** What the audit log's `start` and `params_loaded` records say about the params in force. */
export function paramsAuditFields(p: GlobalParams): {
  readonly params_versions: number;
  readonly params_version_hashes: string[];
} {
  return { params_versions: p.versions.length, params_version_hashes: p.versions.map(versionHash) };
}

/** The params in force at the end of the last run, as far as the audit log recorded them. */
export interface ParamsHistory {
  /** How many versions were in force. */
  readonly versions: number;
  /** Each version's hash, when the log recorded them (older logs kept only the count). */
  readonly hashes?: readonly string[];
}

/**
 * Reads the params history out of the audit log's records (AuditLog.open's onRecord), so a restart
 * compares the file with what the signer last had in force, not only a reload with the file before.
 */
export function paramsHistoryCollector(): {
  onRecord(r: AuditRecord): void;
  readonly last: ParamsHistory | undefined;
} {
  let last: ParamsHistory | undefined;
  return {
    onRecord(r) {
      if (r.event !== 'start' && r.event !== 'params_loaded') return;
      const hashes = Array.isArray(r.params_version_hashes)
        ? (r.params_version_hashes as string[])
        : undefined;
      if (hashes) last = { versions: hashes.length, hashes };
      else if (r.event === 'start' && typeof r.params_versions === 'number')
        last = { versions: r.params_versions };
      else if (r.event === 'params_loaded' && last && typeof r.added_versions === 'number')
        last = { versions: last.versions + r.added_versions };
    },
    get last() {
      return last;
    },
  };
}

/** The live params of a running signer, replaced only by an append-only reload. */
export class ParamsHolder {
  #loaded: LoadedParams;
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
    this.#loaded = loadParams(path);
  }

  get current(): LoadedParams {
    return this.#loaded;
  }

  /**
   * At start: the file must be the params of the last run (`history`, from the audit log) plus
   * appended versions that activate above the tip plus the depth, as a reload must. A signer with
   * no history has nothing to compare.
   * @throws {CodedError} SIGNER_PARAMS_RELOAD_REFUSED, PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY
   */
  assertGrewSince(history: ParamsHistory | undefined, tipHeight: number): void {
    if (!history) return;
    const { params } = this.#loaded;
    asSignerRefusal(
      () =>
        assertParamsGrewFrom(
          { versions: history.versions, ...(history.hashes ? { identities: history.hashes } : {}) },
          params,
          this.#path,
          versionHash,
        ),
      'the params in force at the last run, from the audit log',
    );
    assertNewVersionsActivateAboveTip(
      { versions: params.versions.slice(0, history.versions) },
      params,
      tipHeight,
      this.#path,
    );
  }

  /**
   * Re-reads the file. Returns what changed, or throws and keeps the old params. `tipHeight` is
   * the signer's node's tip: appended versions must activate above it plus the depth.
   * @throws {CodedError} PARAMS_FILE_UNREADABLE, PARAMS_…, SIGNER_PARAMS_RELOAD_REFUSED
   */
  reload(tipHeight: number): { readonly added: number; readonly fileSha256: string } {
    const next = loadParams(this.#path);
    assertAppendOnly(this.#loaded.params, next.params, this.#path);
    assertNewVersionsActivateAboveTip(this.#loaded.params, next.params, tipHeight, this.#path);
    const added = next.params.versions.length - this.#loaded.params.versions.length;
    this.#loaded = next;
    return { added, fileSha256: next.fileSha256 };
  }
}
