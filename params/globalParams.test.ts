import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isCodedError, toHex } from '../common/index.ts';
import { describeVectors, vectorPath } from '../test/infra/vectors.ts';
import {
  assertParamsForHeight,
  indexerConfirmationDepth,
  isConfirmed,
  paramsVersionToJson,
  parseGlobalParams,
  selectParamsForHeight,
  versionsListingKey,
} from './index.ts';

/** A network's published params file, as bytes, read in place from ../shared/vectors. */
const fixture = (net: string) => readFileSync(vectorPath(`params/${net}/global-params.json`));

const KEYS = [
  '0249766ccd9e3cd94343e2040474a77fb37cdfd30530d05f9f1e96ae1e2102c86e',
  '0276d1ae01f8fb6bf30108731c884cddcf57ef6eef2d9d9559e130894e0e40c62c',
  '0217921cf156ccb4e73d428f996ed11b245313e37e27c978ac4d2cc21eca4672e4',
];

function baseVersion(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 0,
    activation_height: 100,
    staking_cap: 1_000_000_000,
    tag: '01020304',
    covenant_pks: [...KEYS],
    covenant_quorum: 2,
    unbonding_time: 3,
    unbonding_fee: 500,
    max_staking_amount: 500_000_000,
    min_staking_amount: 10_000,
    max_staking_time: 10_000,
    min_staking_time: 10,
    confirmation_depth: 2,
    ...over,
  };
}

function codeOf(doc: unknown): string {
  try {
    parseGlobalParams(doc);
  } catch (e) {
    if (isCodedError(e)) return e.code;
    throw e;
  }
  return 'ACCEPTED';
}

describeVectors('real network files', () => {
  it('parses mainnet bbn-1: 3 versions, 9 keys, quorum 6, depth 10', () => {
    const p = parseGlobalParams(fixture('bbn-1'));
    expect(p.versions.map((v) => v.version)).toEqual([0, 1, 2]);
    expect(p.versions.map((v) => v.activationHeight)).toEqual([857910, 864790, 874088]);
    expect(p.versions[0]!.stakingCapSat).toBe(100_000_000_000n);
    expect(p.versions[1]!.capHeight).toBe(864799);
    expect(p.versions[2]!.maxStakingAmountSat).toBe(500_000_000_000n);
    for (const v of p.versions) {
      expect(v.tagHex).toBe('62626e31');
      expect(v.covenantKeys).toHaveLength(9);
      expect(v.covenantQuorum).toBe(6);
      expect(v.unbondingTime).toBe(1008);
      expect(v.minStakingTime).toBe(64000);
      expect(v.confirmationDepth).toBe(10);
    }
    expect(indexerConfirmationDepth(p)).toBe(10);
  });

  it('parses testnet bbn-test-4: 5 versions and a changing covenant set', () => {
    const p = parseGlobalParams(fixture('bbn-test-4'));
    expect(p.versions.map((v) => v.activationHeight)).toEqual([197535, 198665, 200665, 215968, 220637]);
    expect(p.versions.map((v) => v.unbondingFeeSat)).toEqual([2000n, 10000n, 10000n, 5000n, 5000n]);
    const first = toHex(p.versions[0]!.covenantKeys[0]!);
    expect(versionsListingKey(p, p.versions[0]!.covenantKeys[0]!).map((v) => v.version)).toEqual([0]);
    expect(first).toBe('49766ccd9e3cd94343e2040474a77fb37cdfd30530d05f9f1e96ae1e2102c86e');
  });

  it('selects the version with the greatest activation height not above the height', () => {
    const p = parseGlobalParams(fixture('bbn-1'));
    expect(selectParamsForHeight(p, 857909)).toBeUndefined();
    expect(selectParamsForHeight(p, 857910)?.version).toBe(0);
    expect(selectParamsForHeight(p, 864789)?.version).toBe(0);
    expect(selectParamsForHeight(p, 864790)?.version).toBe(1);
    expect(selectParamsForHeight(p, 10_000_000)?.version).toBe(2);
    expect(() => assertParamsForHeight(p, 1)).toThrow(/no params version is active at height 1/);
  });

  it('counts inclusion as one confirmation', () => {
    expect(isConfirmed(100, 108, 10)).toBe(false);
    expect(isConfirmed(100, 109, 10)).toBe(true);
  });

  it('returns frozen values', () => {
    const p = parseGlobalParams(fixture('bbn-1'));
    expect(Object.isFrozen(p.versions)).toBe(true);
    expect(Object.isFrozen(p.versions[0])).toBe(true);
  });

  it('parses its own reference JSON back to the same params (how the fetch thread receives them)', () => {
    for (const net of ['bbn-1', 'bbn-test-4']) {
      const p = parseGlobalParams(fixture(net));
      const again = parseGlobalParams({ versions: p.versions.map(paramsVersionToJson) });
      expect(again).toEqual(p);
      expect(Object.isFrozen(again.versions[0])).toBe(true);
    }
  });
});

