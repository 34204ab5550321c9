import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HSM_ERRORS } from './errors.ts';

// As test/errorCodes.test.ts does for params/ and staking/ (and fastify's errors test): every code has
// the room prefix and one sentence, and hsm/README.md documents each with the same sentence.
const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
// The error table's rows: | `CODE` | sentence | (the formatter may pad the cells).
const documented = new Map(
  [...readme.matchAll(/^\| `(HSM_[A-Z0-9_]+)` *\| (.+?) *\|$/gm)].map((m) => [m[1]!, m[2]!]),
);

describe('hsm error codes', () => {
  it.each(Object.entries(HSM_ERRORS))('%s has the HSM_ prefix and one sentence', (code, sentence) => {
    expect(code).toMatch(/^HSM_[A-Z0-9_]+$/);
    expect(sentence).toMatch(/^[A-Za-z`].*\.$/);
  });

  it.each(Object.entries(HSM_ERRORS))(
    '%s is documented in README.md with the same sentence',
    (code, sentence) => {
      expect(documented.get(code)).toBe(sentence.replaceAll('|', '\\|'));
    },
  );

  it('README.md documents no code that does not exist', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(HSM_ERRORS).sort());
  });
});
