import { expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { describeVectors, readVector, VECTORS_MISSING } from '../test/infra/vectors.ts';
import {
  assertNewVersionsActivateAboveTip,
  assertParamsAppendOnly,
  assertParamsGrewFrom,
  type GlobalParams,
  paramsVersionIdentity,
  parseGlobalParams,
} from './index.ts';

// bbn-1's three versions activate at 857910, 864790 and 874088, each with confirmation_depth 10.
// Read in place from ../shared/vectors; where that is absent, no test below runs (describeVectors).
const bbn1 = (
  VECTORS_MISSING ? { versions: [] } : JSON.parse(readVector('params/bbn-1/global-params.json'))
) as { versions: Array<Record<string, unknown>> };
const first = (n: number): GlobalParams => parseGlobalParams({ versions: bbn1.versions.slice(0, n) });
const withThird = (activation: number): GlobalParams =>
  parseGlobalParams({
    versions: [...bbn1.versions.slice(0, 2), { ...bbn1.versions[2], activation_height: activation }],
  });

function codeOf(fn: () => void): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    if (isCodedError(e)) return e.code;
    throw e;
  }
}

describeVectors('assertNewVersionsActivateAboveTip', () => {
  const depth = first(2).versions[1]!.confirmationDepth;

  it('refuses a new version activating at or below the tip (stakes already on chain)', () => {
    expect(
      codeOf(() => assertNewVersionsActivateAboveTip(first(2), withThird(870_000), 870_000, 'p.json')),
    ).toBe('PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY');
    expect(
      codeOf(() => assertNewVersionsActivateAboveTip(first(2), withThird(865_000), 870_000, 'p.json')),
    ).toBe('PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY');
  });

  it('refuses one within the depth above the tip, accepts the first height beyond it', () => {
    const tip = 870_000;
    expect(
      codeOf(() => assertNewVersionsActivateAboveTip(first(2), withThird(tip + depth), tip, 'p.json')),
    ).toBe('PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY');
    expect(
      codeOf(() => assertNewVersionsActivateAboveTip(first(2), withThird(tip + depth + 1), tip, 'p.json')),
    ).toBe('OK');
  });

  it('names the file, the version, its activation height, the tip and the depth', () => {
    let message = '';
    try {
      assertNewVersionsActivateAboveTip(
        first(2),
        withThird(870_005),
        870_000,
        '/etc/signer/global-params.json',
      );
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('/etc/signer/global-params.json');
    expect(message).toContain('version 2 activates at height 870005');
    expect(message).toContain(`tip 870000 plus the confirmation depth ${depth}`);
  });

  it('uses the depth of the version in force at the tip', () => {
    const deep = parseGlobalParams({
      versions: [bbn1.versions[0], { ...bbn1.versions[1], confirmation_depth: 50 }],
    });
    const next = parseGlobalParams({
      versions: [
        bbn1.versions[0],
        { ...bbn1.versions[1], confirmation_depth: 50 },
        { ...bbn1.versions[2], activation_height: 870_030 },
      ],
    });
    // Depth 10 (version 0) would allow 870030 at tip 870000; version 1, in force there, asks for 50.
    expect(codeOf(() => assertNewVersionsActivateAboveTip(deep, next, 870_000, 'p.json'))).toBe(
      'PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY',
    );
    expect(codeOf(() => assertNewVersionsActivateAboveTip(deep, next, 860_000, 'p.json'))).toBe('OK');
  });

  it('has nothing to compare without previous params, and no new version to judge when nothing grew', () => {
    expect(
      codeOf(() => assertNewVersionsActivateAboveTip({ versions: [] }, first(3), 900_000, 'p.json')),
    ).toBe('OK');
    expect(codeOf(() => assertNewVersionsActivateAboveTip(first(3), first(3), 900_000, 'p.json'))).toBe('OK');
  });
});

describeVectors('assertParamsAppendOnly', () => {
  it('accepts the same versions, and appended ones', () => {
    expect(codeOf(() => assertParamsAppendOnly(first(2), first(2), 'p.json'))).toBe('OK');
    expect(codeOf(() => assertParamsAppendOnly(first(2), first(3), 'p.json'))).toBe('OK');
  });

  it('refuses a removed version, naming the file', () => {
    expect(codeOf(() => assertParamsAppendOnly(first(3), first(2), 'p.json'))).toBe(
      'PARAMS_VERSIONS_CHANGED',
    );
    expect(() => assertParamsAppendOnly(first(3), first(2), 'p.json')).toThrow(/^p\.json: /);
  });

  it('refuses a changed version', () => {
    expect(codeOf(() => assertParamsAppendOnly(first(3), withThird(874_089), 'p.json'))).toBe(
      'PARAMS_VERSIONS_CHANGED',
    );
  });
});

describeVectors('assertParamsGrewFrom (a record of params once in force)', () => {
  const ids = (n: number) => first(n).versions.map(paramsVersionIdentity);

  it('accepts the recorded versions unchanged, and appended ones', () => {
    expect(codeOf(() => assertParamsGrewFrom({ versions: 2, identities: ids(2) }, first(3), 'p.json'))).toBe(
      'OK',
    );
  });

  it('refuses fewer versions than recorded, even when the record kept only the count', () => {
    expect(codeOf(() => assertParamsGrewFrom({ versions: 3 }, first(2), 'p.json'))).toBe(
      'PARAMS_VERSIONS_CHANGED',
    );
    expect(codeOf(() => assertParamsGrewFrom({ versions: 2 }, withThird(874_089), 'p.json'))).toBe('OK');
  });

  it('refuses a changed version, naming it, in the record’s own form of identity', () => {
    const digest = (v: Parameters<typeof paramsVersionIdentity>[0]) =>
      `#${paramsVersionIdentity(v).length}:${v.version}`;
    const record = { versions: 3, identities: first(3).versions.map(digest) };
    expect(codeOf(() => assertParamsGrewFrom(record, first(3), 'p.json', digest))).toBe('OK');
    let e: unknown;
    try {
      assertParamsGrewFrom({ versions: 3, identities: ids(3) }, withThird(874_089), 'p.json');
    } catch (x) {
      e = x;
    }
    expect(e).toMatchObject({ code: 'PARAMS_VERSIONS_CHANGED', details: { file: 'p.json', version: 2 } });
  });
});
