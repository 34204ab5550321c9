import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { IndexerStore } from '../indexer/store.ts';
import { assertParamsAppendOnly, parseGlobalParams } from '../params/index.ts';
import { reloadParamsFile } from '../runtime/index.ts';
import { ParamsHolder, paramsAuditFields } from '../signer/paramsStore.ts';
import { testKey, testParamsDoc } from './keys.ts';

/**
 * "Params may only grow", one place (params/'s `assertParamsGrewFrom`): the indexer's store (a
 * params file against the one it was built with), the signer (a reload, and a start against its
 * audit log's record) and the reload every service shares (`reloadParamsFile`: API, pipeline,
 * indexer) refuse the same drawn changes of a params file, each with its own code for the one rule.
 */

const covenants = ['pg-cov-a', 'pg-cov-b', 'pg-cov-c'].map(testKey);
const dir = mkdtempSync(join(tmpdir(), 'params-growth-rule-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Doc = { versions: Record<string, unknown>[] };

function docOf(n: number): Doc {
  const first = testParamsDoc(covenants).versions[0]!;
  return {
    versions: Array.from({ length: n }, (_, i) => ({
      ...first,
      version: i,
      activation_height: 100 + i * 100,
    })),
  };
}

type Change = 'none' | 'append' | 'remove-last' | 'change-field' | 'swap-keys';

interface Draw {
  readonly versions: number;
  readonly change: Change;
  /** Which version a change touches. */
  readonly at: number;
}

const drawn: fc.Arbitrary<Draw> = fc.record({
  versions: fc.integer({ min: 1, max: 3 }),
  change: fc.constantFrom<Change>('none', 'append', 'remove-last', 'change-field', 'swap-keys'),
  at: fc.nat(2),
});

function changed(d: Draw): Doc | undefined {
  const doc = docOf(d.versions);
  const i = d.at % d.versions;
  const v = doc.versions;
  switch (d.change) {
    case 'none':
      return doc;
    case 'append':
      return {
        versions: [...v, { ...v.at(-1)!, version: v.length, activation_height: 100 + v.length * 100 }],
      };
    case 'remove-last':
      // A file with no version at all is refused by the parser before the growth rule.
      return v.length > 1 ? { versions: v.slice(0, -1) } : undefined;
    case 'change-field':
      v[i] = { ...v[i]!, unbonding_fee: 1_001 };
      return doc;
    case 'swap-keys':
      v[i] = { ...v[i]!, covenant_pks: [...(v[i]!.covenant_pks as string[])].reverse() };
      return doc;
  }
}

/** Each caller's answer as the rule's code: its own code for the rule maps back to PARAMS_VERSIONS_CHANGED. */
const RULE_OF: Record<string, string> = {
  INDEXER_PARAMS_CHANGED: 'PARAMS_VERSIONS_CHANGED',
  SIGNER_PARAMS_RELOAD_REFUSED: 'PARAMS_VERSIONS_CHANGED',
};
async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
    return 'OK';
  } catch (e) {
    if (!isCodedError(e)) throw e;
    return RULE_OF[e.code] ?? e.code;
  }
}

let run = 0;
async function answers(before: Doc, after: Doc): Promise<Record<string, string>> {
  const k = run++;
  const file = join(dir, `params-${k}.json`);
  const store = join(dir, `store-${k}`);
  const previous = parseGlobalParams(before);
  const next = parseGlobalParams(after);

  await IndexerStore.open(store, previous).close();
  const indexer = await codeOf(async () => (await IndexerStore.open(store, next)).close());

  writeFileSync(file, JSON.stringify(before));
  const holder = new ParamsHolder(file);
  writeFileSync(file, JSON.stringify(after));
  const signerReload = await codeOf(() => holder.reload(0));
  const audit = paramsAuditFields(previous);
  const signerStart = await codeOf(() =>
    new ParamsHolder(file).assertGrewSince(
      { versions: audit.params_versions, hashes: audit.params_version_hashes },
      0,
    ),
  );

  const log = { info() {}, error() {} };
  const reload = await reloadParamsFile({
    file,
    current: previous,
    tip: async () => 0,
    apply: () => {},
    log,
  });
  const shared = reload.ok ? 'OK' : String(reload.code);
  rmSync(store, { recursive: true, force: true });
  return {
    rule: await codeOf(() => assertParamsAppendOnly(previous, next, file)),
    indexer,
    signerReload,
    signerStart,
    shared,
  };
}

describe('"params may only grow": the indexer store, the signer and the shared reload agree', () => {
  it('refuse the same drawn changes of a params file with the rule’s code, and accept the same', async () => {
    await fc.assert(
      fc.asyncProperty(drawn, async (d) => {
        const after = changed(d);
        if (!after) return;
        const a = await answers(docOf(d.versions), after);
        const want = d.change === 'none' || d.change === 'append' ? 'OK' : 'PARAMS_VERSIONS_CHANGED';
        expect(a).toEqual({ rule: want, indexer: want, signerReload: want, signerStart: want, shared: want });
      }),
      { numRuns: 25 },
    );
  });
});
