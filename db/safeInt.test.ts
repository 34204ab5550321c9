import { describe, expect, it } from 'vitest';
import { safeInt } from './database.ts';

/*
 * DB_UNSAFE_INTEGER: PostgreSQL hands int8 and numeric back as strings; a value beyond 2^53 - 1
 * would silently round as a JavaScript number, so the store refuses to read it
 * (api/internalError.int.test.ts shows what a caller of the API then sees).
 */
describe('safeInt', () => {
  it('reads the largest safe integer, as pg returns it (a string) or as a number', () => {
    expect(safeInt('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(safeInt(42)).toBe(42);
  });

  it('refuses one past it, and what is not an integer, naming the field (DB_UNSAFE_INTEGER)', () => {
    for (const v of ['9007199254740993', '1.5', 'NaN', Number.POSITIVE_INFINITY]) {
      expect(() => safeInt(v, 'staking_value'), String(v)).toThrow(
        expect.objectContaining({
          code: 'DB_UNSAFE_INTEGER',
          message: expect.stringContaining('staking_value'),
        }),
      );
    }
  });
});
