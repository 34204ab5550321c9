import { describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { parseFinalityProviders } from './index.ts';

const PK1 = '46542ccdcbde8a8c147c8d00f14d47f0d5c13c684d27497fc4610c7a4def15e5';
const PK2 = 'b5e37d93a8d04daee62838ac680ead407d7cbe0c858525781f8834495be0bce7';
const fp = (over: Record<string, unknown> = {}) => ({
  description: {
    moniker: 'alpha',
    identity: '',
    website: 'https://a.example',
    security_contact: 'a@a',
    details: '',
  },
  commission: '0.050000000000000000',
  btc_pk: PK1,
  ...over,
});

function codeOf(doc: unknown): string {
  try {
    parseFinalityProviders(doc);
    return 'ACCEPTED';
  } catch (e) {
    if (isCodedError(e)) return e.code;
    throw e;
  }
}

describe('finality-provider file', () => {
  it('parses the reference format', () => {
    const fps = parseFinalityProviders(
      JSON.stringify({ finality_providers: [fp(), fp({ btc_pk: PK2, commission: '1' })] }),
    );
    expect(fps.map((f) => f.btcPkHex)).toEqual([PK1, PK2]);
    expect(fps[0]!.description.securityContact).toBe('a@a');
  });

  it('parses the mainnet registry form: eots_pk for the key, and entries without a description', () => {
    // backend-services.md §7: bbn-1's registry entries are {description{…}, eots_pk, commission}.
    const { btc_pk: _omit, ...mainnet } = fp({ eots_pk: PK1 });
    const { description: _none, ...bare } = fp({ btc_pk: PK2 });
    const fps = parseFinalityProviders({ finality_providers: [mainnet, bare] });
    expect(fps.map((f) => f.btcPkHex)).toEqual([PK1, PK2]);
    expect(fps[0]!.description.moniker).toBe('alpha');
    expect(fps[1]!.description).toEqual({
      moniker: '',
      identity: '',
      website: '',
      securityContact: '',
      details: '',
    });
  });

  it('checks an eots_pk as strictly as a btc_pk, and counts both names as one key', () => {
    const { btc_pk: _omit, ...mainnet } = fp({ eots_pk: `02${PK1}` });
    expect(codeOf({ finality_providers: [mainnet] })).toBe('PARAMS_FP_INVALID');
    const { btc_pk: _o2, ...again } = fp({ eots_pk: PK1 });
    expect(codeOf({ finality_providers: [fp(), again] })).toBe('PARAMS_FP_DUPLICATE');
    expect(codeOf({ finality_providers: [{ ...fp(), description: 'x' }] })).toBe('PARAMS_FP_INVALID');
  });

  it.each([
    ['not JSON', '{', 'PARAMS_NOT_JSON'],
    ['missing list', {}, 'PARAMS_SHAPE'],
    ['btc_pk of 33 bytes', { finality_providers: [fp({ btc_pk: `02${PK1}` })] }, 'PARAMS_FP_INVALID'],
    ['btc_pk not hex', { finality_providers: [fp({ btc_pk: 'zz' })] }, 'PARAMS_FP_INVALID'],
    [
      'btc_pk not on the curve',
      { finality_providers: [fp({ btc_pk: 'ff'.repeat(32) })] },
      'PARAMS_FP_INVALID',
    ],
    ['duplicate btc_pk', { finality_providers: [fp(), fp()] }, 'PARAMS_FP_DUPLICATE'],
    ['commission above 1', { finality_providers: [fp({ commission: '1.5' })] }, 'PARAMS_FP_INVALID'],
    ['commission as a number', { finality_providers: [fp({ commission: 0.05 })] }, 'PARAMS_FP_INVALID'],
    [
      'moniker too long',
      { finality_providers: [fp({ description: { moniker: 'x'.repeat(71) } })] },
      'PARAMS_FP_INVALID',
    ],
    ['unknown field', { finality_providers: [fp({ eots_pk: PK1 })] }, 'PARAMS_UNKNOWN_FIELD'],
  ])('%s → %s', (_n, doc, code) => {
    expect(codeOf(doc)).toBe(code);
  });
});
