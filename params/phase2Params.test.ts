import { expect, it } from 'vitest';
import { CodedError, toHex } from '../common/index.ts';
import { describeVectors, readVector, VECTORS_MISSING } from '../test/infra/vectors.ts';
import {
  assertPhase2ParamsAppendOnly,
  assertPhase2Version,
  parsePhase2ParamsVersion,
  parsePhase2ParamsVersions,
  phase2ParamsVersionToJson,
  phase2VersionByNumber,
  selectPhase2Version,
} from './phase2Params.ts';

/*
 * Real data: the testnet `GET /babylon/btcstaking/v1/params` response embedded in Babylon's
 * TestOldFormatCompat (babylonlabs-io/babylon@e65c3a5:crypto/schnorr-adaptor-signature/
 * types_test.go:148-176), read in place from ../shared/vectors (legacy66-testnet-source.json,
 * "paramsJSON"). No real params_versions response is stored; the version lists below are built
 * around it.
 */
const source = (
  VECTORS_MISSING ? undefined : JSON.parse(readVector('adaptor-signature/legacy66-testnet-source.json'))
) as { paramsJSON: Record<string, unknown> } | undefined;
// Where ../shared/vectors is absent, no test below runs (describeVectors), so nothing reads this.
const TESTNET = source?.paramsJSON ?? {};

function versionsDoc(...params: Record<string, unknown>[]): Record<string, unknown> {
  return {
    params: params.map((p, version) => ({ version, params: p })),
    pagination: { next_key: null, total: String(params.length) },
  };
}
const at = (height: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...TESTNET,
  btc_activation_height: height,
  ...extra,
});

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof CodedError) return e.code;
    throw e;
  }
  return undefined;
}

describeVectors('the real testnet params (types_test.go paramsJSON)', () => {
  const v = parsePhase2ParamsVersion(TESTNET, 6);

  it('parses every field with its REST encoding', () => {
    expect(v.version).toBe(6);
    expect(v.covenantKeys).toHaveLength(9);
    expect(toHex(v.covenantKeys[0]!)).toBe(
      'fa9d882d45f4060bdb8042183828cd87544f1ea997380e586cab77d5fd698737',
    );
    expect(v.covenantQuorum).toBe(6);
    expect(v.minStakingValueSat).toBe(50000n);
    expect(v.maxStakingValueSat).toBe(35000000000n);
    expect([v.minStakingTimeBlocks, v.maxStakingTimeBlocks]).toEqual([10000, 64000]);
    // "ABRb4SYk0IorQkCV18ByIcM0UNFL8Q==" is P2WPKH 0014 5be1…4bf1 (phase2-covenant.md §1.7).
    expect(toHex(v.slashingPkScript)).toBe('00145be12624d08a2b424095d7c07221c33450d14bf1');
    expect(v.minSlashingTxFeeSat).toBe(6000n);
    expect(v.slashingRate).toEqual({ decimal: '0.050000000000000000', basisPoints: 500, float64: 0.05 });
    expect(v.unbondingTimeBlocks).toBe(1008);
    expect(v.unbondingFeeSat).toBe(2000n);
    expect(v.minCommissionRate).toBe('0.030000000000000000');
    expect(v.delegationCreationBaseGasFee).toBe(1095000n);
    expect(v.allowListExpirationHeight).toBe(26124n);
    expect(v.btcActivationHeight).toBe(235952);
  });

  it('is frozen, and serialises back to the same JSON', () => {
    expect(Object.isFrozen(v)).toBe(true);
    expect(Object.isFrozen(v.covenantKeys)).toBe(true);
    expect(phase2ParamsVersionToJson(v)).toEqual(TESTNET);
  });
});

