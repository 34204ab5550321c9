import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENTS_ERRORS } from '../events/index.ts';
import { INDEXER_ERRORS } from './errors.ts';

/** Every code of indexer/ and events/ carries its room prefix and is documented in its README. */
const rooms: Array<[string, string, Record<string, unknown>]> = [
  ['indexer', 'INDEXER_', INDEXER_ERRORS],
  ['events', 'EVENTS_', EVENTS_ERRORS],
];

describe.each(rooms)('%s error codes', (room, prefix, codes) => {
  const readme = readFileSync(new URL(`../${room}/README.md`, import.meta.url), 'utf8');
  it.each(Object.keys(codes))('%s has the room prefix and is documented in the README', (code) => {
    expect(code.startsWith(prefix)).toBe(true);
    expect(readme).toContain(`\`${code}\``);
  });
  it('documents no code that no longer exists', () => {
    // The error table's rows: | `CODE` | …
    const documented = [...readme.matchAll(new RegExp(`^\\| \`(${prefix}[A-Z_]+)\` \\|`, 'gm'))].map(
      (m) => m[1]!,
    );
    expect(documented.length).toBe(Object.keys(codes).length);
    for (const c of documented) expect(Object.keys(codes)).toContain(c);
  });
});
