import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PrefixSet } from './prescan.ts';

describe('PrefixSet', () => {
  const prefix = fc.integer({ min: 0, max: 0x3fffffff });

  it('answers as a Set does, through its growth, for prefixes that collide in its table too', () => {
    // Half the prefixes share their low 10 bits (a start slot of the first table) with another.
    const prefixes = fc.array(
      fc.oneof(
        prefix,
        prefix.map((p) => (p & ~0x3ff) | 7),
      ),
      { maxLength: 3000 },
    );
    fc.assert(
      fc.property(prefixes, fc.array(prefix, { maxLength: 200 }), (added, probes) => {
        const want = new Set<number>();
        const got = new PrefixSet(added.slice(0, 10));
        for (const p of added.slice(0, 10)) want.add(p);
        for (const p of added.slice(10)) {
          got.add(p);
          want.add(p);
        }
        expect(got.size).toBe(want.size);
        for (const p of [...added, ...probes]) expect(got.has(p)).toBe(want.has(p));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses what no hash prefix can be', () => {
    const s = new PrefixSet();
    for (const bad of [-1, 0x40000000, 1.5, Number.NaN]) expect(() => s.add(bad)).toThrow(RangeError);
    expect(s.size).toBe(0);
    expect(s.has(-1)).toBe(false);
  });
});
