import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { isCodedError } from '../common/index.ts';
import { describeVectors, readVector, VECTORS_MISSING } from '../test/infra/vectors.ts';
import { ParamsHolder } from './paramsStore.ts';

// Read in place from ../shared/vectors; where that is absent, no test below runs (describeVectors).
const bbn1 = VECTORS_MISSING ? { versions: [] } : JSON.parse(readVector('params/bbn-1/global-params.json'));
let dir: string;
let file: string;
const write = (doc: unknown) => writeFileSync(file, JSON.stringify(doc));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'params-'));
  file = join(dir, 'global-params.json');
  write({ versions: bbn1.versions.slice(0, 2) });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// Between bbn-1's versions 1 (864790) and 2 (874088), as a live signer's node would be.
const TIP = 870_000;

function reloadCode(holder: ParamsHolder, tip = TIP): string {
  try {
    holder.reload(tip);
    return 'APPLIED';
  } catch (e) {
    if (isCodedError(e)) return e.code;
    throw e;
  }
}

describeVectors('params reload is append-only', () => {
  it('applies a file that appends a version, and shows the new hash', () => {
    const h = new ParamsHolder(file);
    const before = h.current.fileSha256;
    write(bbn1);
    expect(h.reload(TIP)).toMatchObject({ added: 1 });
    expect(h.current.params.versions).toHaveLength(3);
    expect(h.current.fileSha256).not.toBe(before);
  });

  it('refuses a file that changes an existing version, and keeps the old params', () => {
    const h = new ParamsHolder(file);
    const changed = structuredClone(bbn1.versions.slice(0, 2));
    changed[1].unbonding_fee = 1;
    write({ versions: changed });
    expect(reloadCode(h)).toBe('SIGNER_PARAMS_RELOAD_REFUSED');
    expect(h.current.params.versions[1]!.unbondingFeeSat).toBe(32_000n);
  });

  it('refuses a file that removes a version', () => {
    const h = new ParamsHolder(file);
    write({ versions: bbn1.versions.slice(0, 1) });
    expect(reloadCode(h)).toBe('SIGNER_PARAMS_RELOAD_REFUSED');
    expect(h.current.params.versions).toHaveLength(2);
  });

  it('refuses an appended version that activates at or below the tip plus the depth', () => {
    const h = new ParamsHolder(file);
    write(bbn1);
    expect(reloadCode(h, 874_088 - 10)).toBe('PARAMS_NEW_VERSION_ACTIVATES_TOO_EARLY');
    expect(h.current.params.versions).toHaveLength(2);
    expect(reloadCode(h, 874_088 - 11)).toBe('APPLIED');
  });

  it('refuses an invalid file with its params code, and keeps the old params', () => {
    const h = new ParamsHolder(file);
    writeFileSync(file, '{"versions": [');
    expect(reloadCode(h)).toBe('PARAMS_NOT_JSON');
    expect(h.current.params.versions).toHaveLength(2);
  });
});
