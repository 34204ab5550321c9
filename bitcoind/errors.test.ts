import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BITCOIND_ERRORS } from './errors.ts';

const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
// The error table's rows: | `CODE` | sentence | (the formatter may pad the cells).
const documented = new Map(
  [...readme.matchAll(/^\| `((?:RPC|BITCOIND)_[A-Z_]+)` *\| (.+?) *\|$/gm)].map((m) => [m[1]!, m[2]!]),
);

describe('bitcoind error codes', () => {
  it.each(Object.entries(BITCOIND_ERRORS))('%s has a room prefix and one sentence', (code, sentence) => {
    expect(code).toMatch(/^(RPC|BITCOIND)_[A-Z_]+$/);
    expect(sentence).toMatch(/^[A-Za-z`].*\.$/);
  });

  it.each(Object.entries(BITCOIND_ERRORS))(
    '%s is documented in README.md with the same sentence',
    (code, sentence) => {
      expect(documented.get(code)).toBe(sentence);
    },
  );

  it('README.md documents no code that does not exist', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(BITCOIND_ERRORS).sort());
  });
});
