import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { btcToSat, MAX_MONEY_SAT, satToBtc } from './amount.ts';

describe('btcToSat', () => {
  it.each<[number | string, bigint]>([
    [0.00000001, 1n],
    ['0.00000001', 1n],
    // JS prints small numbers in exponent form: String(0.00000001) === '1e-8'.
    [1e-8, 1n],
    ['1e-8', 1n],
    [1.5e-7, 15n],
    ['1.5E-7', 15n],
    [0.1, 10_000_000n],
    [49.99986105, 4_999_986_105n],
    [20999999.99999999, 2_099_999_999_999_999n],
    [21000000, MAX_MONEY_SAT],
    ['21000000.00000000', MAX_MONEY_SAT],
    ['1e2', 10_000_000_000n],
    ['0.123456780', 12_345_678n],
    ['007.5', 750_000_000n],
    [0, 0n],
    [-0, 0n],
    ['0.00000000', 0n],
  ])('converts %s BTC to %s sat exactly', (btc, sat) => {
    expect(btcToSat(btc)).toBe(sat);
  });

  it.each<[unknown, string]>([
    [0.000000001, 'more than 8 decimal places'],
    ['0.123456789', 'more than 8 decimal places'],
    // 0.1 + 0.2 is 0.30000000000000004: float arithmetic on amounts is refused, not rounded.
    [0.1 + 0.2, 'more than 8 decimal places'],
    [-1, 'must not be negative'],
    ['-0.1', 'must not be negative'],
    [Number.NaN, 'finite'],
    [Number.POSITIVE_INFINITY, 'finite'],
    ['NaN', 'not a decimal'],
    ['', 'not a decimal'],
    [' 1', 'not a decimal'],
    ['1,5', 'not a decimal'],
    ['0x10', 'not a decimal'],
    ['.5', 'not a decimal'],
    ['+1', 'not a decimal'],
    ['21000000.00000001', 'exceeds 21 million'],
    [1e21, 'exceeds 21 million'],
    ['1e999999', 'exceeds 21 million'],
    [null, 'number or a decimal string'],
    [10n, 'number or a decimal string'],
  ])('rejects %s with RPC_BAD_AMOUNT (%s)', (value, why) => {
    let caught: unknown;
    try {
      btcToSat(value as number);
    } catch (err) {
      caught = err;
    }
    expect(isCodedError(caught, 'RPC_BAD_AMOUNT')).toBe(true);
    expect((caught as Error).message).toContain(why);
  });

  it('accepts negative amounts only with allowNegative', () => {
    expect(btcToSat(-0.0001, { allowNegative: true })).toBe(-10_000n);
    expect(btcToSat('-1e-8', { allowNegative: true })).toBe(-1n);
  });

  it('names the field in the error', () => {
    expect(() => btcToSat(-1, { field: 'vout[0].value' })).toThrow(/^vout\[0\]\.value must not be negative/);
  });

  it('round-trips every satoshi amount through a JSON number, as bitcoind sends it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_MONEY_SAT }), (sat) => {
        const asJsonNumber = JSON.parse(satToBtc(sat)) as number;
        expect(btcToSat(asJsonNumber)).toBe(sat);
        expect(btcToSat(satToBtc(sat))).toBe(sat);
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('satToBtc', () => {
  it.each<[bigint, string]>([
    [1n, '0.00000001'],
    [0n, '0.00000000'],
    [12_345n, '0.00012345'],
    [100_000_000n, '1.00000000'],
    [MAX_MONEY_SAT, '21000000.00000000'],
    [-150_000_000n, '-1.50000000'],
  ])('formats %s sat as %s', (sat, btc) => {
    expect(satToBtc(sat)).toBe(btc);
  });

  it('rejects more than 21 million BTC and non-bigints', () => {
    expect(() => satToBtc(MAX_MONEY_SAT + 1n)).toThrow(/exceeds 21 million/);
    expect(() => satToBtc(-MAX_MONEY_SAT - 1n)).toThrow(/exceeds 21 million/);
    expect(() => satToBtc(1 as unknown as bigint)).toThrow(/must be a bigint/);
  });
});