// One bad document per rule: each must be refused with its own code.
const badCases: Array<[string, unknown, string]> = [
  ['not JSON', '{"versions": [', 'PARAMS_NOT_JSON'],
  ['top level is an array', [], 'PARAMS_SHAPE'],
  ['versions missing', {}, 'PARAMS_SHAPE'],
  ['empty versions', { versions: [] }, 'PARAMS_EMPTY'],
  ['unknown top-level field', { versions: [baseVersion()], extra: 1 }, 'PARAMS_UNKNOWN_FIELD'],
  ['unknown version field (typo)', { versions: [baseVersion({ cap_heigth: 5 })] }, 'PARAMS_UNKNOWN_FIELD'],
  [
    'missing unbonding_fee',
    { versions: [baseVersion({ unbonding_fee: undefined })] },
    'PARAMS_FIELD_MISSING',
  ],
  ['missing tag', { versions: [baseVersion({ tag: undefined })] }, 'PARAMS_FIELD_MISSING'],
  [
    'amount as a quoted string',
    { versions: [baseVersion({ min_staking_amount: '10000' })] },
    'PARAMS_FIELD_TYPE',
  ],
  ['fractional amount', { versions: [baseVersion({ min_staking_amount: 10000.5 })] }, 'PARAMS_FIELD_TYPE'],
  ['negative fee', { versions: [baseVersion({ unbonding_fee: -1 })] }, 'PARAMS_INTEGER_RANGE'],
  ['zero unbonding time', { versions: [baseVersion({ unbonding_time: 0 })] }, 'PARAMS_INTEGER_RANGE'],
  [
    'unbonding time beyond uint16',
    { versions: [baseVersion({ unbonding_time: 65536 })] },
    'PARAMS_INTEGER_RANGE',
  ],
  [
    'staking time beyond uint16',
    { versions: [baseVersion({ max_staking_time: 70000 })] },
    'PARAMS_INTEGER_RANGE',
  ],
  ['confirmation depth 1', { versions: [baseVersion({ confirmation_depth: 1 })] }, 'PARAMS_INTEGER_RANGE'],
  ['activation height 0', { versions: [baseVersion({ activation_height: 0 })] }, 'PARAMS_INTEGER_RANGE'],
  ['amount beyond 2^53', { versions: [baseVersion({ staking_cap: 2 ** 60 })] }, 'PARAMS_INTEGER_RANGE'],
  ['tag of 3 bytes', { versions: [baseVersion({ tag: '010203' })] }, 'PARAMS_TAG_INVALID'],
  ['tag not hex', { versions: [baseVersion({ tag: '0102030z' })] }, 'PARAMS_TAG_INVALID'],
  ['no covenant keys', { versions: [baseVersion({ covenant_pks: [] })] }, 'PARAMS_COVENANT_KEYS_EMPTY'],
  ['covenant keys not an array', { versions: [baseVersion({ covenant_pks: KEYS[0] })] }, 'PARAMS_FIELD_TYPE'],
  [
    'covenant key bad hex',
    { versions: [baseVersion({ covenant_pks: ['02zz', ...KEYS] })] },
    'PARAMS_COVENANT_KEY_INVALID',
  ],
  [
    'covenant key x-only (32 bytes)',
    { versions: [baseVersion({ covenant_pks: [KEYS[0]!.slice(2), KEYS[1], KEYS[2]] })] },
    'PARAMS_COVENANT_KEY_INVALID',
  ],
  [
    'covenant key not on the curve',
    { versions: [baseVersion({ covenant_pks: [`02${'00'.repeat(32)}`, KEYS[1], KEYS[2]] })] },
    'PARAMS_COVENANT_KEY_INVALID',
  ],
  [
    'duplicate covenant key',
    { versions: [baseVersion({ covenant_pks: [KEYS[0], KEYS[1], KEYS[0]] })] },
    'PARAMS_COVENANT_KEY_DUPLICATE',
  ],
  [
    'duplicate x-only covenant key with the other parity',
    { versions: [baseVersion({ covenant_pks: [KEYS[0], KEYS[1], `03${KEYS[0]!.slice(2)}`] })] },
    'PARAMS_COVENANT_KEY_DUPLICATE',
  ],
  ['quorum 0', { versions: [baseVersion({ covenant_quorum: 0 })] }, 'PARAMS_QUORUM_INVALID'],
  ['quorum above key count', { versions: [baseVersion({ covenant_quorum: 4 })] }, 'PARAMS_QUORUM_INVALID'],
  ['max amount below min', { versions: [baseVersion({ max_staking_amount: 9_999 })] }, 'PARAMS_AMOUNT_ORDER'],
  [
    'min amount below fee + 1000',
    { versions: [baseVersion({ min_staking_amount: 1_499, unbonding_fee: 500 })] },
    'PARAMS_MIN_AMOUNT_BELOW_FEE',
  ],
  ['max time below min', { versions: [baseVersion({ max_staking_time: 9 })] }, 'PARAMS_STAKING_TIME_ORDER'],
  ['both caps set', { versions: [baseVersion({ cap_height: 200 })] }, 'PARAMS_CAP_EXCLUSIVE'],
  ['no cap set', { versions: [baseVersion({ staking_cap: 0 })] }, 'PARAMS_CAP_EXCLUSIVE'],
  [
    'staking cap below max amount',
    { versions: [baseVersion({ staking_cap: 400_000_000 })] },
    'PARAMS_CAP_BELOW_MAX_AMOUNT',
  ],
  [
    'cap height before activation',
    { versions: [baseVersion({ staking_cap: 0, cap_height: 99 })] },
    'PARAMS_CAP_HEIGHT_BEFORE_ACTIVATION',
  ],
  ['first version is not 0', { versions: [baseVersion({ version: 1 })] }, 'PARAMS_VERSION_SEQUENCE'],
  [
    'version skips a number',
    { versions: [baseVersion(), baseVersion({ version: 2, activation_height: 200 })] },
    'PARAMS_VERSION_SEQUENCE',
  ],
  [
    'activation height equal to the previous',
    { versions: [baseVersion(), baseVersion({ version: 1 })] },
    'PARAMS_ACTIVATION_NOT_INCREASING',
  ],
  [
    'activation height decreasing',
    { versions: [baseVersion(), baseVersion({ version: 1, activation_height: 50 })] },
    'PARAMS_ACTIVATION_NOT_INCREASING',
  ],
  [
    'staking cap below an earlier one (across a height-cap version)',
    {
      versions: [
        baseVersion(),
        baseVersion({ version: 1, activation_height: 200, staking_cap: 0, cap_height: 300 }),
        baseVersion({ version: 2, activation_height: 400, staking_cap: 900_000_000 }),
      ],
    },
    'PARAMS_STAKING_CAP_DECREASING',
  ],
  [
    'cap height decreasing',
    {
      versions: [
        baseVersion({ staking_cap: 0, cap_height: 500 }),
        baseVersion({ version: 1, activation_height: 200, staking_cap: 0, cap_height: 400 }),
      ],
    },
    'PARAMS_CAP_HEIGHT_DECREASING',
  ],
];

describe('bad params files are refused, each rule with its own code', () => {
  it.each(badCases)('%s → %s', (_name, doc, code) => {
    expect(codeOf(doc)).toBe(code);
  });

  it('accepts the base document used by the bad cases (so each bad case breaks exactly one rule)', () => {
    expect(codeOf({ versions: [baseVersion()] })).toBe('ACCEPTED');
    expect(codeOf({ versions: [baseVersion({ staking_cap: 500_000_000 })] })).toBe('ACCEPTED');
  });

  it('names the version and the field in the message', () => {
    expect(() =>
      parseGlobalParams({
        versions: [baseVersion(), baseVersion({ version: 1, activation_height: 200, covenant_quorum: 9 })],
      }),
    ).toThrow(/params version 1 \(index 1\): covenant_quorum must be in \[1, 3\]/);
  });

  it('accepts unknown fields only when allowUnknownFields is set', () => {
    const p = parseGlobalParams({ versions: [baseVersion({ note: 'x' })] }, { allowUnknownFields: true });
    expect(p.versions).toHaveLength(1);
  });
});
