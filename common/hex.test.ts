import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from './hex.ts';

describe('toHex', () => {
  // Short arrays take another path than long ones; views into a larger buffer must keep their offset.
  it('is the lowercase hex of exactly the bytes in view, short or long, whole or a view', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (all, a, b) => {
        const start = all.length === 0 ? 0 : a % (all.length + 1);
        const end = start + (all.length - start === 0 ? 0 : b % (all.length - start + 1));
        const view = all.subarray(start, end);
        const expected = Array.from(view, (x) => x.toString(16).padStart(2, '0')).join('');
        expect(toHex(view)).toBe(expected);
        expect(toHex(Uint8Array.from(view))).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
