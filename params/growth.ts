import { CodedError } from '../common/index.ts';
import {
  type GlobalParams,
  type ParamsVersion,
  paramsVersionToJson,
  selectParamsForHeight,
} from './globalParams.ts';

/** A params version's identity for "params may only grow": its reference JSON, byte for byte. */
export function paramsVersionIdentity(v: ParamsVersion): string {
  return JSON.stringify(paramsVersionToJson(v));
}

/**
 * What a service recorded of the params once in force: how many versions, and each one's identity
 * in the record's own form (the indexer's store keeps `paramsVersionIdentity`, the signer's audit
 * log a SHA-256 of it). An older record may keep only the count.
 */
export interface ParamsInForce {
  readonly versions: number;
  /** One per version when present. */
  readonly identities?: readonly string[];
}

/**
 * Params in force may only grow: `next` must hold every version of `previous` unchanged, in order,
 * and may append more. A changed or removed version would re-decide stakes already on chain
 * (Babylon governance appends versions: networks#195). `identify` turns a version of `next` into
 * the record's form. `file` names the source in the message.
 * @throws {CodedError} PARAMS_VERSIONS_CHANGED
 */
export function assertParamsGrewFrom(
  previous: ParamsInForce,
  next: GlobalParams,
  file: string,
  identify: (v: ParamsVersion) => string = paramsVersionIdentity,
): void {
  const refuse = (why: string, version?: number) =>
    new CodedError('PARAMS_VERSIONS_CHANGED', `${file}: ${why}; versions in force may only be appended to`, {
      details: { file, ...(version !== undefined ? { version } : {}) },
    });
  if (next.versions.length < previous.versions) {
    throw refuse(`has ${next.versions.length} versions, fewer than the ${previous.versions} in force`);
  }
  previous.identities?.forEach((id, i) => {
    const now = next.versions[i]!;
    if (identify(now) !== id) throw refuse(`changes version ${now.version}`, now.version);
  });
}

/**
 * "Params may only grow" between two loaded params (a reload): `assertParamsGrewFrom` with every
 * version of `previous` as the record.
 * @throws {CodedError} PARAMS_VERSIONS_CHANGED
 */
export function assertParamsAppendOnly(previous: GlobalParams, next: GlobalParams, file: string): void {
  assertParamsGrewFrom(
    { versions: previous.versions.length, identities: previous.versions.map(paramsVersionIdentity) },
    next,
    file,
  );
}

/**
 * A version appended to params already in force may only activate above `tipHeight` plus the
 * confirmation depth of the version in force at the tip. Versions apply by a staking tx's
 * inclusion height, so one activating at or below the tip would re-decide stakes already on chain
 * (a member that reloaded would sign another unbonding tx than members that did not), and one
 * within the depth above it would re-decide stakes that a shallow re-organisation can still move.
 *
 * `previous` is what was in force (the versions a service loaded before; a service with no
 * history has none and nothing to compare); `next` is the file now read, whose first
 * `previous.versions.length` versions are the old ones (the append-only rule checks that
 * separately). `file` names the source in the message.
 * @throws {CodedError} PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY
 */
export function assertNewVersionsActivateAboveTip(
  previous: GlobalParams,
  next: GlobalParams,
  tipHeight: number,
  file: string,
): void {
  const old = previous.versions;
  if (old.length === 0) return;
  // Below the first activation nothing is in force yet; the first version's depth is the one
  // that will be.
  const inForce = selectParamsForHeight(previous, tipHeight) ?? old[0]!;
  const depth = inForce.confirmationDepth;
  const floor = tipHeight + depth;
  for (const v of next.versions.slice(old.length)) {
    if (v.activationHeight <= floor) {
      throw new CodedError(
        'PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY',
        `${file}: new params version ${v.version} activates at height ${v.activationHeight}, at or below the tip ${tipHeight} plus the confirmation depth ${depth} of version ${inForce.version} (${floor}); it would change the rules for stakes already on chain, so it must activate above ${floor}`,
        {
          details: {
            file,
            version: v.version,
            activationHeight: v.activationHeight,
            tipHeight,
            confirmationDepth: depth,
          },
        },
      );
    }
  }
}
