import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

/**
 * Data published by Babylon (the script vectors, the networks' params files, the adaptor-signature
 * vectors) is read in place from `../shared/vectors/`, beside the checkout, where CI and every
 * machine of ours have it; the project keeps no copy. Provenance: `../shared/vectors/README.md`.
 */
export const VECTORS_DIR = fileURLToPath(new URL('../../../shared/vectors/', import.meta.url));

/** Why tests of Babylon's data cannot run with `dir` as the folder, or undefined when they can. */
export function vectorsAbsence(dir: string): string | undefined {
  if (existsSync(join(dir, 'vectors.json'))) return undefined;
  return `Babylon's published data is read from ${dir} (../shared/vectors beside the checkout), which is absent here; the project keeps no copy`;
}

export const VECTORS_MISSING = vectorsAbsence(VECTORS_DIR);

/** The path of one published file, e.g. `params/bbn-1/global-params.json`. */
export function vectorPath(file: string): string {
  return join(VECTORS_DIR, file);
}

export function readVector(file: string): string {
  return readFileSync(vectorPath(file), 'utf8');
}

/**
 * `describe` for tests that read Babylon's data. Where the folder is absent, `body` never runs (so
 * it may load the data as it likes) and one test stands in for it, skipped with the reason, which
 * CI counts as a failure.
 */
export function describeVectors(name: string, body: () => void): void {
  const missing = VECTORS_MISSING;
  if (missing === undefined) describe(name, body);
  else describe(name, () => it('reads ../shared/vectors', (ctx) => ctx.skip(missing)));
}

/** `it` for one test that reads Babylon's data: skipped, with the reason, where the folder is absent. */
export function itVectors(name: string, fn: () => void | Promise<void>): void {
  it(name, (ctx) => {
    if (VECTORS_MISSING !== undefined) ctx.skip(VECTORS_MISSING);
    return fn();
  });
}