describeVectors('params_versions and version selection', () => {
  const params = parsePhase2ParamsVersions(
    JSON.stringify(versionsDoc(at(100), at(200, { slashing_rate: '0.1' }), at(300))),
  );

  it('parses the list from text, in order', () => {
    expect(params.versions.map((v) => v.version)).toEqual([0, 1, 2]);
    expect(params.versions[1]!.slashingRate.basisPoints).toBe(1000);
    expect(Object.isFrozen(params.versions)).toBe(true);
  });

  it('selectPhase2Version picks the greatest btc_activation_height ≤ height (inclusive)', () => {
    expect(selectPhase2Version(params, 99)).toBeUndefined();
    expect(selectPhase2Version(params, 100)!.version).toBe(0);
    expect(selectPhase2Version(params, 199)!.version).toBe(0);
    expect(selectPhase2Version(params, 200)!.version).toBe(1);
    expect(selectPhase2Version(params, 10_000_000)!.version).toBe(2);
  });

  it('PARAMS_NO_VERSION_FOR_HEIGHT: assertPhase2Version below the first activation', () => {
    expect(assertPhase2Version(params, 250).version).toBe(1);
    expect(codeOf(() => assertPhase2Version(params, 99))).toBe('PARAMS_NO_VERSION_FOR_HEIGHT');
  });

  it('PARAMS_PHASE2_UNKNOWN_VERSION: phase2VersionByNumber beyond the list', () => {
    expect(phase2VersionByNumber(params, 2).btcActivationHeight).toBe(300);
    expect(codeOf(() => phase2VersionByNumber(params, 3))).toBe('PARAMS_PHASE2_UNKNOWN_VERSION');
    expect(codeOf(() => phase2VersionByNumber(params, 1.5))).toBe('PARAMS_PHASE2_UNKNOWN_VERSION');
  });

  it('PARAMS_VERSION_SEQUENCE: versions must be 0, 1, 2, …', () => {
    const doc = versionsDoc(at(100), at(200));
    (doc.params as { version: number }[])[1]!.version = 2;
    expect(codeOf(() => parsePhase2ParamsVersions(doc))).toBe('PARAMS_VERSION_SEQUENCE');
  });

  it('PARAMS_ACTIVATION_NOT_INCREASING: activation heights strictly increase', () => {
    expect(codeOf(() => parsePhase2ParamsVersions(versionsDoc(at(100), at(100))))).toBe(
      'PARAMS_ACTIVATION_NOT_INCREASING',
    );
  });

  it('PARAMS_PHASE2_INCOMPLETE: a page with pagination.next_key set', () => {
    const doc = { ...versionsDoc(at(100)), pagination: { next_key: 'AAE=', total: '0' } };
    expect(codeOf(() => parsePhase2ParamsVersions(doc))).toBe('PARAMS_PHASE2_INCOMPLETE');
  });

  it('PARAMS_NOT_JSON, PARAMS_SHAPE, PARAMS_EMPTY, PARAMS_UNKNOWN_FIELD on the envelope', () => {
    expect(codeOf(() => parsePhase2ParamsVersions('{'))).toBe('PARAMS_NOT_JSON');
    expect(codeOf(() => parsePhase2ParamsVersions({ params: {} }))).toBe('PARAMS_SHAPE');
    expect(codeOf(() => parsePhase2ParamsVersions({ params: [] }))).toBe('PARAMS_EMPTY');
    expect(codeOf(() => parsePhase2ParamsVersions({ ...versionsDoc(at(1)), extra: 1 }))).toBe(
      'PARAMS_UNKNOWN_FIELD',
    );
    expect(
      parsePhase2ParamsVersions({ ...versionsDoc(at(1)), extra: 1 }, { allowUnknownFields: true }),
    ).toBeTruthy();
  });
});

