import fc from 'fast-check';
import * as tiny from 'tiny-secp256k1';
import { describe, expect, it } from 'vitest';
import { ecc as native } from './curve.node.ts';
import type { Ecc } from './ecc.ts';
import { parseHex } from './hex.ts';

/**
 * Garbage at every function of the native addon: wrong types, wrong lengths, views into larger
 * buffers, zero and over-order scalars, points off the curve, hybrid and x-only encodings. Each
 * call must end as tiny-secp256k1's does: the same TypeError message, or the same result. A crash
 * of the addon would kill the test process; a read past a view's end would show as a different
 * answer from tiny-secp256k1, which copies exactly the view's bytes.
 */

const hex = (s: string) => parseHex(s, 'test', 'TEST');
const N = hex('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const P = hex('fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f');
const G = tiny.pointFromScalar(Uint8Array.of(...new Uint8Array(31), 1), true)!;
const G_UNCOMPRESSED = tiny.pointFromScalar(Uint8Array.of(...new Uint8Array(31), 1), false)!;
const reference: Ecc = tiny;
const plus = (b: Uint8Array, k: number) => {
  const out = Uint8Array.from(b);
  out[31] = (out[31]! + k) & 0xff;
  return out;
};

/** Edge values that reach the library past the length checks. */
const special = fc.constantFrom(
  new Uint8Array(32), // zero: no private key, a zero tweak, not an x coordinate
  N, // the order: out of range for a scalar and a tweak
  plus(N, -1), // n − 1: the last valid scalar
  plus(N, 1),
  new Uint8Array(32).fill(0xff),
  P, // the field size: no x coordinate
  G.subarray(1), // the generator's x
  Uint8Array.of(...new Uint8Array(31), 1),
  G,
  Uint8Array.of(0x03, ...G.subarray(1)), // −G
  Uint8Array.of(0x04, ...G.subarray(1)), // a compressed body with the uncompressed prefix
  G_UNCOMPRESSED,
  Uint8Array.of(0x06, ...G_UNCOMPRESSED.subarray(1)), // hybrid, parity right
  Uint8Array.of(0x07, ...G_UNCOMPRESSED.subarray(1)), // hybrid, parity wrong
  Uint8Array.of(0x04, ...G_UNCOMPRESSED.subarray(1, 33), ...new Uint8Array(32)), // off the curve
  Uint8Array.of(0x02, ...P),
  new Uint8Array(64),
  Uint8Array.of(...N, ...new Uint8Array(32)), // signature with r = n
  Uint8Array.of(...new Uint8Array(32), ...N), // signature with s = n
  Uint8Array.of(...P.subarray(0, 32), ...new Uint8Array(32).fill(1)),
);

/** Bytes of the lengths the functions take, and some they do not. */
const sized = fc
  .constantFrom(0, 1, 16, 31, 32, 33, 34, 64, 65, 66, 128)
  .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));

/** The same bytes as a view into a larger buffer, with bytes around it. */
const viewed = fc.tuple(fc.oneof(sized, special), fc.nat(7), fc.nat(7)).map(([b, before, after]) => {
  const backing = new Uint8Array(before + b.length + after).fill(0xa5);
  backing.set(b, before);
  return backing.subarray(before, before + b.length);
});

const notBytes = fc.oneof(
  fc.anything(),
  fc.constantFrom(
    undefined,
    null,
    0,
    1,
    true,
    'x',
    [],
    new Array(32).fill(1),
    new Uint8ClampedArray(32).fill(1),
    new Int8Array(32).fill(1),
    new Uint16Array(16).fill(1),
    new DataView(new ArrayBuffer(32)),
    new ArrayBuffer(32),
    { length: 32 },
  ),
);

const arg = fc.oneof(
  { arbitrary: special, weight: 4 },
  { arbitrary: sized, weight: 3 },
  { arbitrary: viewed, weight: 2 },
  { arbitrary: fc.constant(Buffer.from(G)), weight: 1 },
  { arbitrary: notBytes, weight: 2 },
);
const flag = fc.oneof(fc.constantFrom(undefined, true, false), notBytes);

type Outcome = { threw: string; message: string } | { value: unknown };

function outcome(f: () => unknown): Outcome {
  try {
    return { value: f() };
  } catch (err) {
    return { threw: (err as Error).constructor.name, message: (err as Error).message };
  }
}

