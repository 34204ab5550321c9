import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodedError } from '../common/index.ts';
import {
  decimalAtto,
  isDustOutput,
  parseSlashingRate,
  type SlashingRate,
  slashingAmountSat,
} from './phase2Rules.ts';

const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const rate = (s: string): SlashingRate => parseSlashingRate(s, 'TEST');

describe('slashingAmountSat: Go btcutil.Amount(V).MulF64(rate), half-up on the float64 product (§1.3)', () => {
  // The table of phase2-covenant.md §1.3 and the testnet worked example of §1.7.
  it.each([
    [10010n, '0.05', 501n], // exact 500.5: half-up (banker's and floor would give 500)
    [25000n, '0.0003', 7n], // exact 7.5, but the double product is 7.499999999999999
    [50000n, '0.050000000000000000', 2500n],
    [48000n, '0.050000000000000000', 2400n],
    [0n, '0.5', 0n],
  ])('%s sat × %s = %s sat', (value, r, expected) => {
    expect(slashingAmountSat(value, rate(r))).toBe(expected);
  });

  it('rounds as Go does, trunc(p + 0.5) in float64, not Math.round(p), where the two differ', () => {
    // 0.49999999999999994 + 0.5 is 1 in float64: Go's Amount(f + 0.5) gives 1; Math.round gives 0.
    const odd: SlashingRate = { decimal: 'n/a', basisPoints: 0, float64: 0.49999999999999994 };
    expect(slashingAmountSat(1n, odd)).toBe(1n);
    expect(Math.round(0.49999999999999994)).toBe(0);
  });

  it('equals Math.round(V × rate) on every 4-decimal rate for values up to 21e14 away from that edge', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9999 }),
        fc.bigInt({ min: 0n, max: 2_100_000_000_000_000n }),
        (bp, v) => {
          const r = rate(`0.${String(bp).padStart(4, '0')}`);
          const p = Number(v) * r.float64;
          fc.pre(Math.abs(p - Math.trunc(p) - 0.5) > 1e-6);
          expect(slashingAmountSat(v, r)).toBe(BigInt(Math.round(p)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses a value outside [0, 2^53 − 1] with PARAMS_INTEGER_RANGE', () => {
    expect(() => slashingAmountSat(-1n, rate('0.1'))).toThrow(CodedError);
    try {
      slashingAmountSat(2n ** 53n, rate('0.1'));
    } catch (e) {
      expect((e as CodedError).code).toBe('PARAMS_INTEGER_RANGE');
    }
  });
});

describe('parseSlashingRate (IsSlashingRateValid, btcstaking/types.go:530-545)', () => {
  it('keeps the decimal, the basis points and the float64 Go multiplies with', () => {
    expect(rate('0.050000000000000000')).toEqual({
      decimal: '0.050000000000000000',
      basisPoints: 500,
      float64: 0.05,
    });
    expect(rate('0.1234').basisPoints).toBe(1234);
  });
  it.each([
    '0',
    '1',
    '0.00001',
    '0.12345',
    '1.5',
    '.5',
    '0.5.',
    '+0.5',
    ' 0.5',
    '0x1',
    '',
    '0.1234000000000000001',
  ])('refuses %j', (s) => {
    expect(() => parseSlashingRate(s, 'X')).toThrow(CodedError);
  });
  it('refuses a non-string', () => expect(() => parseSlashingRate(0.05, 'X')).toThrow(CodedError));
  it('decimalAtto reads up to 18 decimals exactly', () => {
    expect(decimalAtto('1')).toBe(10n ** 18n);
    expect(decimalAtto('0.000000000000000001')).toBe(1n);
    expect(decimalAtto('0.0000000000000000001')).toBeUndefined();
  });
});

describe('isDustOutput: btcd IsDust at 1000 sat/kvB (mempool/policy.go; §1.5)', () => {
  const p2tr = h(`5120${'11'.repeat(32)}`);
  const p2wsh = h(`0020${'11'.repeat(32)}`);
  const p2wpkh = h(`0014${'11'.repeat(20)}`);
  const p2sh = h(`a914${'11'.repeat(20)}87`);
  const p2pkh = h(`76a914${'11'.repeat(20)}88ac`);
  it.each([
    ['P2TR', p2tr, 330n],
    ['P2WSH', p2wsh, 330n],
    ['P2WPKH', p2wpkh, 294n],
    ['P2SH', p2sh, 540n],
    ['P2PKH', p2pkh, 546n],
  ])('%s: dust below %s sat', (_n, script, min) => {
    expect(isDustOutput(min - 1n, script)).toBe(true);
    expect(isDustOutput(min, script)).toBe(false);
  });
  it('OP_RETURN, over-long and unparseable scripts are unspendable, so dust at any value', () => {
    expect(isDustOutput(10n ** 8n, h('6a0401020304'))).toBe(true);
    expect(isDustOutput(10n ** 8n, new Uint8Array(10_001))).toBe(true);
    expect(isDustOutput(10n ** 8n, h('4c05aa'))).toBe(true); // PUSHDATA1 of 5 bytes, 1 present
    expect(isDustOutput(10n ** 8n, h('05aabb'))).toBe(true);
  });
});
