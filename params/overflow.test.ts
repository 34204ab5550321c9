import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOverflow } from './overflow.ts';

describe('isOverflow', () => {
  it('with a height cap: the cap height is active, the next height is overflow, the TVL does not matter', () => {
    const v = { capHeight: 900, stakingCapSat: 0n };
    expect(isOverflow(v, 900, 10n ** 15n)).toBe(false);
    expect(isOverflow(v, 901, 0n)).toBe(true);
  });

  it('with a value cap: the stake that reaches or crosses the cap is active, the next one overflow', () => {
    const v = { capHeight: 0, stakingCapSat: 1_000n };
    expect(isOverflow(v, 5, 999n)).toBe(false);
    expect(isOverflow(v, 5, 1_000n)).toBe(true);
    expect(isOverflow(v, 5, 1_001n)).toBe(true);
  });

  it('is monotonic: a later height (height cap) or a larger TVL (value cap) never turns overflow back to active', () => {
    fc.assert(
      fc.property(
        fc.nat(1_000),
        fc.bigInt({ min: 0n, max: 10_000n }),
        fc.nat(2_000),
        fc.bigInt({ min: 0n, max: 20_000n }),
        fc.nat(100),
        fc.bigInt({ min: 0n, max: 100n }),
        (capHeight, cap, h, tvl, dh, dtvl) => {
          const v = { capHeight, stakingCapSat: cap };
          if (isOverflow(v, h, tvl)) expect(isOverflow(v, h + dh, tvl + dtvl)).toBe(true);
        },
      ),
    );
  });
});
