import { describe, expect, it } from 'vitest';
import { copyXOnlyKey, parseXOnlyKey, xOnlyKeyOrUndefined } from './keys.ts';

// x = 0 has no point on secp256k1 (0³ + 7 is not a square mod p); G's x has one.
const G_X = Uint8Array.from(
  Buffer.from('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798', 'hex'),
);

describe('x-only keys from bytes', () => {
  it('xOnlyKeyOrUndefined: a copy for a valid x, undefined for a wrong length or an x off the curve', () => {
    const key = xOnlyKeyOrUndefined(G_X);
    expect(key).toEqual(G_X);
    expect(key).not.toBe(G_X);
    expect(xOnlyKeyOrUndefined(new Uint8Array(32))).toBeUndefined();
    expect(xOnlyKeyOrUndefined(G_X.subarray(1))).toBeUndefined();
    expect(xOnlyKeyOrUndefined(Uint8Array.of(2, ...G_X))).toBeUndefined();
  });

  it('parseXOnlyKey refuses the same bytes, with the caller’s code and field', () => {
    expect(() => parseXOnlyKey(new Uint8Array(32), 'k', 'X_BAD')).toThrow(
      expect.objectContaining({ code: 'X_BAD', message: 'k is not a valid x-only public key' }),
    );
    expect(parseXOnlyKey(G_X, 'k', 'X_BAD')).toEqual(G_X);
  });

  it('copyXOnlyKey gives equal bytes the holder can no longer reach', () => {
    const key = parseXOnlyKey(G_X, 'k', 'X_BAD');
    const copy = copyXOnlyKey(key);
    copy[0] = 0;
    expect(key).toEqual(G_X);
  });
});
