import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DB_ERRORS } from '../db/index.ts';
import { API_ERRORS, API_OPERATION_ERRORS, API_RELOAD_ERRORS } from './errors.ts';

/** Every code of api/ and db/ carries its room's prefix and is documented in its README. */
const rooms: Array<[string, string, Record<string, unknown>]> = [
  ['api', 'API_', { ...API_ERRORS, ...API_OPERATION_ERRORS, ...API_RELOAD_ERRORS }],
  ['db', 'DB_', DB_ERRORS],
];

describe.each(rooms)('%s error codes', (room, prefix, codes) => {
  const readme = readFileSync(new URL(`../${room}/README.md`, import.meta.url), 'utf8');
  it.each(Object.keys(codes))('%s has the room prefix and is documented in the README', (code) => {
    expect(code.startsWith(prefix)).toBe(true);
    expect(readme).toContain(`\`${code}\``);
  });
});

describe('API error table', () => {
  it('maps every HTTP code to a 4xx or 5xx status and a reference wire code', () => {
    for (const [code, [status, wire]] of Object.entries(API_ERRORS)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(wire, code).toMatch(/^[A-Z_]+$/);
    }
  });
});
