import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PARAMS_ERRORS } from '../params/index.ts';
import { PIPELINE_ERRORS } from '../pipeline/errors.ts';
import { SIGNER_ERRORS } from '../signer/errors.ts';
import { STAKING_ERRORS } from '../staking/index.ts';

/** Every room's codes carry its prefix and are documented in its README (as fastify's errors test). */
const rooms: Array<[string, string, Record<string, unknown>]> = [
  ['params', 'PARAMS_', PARAMS_ERRORS],
  ['staking', 'STAKING_', STAKING_ERRORS],
  ['signer', 'SIGNER_', SIGNER_ERRORS],
  ['pipeline', 'PIPELINE_', PIPELINE_ERRORS],
];

describe.each(rooms)('%s error codes', (room, prefix, codes) => {
  const readme = readFileSync(new URL(`../${room}/README.md`, import.meta.url), 'utf8');
  it.each(Object.keys(codes))('%s has the room prefix and is documented in the README', (code) => {
    expect(code.startsWith(prefix)).toBe(true);
    expect(readme).toContain(`\`${code}\``);
  });
});