/** Each function with the generator of its argument list. */
const calls: Array<[keyof Ecc, fc.Arbitrary<unknown[]>]> = [
  ['isPoint', fc.tuple(arg)],
  ['isXOnlyPoint', fc.tuple(arg)],
  ['isPrivate', fc.tuple(arg)],
  ['pointAdd', fc.tuple(arg, arg, flag)],
  ['pointAddScalar', fc.tuple(arg, arg, flag)],
  ['pointCompress', fc.tuple(arg, flag)],
  ['pointFromScalar', fc.tuple(arg, flag)],
  ['pointMultiply', fc.tuple(arg, arg, flag)],
  ['privateAdd', fc.tuple(arg, arg)],
  ['privateSub', fc.tuple(arg, arg)],
  ['privateNegate', fc.tuple(arg)],
  ['xOnlyPointAddTweak', fc.tuple(arg, arg)],
  ['xOnlyPointFromScalar', fc.tuple(arg)],
  ['xOnlyPointFromPoint', fc.tuple(arg)],
  ['sign', fc.tuple(arg, arg, fc.oneof(fc.constant(undefined), arg))],
  ['signSchnorr', fc.tuple(arg, arg, fc.oneof(fc.constant(undefined), arg))],
  ['verify', fc.tuple(arg, arg, arg, flag)],
  ['verifySchnorr', fc.tuple(arg, arg, arg)],
];

describe('the native addon takes garbage as tiny-secp256k1 does', () => {
  it.each(calls)('%s: the same TypeError or the same answer', (name, args) => {
    const ours = native[name] as (...a: unknown[]) => unknown;
    const theirs = reference[name] as (...a: unknown[]) => unknown;
    let threw = 0;
    fc.assert(
      fc.property(args, (a) => {
        const o = outcome(() => ours(...a));
        expect(o).toEqual(outcome(() => theirs(...a)));
        if ('threw' in o) {
          threw++;
          expect(o.threw).toBe('TypeError');
        }
      }),
      { numRuns: 1000 },
    );
    // Fewer arguments than the function takes (the rest undefined), and none at all.
    expect(outcome(() => ours())).toEqual(outcome(() => theirs()));
    expect(outcome(() => ours(G))).toEqual(outcome(() => theirs(G)));
    if (!name.startsWith('is')) expect(threw).toBeGreaterThan(0);
  });

  it('a refused argument is a TypeError with a CURVE_BAD_* code, and the addon keeps working', () => {
    const d = Uint8Array.of(...new Uint8Array(31), 7);
    for (const [f, code] of [
      [() => native.signSchnorr(new Uint8Array(31), d), 'CURVE_BAD_HASH'],
      [() => native.signSchnorr(new Uint8Array(32), N), 'CURVE_BAD_PRIVATE'],
      [() => native.signSchnorr(new Uint8Array(32), d, new Uint8Array(33)), 'CURVE_BAD_EXTRA_DATA'],
      [() => native.xOnlyPointAddTweak(P, d), 'CURVE_BAD_POINT'],
      [() => native.xOnlyPointAddTweak(G.subarray(1), N), 'CURVE_BAD_TWEAK'],
      [() => native.verifySchnorr(d, G.subarray(1), new Uint8Array(63)), 'CURVE_BAD_SIGNATURE'],
    ] as const) {
      expect(f).toThrow(TypeError);
      expect(outcome(f)).toMatchObject({ threw: 'TypeError' });
      try {
        f();
      } catch (err) {
        expect((err as { code?: string }).code).toBe(code);
      }
    }
    const h = new Uint8Array(32).fill(3);
    expect(native.verifySchnorr(h, native.xOnlyPointFromScalar(d), native.signSchnorr(h, d))).toBe(true);
  });

  it('returns fresh Uint8Arrays: changing a result changes nothing else', () => {
    const d = Uint8Array.of(...new Uint8Array(31), 9);
    const a = native.privateNegate(d);
    const b = native.privateNegate(d);
    expect(a).not.toBe(b);
    expect(a.buffer).not.toBe(b.buffer);
    expect(Object.getPrototypeOf(a)).toBe(Uint8Array.prototype);
    a.fill(0);
    expect(b).toEqual(tiny.privateNegate(d));
    expect(d[31]).toBe(9);
    const x = native.xOnlyPointFromScalar(d);
    const tweak = new Uint8Array(32).fill(5);
    const t = native.xOnlyPointAddTweak(x, tweak)!;
    t.xOnlyPubkey.fill(0);
    expect(native.xOnlyPointAddTweak(x, tweak)).toEqual(tiny.xOnlyPointAddTweak(x, tweak));
  });
});
