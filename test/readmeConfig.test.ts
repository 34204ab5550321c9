import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_CONFIG_SCHEMA } from '../api/config.ts';
import { INDEXER_CONFIG_SCHEMA } from '../indexer/config.ts';
import { PIPELINE_CONFIG_SCHEMA } from '../pipeline/config.ts';
import { SIGNER_CONFIG_SCHEMA } from '../signer/config.ts';

/** The README's configuration reference names every option of every service's schema. */
interface Schema {
  readonly type?: string;
  readonly properties?: object;
  readonly items?: Schema;
}

function optionPaths(s: Schema, path = ''): string[] {
  if (s.properties) {
    return Object.entries(s.properties).flatMap(([k, v]) =>
      optionPaths(v as Schema, path ? `${path}.${k}` : k),
    );
  }
  if (s.type === 'array' && s.items?.properties) {
    return Object.entries(s.items.properties).flatMap(([k, v]) => optionPaths(v as Schema, `${path}[].${k}`));
  }
  return [path];
}

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const SCHEMAS: Record<string, Schema> = {
  signer: SIGNER_CONFIG_SCHEMA,
  indexer: INDEXER_CONFIG_SCHEMA,
  api: API_CONFIG_SCHEMA,
  pipeline: PIPELINE_CONFIG_SCHEMA,
};

describe('README.md configuration reference', () => {
  for (const [service, schema] of Object.entries(SCHEMAS)) {
    it(`lists every ${service} option`, () => {
      const paths = optionPaths(schema);
      expect(paths.length).toBeGreaterThan(10);
      const missing = paths.filter((p) => !README.includes(`\`${p}\``));
      expect(missing).toEqual([]);
    });
  }
});