describeVectors('each rule of Params.Validate has its code (x/btcstaking/types/params.go:202-247)', () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ['a missing field', 'PARAMS_FIELD_MISSING', { unbonding_fee_sat: undefined }],
    ['an int64 given as a JSON number', 'PARAMS_FIELD_TYPE', { min_staking_value_sat: 50000 }],
    ['a uint32 given as a string', 'PARAMS_FIELD_TYPE', { covenant_quorum: '6' }],
    ['an int64 with a sign', 'PARAMS_FIELD_TYPE', { min_slashing_tx_fee_sat: '-1' }],
    ['min_slashing_tx_fee_sat 0', 'PARAMS_INTEGER_RANGE', { min_slashing_tx_fee_sat: '0' }],
    ['an amount beyond 2^53', 'PARAMS_INTEGER_RANGE', { max_staking_value_sat: '9007199254740992' }],
    ['a staking time above 65535', 'PARAMS_INTEGER_RANGE', { max_staking_time_blocks: 65536 }],
    ['unbonding time 0', 'PARAMS_INTEGER_RANGE', { unbonding_time_blocks: 0 }],
    ['an unknown field', 'PARAMS_UNKNOWN_FIELD', { max_staking_value: '1' }],
    ['no covenant keys', 'PARAMS_COVENANT_KEYS_EMPTY', { covenant_pks: [] }],
    [
      'a 33-byte covenant key',
      'PARAMS_PHASE2_COVENANT_KEY_INVALID',
      { covenant_pks: [`02${'11'.repeat(32)}`] },
    ],
    [
      'an x that is not on the curve',
      'PARAMS_PHASE2_COVENANT_KEY_INVALID',
      { covenant_pks: ['ff'.repeat(32)] },
    ],
    [
      'a repeated covenant key',
      'PARAMS_COVENANT_KEY_DUPLICATE',
      { covenant_pks: [...(TESTNET.covenant_pks as string[]), (TESTNET.covenant_pks as string[])[3]] },
    ],
    ['quorum 0', 'PARAMS_QUORUM_INVALID', { covenant_quorum: 0 }],
    ['quorum above the committee', 'PARAMS_QUORUM_INVALID', { covenant_quorum: 10 }],
    ['quorum not a majority (2·4 ≤ 9)', 'PARAMS_PHASE2_QUORUM_NOT_MAJORITY', { covenant_quorum: 4 }],
    ['min value above max value', 'PARAMS_PHASE2_VALUE_ORDER', { min_staking_value_sat: '35000000001' }],
    ['min time above max time', 'PARAMS_PHASE2_TIME_ORDER', { min_staking_time_blocks: 64001 }],
    [
      'slashing script not base64',
      'PARAMS_PHASE2_SLASHING_SCRIPT_INVALID',
      { slashing_pk_script: 'ABRb4S!k' },
    ],
    ['slashing script empty', 'PARAMS_PHASE2_SLASHING_SCRIPT_INVALID', { slashing_pk_script: '' }],
    [
      'slashing script non-canonical base64',
      'PARAMS_PHASE2_SLASHING_SCRIPT_INVALID',
      { slashing_pk_script: 'AB==' },
    ],
    ['slashing rate 0', 'PARAMS_PHASE2_SLASHING_RATE_INVALID', { slashing_rate: '0.000000000000000000' }],
    ['slashing rate 1', 'PARAMS_PHASE2_SLASHING_RATE_INVALID', { slashing_rate: '1.000000000000000000' }],
    [
      'slashing rate with 5 decimals',
      'PARAMS_PHASE2_SLASHING_RATE_INVALID',
      { slashing_rate: '0.050010000000000000' },
    ],
    ['slashing rate in exponent form', 'PARAMS_PHASE2_SLASHING_RATE_INVALID', { slashing_rate: '5e-2' }],
    ['unbonding fee 0', 'PARAMS_PHASE2_UNBONDING_FEE_INVALID', { unbonding_fee_sat: '0' }],
    ['unbonding fee = min value', 'PARAMS_PHASE2_UNBONDING_FEE_INVALID', { unbonding_fee_sat: '50000' }],
    [
      'commission rate above 1',
      'PARAMS_PHASE2_COMMISSION_RATE_INVALID',
      { min_commission_rate: '1.000000000000000001' },
    ],
    ['commission rate not a decimal', 'PARAMS_FIELD_TYPE', { min_commission_rate: '-0.1' }],
    // (50000 − 2000) × 0.0001 = 4.8 → 5 sat to a P2WPKH (dust below 294).
    ['a dust minimum slashing output', 'PARAMS_PHASE2_SLASHING_OUTPUT_DUST', { slashing_rate: '0.0001' }],
  ];
  it.each(cases)('%s → %s', (_name, code, patch) => {
    const raw = { ...TESTNET, ...patch };
    for (const [k, val] of Object.entries(patch)) if (val === undefined) delete raw[k];
    expect(codeOf(() => parsePhase2ParamsVersion(raw, 0))).toBe(code);
  });

  it('an OP_RETURN slashing script may take a dust slashing output (params.go:177-181)', () => {
    const v = parsePhase2ParamsVersion(
      { ...TESTNET, slashing_rate: '0.0001', slashing_pk_script: 'agA=' },
      0,
    );
    expect(toHex(v.slashingPkScript)).toBe('6a00');
  });

  it('the limits themselves are accepted: rate 0.0001 and 0.9999, quorum a bare majority', () => {
    expect(
      parsePhase2ParamsVersion({ ...TESTNET, slashing_rate: '0.9999' }, 0).slashingRate.basisPoints,
    ).toBe(9999);
    expect(parsePhase2ParamsVersion({ ...TESTNET, covenant_quorum: 5 }, 0).covenantQuorum).toBe(5);
    const big = { ...TESTNET, slashing_rate: '0.0001', min_staking_value_sat: '5000000' };
    expect(parsePhase2ParamsVersion(big, 0).slashingRate.float64).toBe(0.0001);
  });
});

describeVectors('params may only grow (assertPhase2ParamsAppendOnly)', () => {
  const two = parsePhase2ParamsVersions(versionsDoc(at(100), at(200)));

  it('accepts the same list and one with versions appended', () => {
    expect(() => assertPhase2ParamsAppendOnly(two, two)).not.toThrow();
    expect(() =>
      assertPhase2ParamsAppendOnly(two, parsePhase2ParamsVersions(versionsDoc(at(100), at(200), at(300)))),
    ).not.toThrow();
  });

  it('compares decimals by value: "0.05" equals "0.050000000000000000"', () => {
    const short = parsePhase2ParamsVersions(versionsDoc(at(100, { slashing_rate: '0.05' }), at(200)));
    expect(() => assertPhase2ParamsAppendOnly(two, short)).not.toThrow();
  });

  it('PARAMS_PHASE2_RELOAD_REFUSED: a version removed or changed', () => {
    expect(
      codeOf(() => assertPhase2ParamsAppendOnly(two, parsePhase2ParamsVersions(versionsDoc(at(100))))),
    ).toBe('PARAMS_PHASE2_RELOAD_REFUSED');
    const changed = parsePhase2ParamsVersions(
      versionsDoc(at(100), at(200, { min_slashing_tx_fee_sat: '6001' })),
    );
    expect(codeOf(() => assertPhase2ParamsAppendOnly(two, changed))).toBe('PARAMS_PHASE2_RELOAD_REFUSED');
  });
});
