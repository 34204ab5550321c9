import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import * as ecc from 'tiny-secp256k1';
import { describe, expect, it } from 'vitest';
import { testTempDir } from '../test/infra/tempDirs.ts';
import * as browser from './curve.browser.ts';
import { loadNativeCurve } from './curve.node.ts';
import { isPublicKey, isXOnlyPublicKey, xOnlyTweakAdd } from './curve.ts';
import { parseHex, toHex } from './hex.ts';
import * as common from './index.ts';

const hex = (s: string) => parseHex(s, 'test', 'TEST');
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
/** secp256k1's group order n and field size p: the first values out of range. */
const N = hex('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
const P = hex('fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f');
const G_X = hex('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798');

describe('common/curve (native libsecp256k1) agrees with tiny-secp256k1', () => {
  it('on x-only keys: random 32 bytes, 0, p and the generator', () => {
    fc.assert(
      fc.property(bytes32, (x) => {
        expect(isXOnlyPublicKey(x)).toBe(ecc.isXOnlyPoint(x));
      }),
      { numRuns: 2000 },
    );
    expect(isXOnlyPublicKey(new Uint8Array(32))).toBe(false);
    expect(isXOnlyPublicKey(P)).toBe(false);
    expect(isXOnlyPublicKey(G_X)).toBe(true);
    expect(isXOnlyPublicKey(G_X.subarray(1))).toBe(false);
  });

  it('on the taproot tweak: key, parity and the refusals (t ≥ n, x off the curve)', () => {
    fc.assert(
      fc.property(bytes32, bytes32, (x, t) => {
        const ours = xOnlyTweakAdd(x, t);
        let theirs: { xOnlyPubkey: Uint8Array; parity: 0 | 1 } | null = null;
        try {
          theirs = ecc.isXOnlyPoint(x) ? ecc.xOnlyPointAddTweak(x, t) : null;
        } catch {
          // tiny-secp256k1 throws on a tweak ≥ n; ours answers undefined.
        }
        expect(ours === undefined ? undefined : { xOnlyPubkey: ours.xOnly, parity: ours.parity }).toEqual(
          theirs ?? undefined,
        );
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(bytes32, (x) => {
        const zero = new Uint8Array(32);
        expect(xOnlyTweakAdd(x, zero)?.xOnly).toEqual(ecc.isXOnlyPoint(x) ? x : undefined);
      }),
      { numRuns: 200 },
    );
    expect(xOnlyTweakAdd(G_X, N)).toBeUndefined();
    expect(xOnlyTweakAdd(P, new Uint8Array(32).fill(1))).toBeUndefined();
    // A zero tweak is allowed by BIP341 and leaves the (even) point unchanged.
    expect(xOnlyTweakAdd(G_X, new Uint8Array(32))).toEqual({ xOnly: G_X, parity: 0 });
    // G + (n − 1)·G is the point at infinity, which is refused.
    const nMinus1 = Uint8Array.from(N);
    nMinus1[31] = nMinus1[31]! - 1;
    expect(xOnlyTweakAdd(G_X, nMinus1)).toBeUndefined();
  });

  it('one key tweaked again and again (its lift reused), and a key buffer the caller changes in place', () => {
    const x = Uint8Array.from(G_X);
    fc.assert(
      fc.property(bytes32, (t) => {
        const ours = xOnlyTweakAdd(x, t);
        const theirs = ecc.xOnlyPointAddTweak(G_X, t);
        expect(ours && { xOnlyPubkey: ours.xOnly, parity: ours.parity }).toEqual(theirs ?? undefined);
      }),
      { numRuns: 300 },
    );
    // The same buffer, now another key: the lift of the old one must not be used.
    const other = ecc.xOnlyPointAddTweak(G_X, new Uint8Array(32).fill(9))!.xOnlyPubkey;
    x.set(other);
    const t = new Uint8Array(32).fill(5);
    expect(xOnlyTweakAdd(x, t)?.xOnly).toEqual(ecc.xOnlyPointAddTweak(other, t)?.xOnlyPubkey);
    x.set(P);
    expect(xOnlyTweakAdd(x, t)).toBeUndefined();
  });

  it('on x-only keys asked again: by their bytes, and past the memo of answers filling up', () => {
    // More keys than the memo holds (50,000), valid and invalid ones mixed; the first ones asked
    // are dropped from it by the time they are asked again.
    const key = (i: number) => {
      const x = new Uint8Array(32);
      x[0] = i >> 16;
      x[1] = (i >> 8) & 0xff;
      x[2] = i & 0xff;
      x[31] = 7;
      return x;
    };
    const first: boolean[] = [];
    for (let i = 0; i < 50_300; i++) first.push(isXOnlyPublicKey(key(i)));
    for (let i = 0; i < 50_300; i += i < 300 ? 1 : 97)
      expect(first[i], `key ${i}`).toBe(ecc.isXOnlyPoint(key(i)));
    expect(first.slice(0, 300)).toContain(false);
    for (let i = 0; i < 300; i++) expect(isXOnlyPublicKey(key(i)), `key ${i} again`).toBe(first[i]);
    // A buffer checked valid, then changed in place into x = p: the answer follows the bytes.
    const x = Uint8Array.from(G_X);
    expect(isXOnlyPublicKey(x)).toBe(true);
    x.set(P);
    expect(isXOnlyPublicKey(x)).toBe(false);
    x.set(G_X);
    expect(isXOnlyPublicKey(x.subarray(0, 31))).toBe(false);
  });

  it('on full keys: compressed, uncompressed, and hybrid or odd prefixes refused', () => {
    const g = ecc.pointFromScalar(Uint8Array.of(...new Uint8Array(31), 7), true)!;
    const gu = ecc.pointFromScalar(Uint8Array.of(...new Uint8Array(31), 7), false)!;
    expect(isPublicKey(g)).toBe(true);
    expect(isPublicKey(gu)).toBe(true);
    expect(isPublicKey(Uint8Array.of(0x06, ...gu.subarray(1)))).toBe(false);
    expect(isPublicKey(Uint8Array.of(0x04, ...g.subarray(1)))).toBe(false);
    fc.assert(
      fc.property(fc.constantFrom(0x02, 0x03), bytes32, (prefix, x) => {
        const k = Uint8Array.of(prefix, ...x);
        expect(isPublicKey(k)).toBe(ecc.isPoint(k));
        // Asked again, from the memo it shares with x-only keys: the same answer.
        expect(isPublicKey(k)).toBe(ecc.isPoint(k));
      }),
      { numRuns: 1000 },
    );
    // A compressed key checked valid, then changed in place into x = p, then G's x with the other
    // prefix: each answer follows the bytes; and G's x-only form is still answered as x-only.
    const k = Uint8Array.of(0x02, ...G_X);
    expect(isPublicKey(k)).toBe(true);
    k.set(P, 1);
    expect(isPublicKey(k)).toBe(false);
    k.set(G_X, 1);
    k[0] = 0x03;
    expect(isPublicKey(k)).toBe(true);
    k[0] = 0x04;
    expect(isPublicKey(k)).toBe(false);
    expect(isXOnlyPublicKey(k.subarray(1))).toBe(true);
  });

  it('the browser build gives the same answers', () => {
    fc.assert(
      fc.property(bytes32, bytes32, fc.constantFrom(0x02, 0x03), (x, t, prefix) => {
        expect(browser.isXOnlyPublicKey(x)).toBe(isXOnlyPublicKey(x));
        const k = Uint8Array.of(prefix, ...x);
        expect(browser.isPublicKey(k)).toBe(isPublicKey(k));
        const ours = xOnlyTweakAdd(x, t);
        const theirs = browser.xOnlyTweakAdd(x, t);
        expect(theirs?.xOnly === undefined ? undefined : Uint8Array.from(theirs.xOnly)).toEqual(
          ours?.xOnly === undefined ? undefined : Uint8Array.from(ours.xOnly),
        );
        expect(theirs?.parity).toBe(ours?.parity);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the Node services run the native addon', () => {
  it('is the `ecc` common/index.ts gives under vitest: the loaded libsecp256k1 binary itself', () => {
    const binary = fileURLToPath(
      new URL('../native/secp256k1/build/Release/secp256k1_native.node', import.meta.url),
    );
    // require() answers from its cache: the very object curve.node.ts loaded, not a copy.
    expect(createRequire(import.meta.url)(binary)).toBe(common.ecc);
    expect(common.ecc).not.toBe(ecc);
    expect(Function.prototype.toString.call(common.ecc.signSchnorr)).toContain('[native code]');
    expect(Function.prototype.toString.call(common.ecc.verifySchnorr)).toContain('[native code]');
    expect(Function.prototype.toString.call(common.ecc.xOnlyPointAddTweak)).toContain('[native code]');
  });
});

describe('the addon in worker threads (the indexer fetches in one)', () => {
  it('each thread gets its own context: the same signatures, and a thread ending harms no other', async () => {
    const binary = fileURLToPath(
      new URL('../native/secp256k1/build/Release/secp256k1_native.node', import.meta.url),
    );
    const d = new Uint8Array(32).fill(0x11);
    const inputs = Array.from({ length: 50 }, (_, i) => new Uint8Array(32).fill(i + 1));
    // Plain JavaScript in the worker: it loads the binary itself, signs and verifies, then exits.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const ecc = require(workerData.binary);
      const x = ecc.xOnlyPointFromScalar(workerData.d);
      const sigs = workerData.inputs.map((h) => {
        const sig = ecc.signSchnorr(h, workerData.d, h);
        if (!ecc.verifySchnorr(h, x, sig)) throw new Error('a signature did not verify');
        return Buffer.from(sig).toString('hex');
      });
      parentPort.postMessage(sigs);`;
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { binary, d, inputs } });
        w.once('message', (m: string[]) => resolve(m));
        w.once('error', reject);
      });
    const [a, b] = await Promise.all([run(), run()]);
    const here = inputs.map((h) => toHex(common.ecc.signSchnorr(h, d, h)));
    expect(a).toEqual(here);
    expect(b).toEqual(here);
    expect(
      here.map((s, i) => ecc.verifySchnorr(inputs[i]!, ecc.xOnlyPointFromScalar(d), hex(s))),
    ).not.toContain(false);
    // Both workers have exited and their contexts are destroyed; this thread's still signs.
    expect(toHex(common.ecc.signSchnorr(inputs[0]!, d, inputs[0]!))).toBe(here[0]);
  });
});

describe('an addon that cannot load is one clear error, never a silent fallback', () => {
  const howToBuild = /cannot be loaded from .*provision\.sh.*npm run build:native/s;

  it('a missing binary, a file that is no shared library, a module without the functions', () => {
    const dir = testTempDir('curve-addon-');
    const notElf = join(dir, 'secp256k1_native.node');
    writeFileSync(notElf, 'not a shared library');
    const json = join(dir, 'exports.json');
    writeFileSync(json, JSON.stringify({ signSchnorr: 1 }));
    for (const [path, why] of [
      [join(dir, 'absent.node'), /Cannot find module/],
      [notElf, /invalid ELF header|file too short/],
      [json, /lacks isPoint, .*signSchnorr, verify, verifySchnorr/],
    ] as const) {
      let err: unknown;
      try {
        loadNativeCurve(path);
      } catch (e) {
        err = e;
      }
      expect(common.isCodedError(err, 'CURVE_NATIVE_UNAVAILABLE'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(howToBuild);
      expect((err as Error).message).toMatch(why);
      expect((err as Error).message).toContain(path);
    }
  });
});

describe('native, tiny-secp256k1 and the browser build agree on random inputs', () => {
  const native = common.ecc;
  const scalar = bytes32.filter((d) => ecc.isPrivate(d));
  const hex64 = (b: Uint8Array | null | undefined) => (b ? toHex(b) : b);

  it('BIP340: the same signature for the same key, message and aux, each verified by the others', () => {
    fc.assert(
      fc.property(scalar, bytes32, bytes32, (d, h, aux) => {
        const sig = native.signSchnorr(h, d, aux);
        expect(toHex(sig)).toBe(toHex(ecc.signSchnorr(h, d, aux)));
        expect(toHex(sig)).toBe(toHex(browser.ecc.signSchnorr(h, d, aux)));
        const x = native.xOnlyPointFromScalar(d);
        expect(toHex(x)).toBe(toHex(ecc.xOnlyPointFromScalar(d)));
        expect(native.verifySchnorr(h, x, sig)).toBe(true);
        expect(ecc.verifySchnorr(h, x, sig)).toBe(true);
        expect(browser.ecc.verifySchnorr(h, x, sig)).toBe(true);
        // One bit off in the message, the signature or the key: refused by all three.
        const h2 = Uint8Array.from(h);
        h2[h[0]! % 32]! ^= 1;
        expect(native.verifySchnorr(h2, x, sig)).toBe(false);
        expect(ecc.verifySchnorr(h2, x, sig)).toBe(false);
        const s2 = Uint8Array.from(sig);
        s2[63]! ^= 1;
        expect(native.verifySchnorr(h, x, s2)).toBe(ecc.verifySchnorr(h, x, s2));
        expect(native.verifySchnorr(h, x, s2)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('BIP340 without aux is tiny-secp256k1 signing with 32 zero bytes (deterministic)', () => {
    fc.assert(
      fc.property(scalar, bytes32, (d, h) => {
        const zero = new Uint8Array(32);
        expect(toHex(native.signSchnorr(h, d))).toBe(toHex(ecc.signSchnorr(h, d)));
        expect(toHex(native.signSchnorr(h, d))).toBe(toHex(native.signSchnorr(h, d, zero)));
      }),
      { numRuns: 50 },
    );
  });

  it('ECDSA (RFC 6979, with and without extra entropy) and its verification', () => {
    fc.assert(
      fc.property(scalar, bytes32, fc.option(bytes32, { nil: undefined }), fc.boolean(), (d, h, e, comp) => {
        const sig = native.sign(h, d, e);
        expect(toHex(sig)).toBe(toHex(ecc.sign(h, d, e)));
        const q = native.pointFromScalar(d, comp)!;
        expect(toHex(q)).toBe(toHex(ecc.pointFromScalar(d, comp)!));
        expect(native.verify(h, q, sig)).toBe(true);
        expect(ecc.verify(h, q, sig)).toBe(true);
        expect(browser.ecc.verify(h, q, sig)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('the taproot tweak, key checks and point and scalar arithmetic', () => {
    fc.assert(
      fc.property(scalar, scalar, bytes32, fc.boolean(), (a, b, t, comp) => {
        const xa = native.xOnlyPointFromScalar(a);
        const tweaked = native.xOnlyPointAddTweak(xa, t);
        expect(tweaked).toEqual(ecc.xOnlyPointAddTweak(xa, t));
        const viaBrowser = browser.ecc.xOnlyPointAddTweak(xa, t);
        expect(hex64(tweaked?.xOnlyPubkey)).toBe(hex64(viaBrowser?.xOnlyPubkey));
        expect(tweaked?.parity).toBe(viaBrowser?.parity);
        expect(native.isXOnlyPoint(t)).toBe(ecc.isXOnlyPoint(t));
        expect(native.isXOnlyPoint(t)).toBe(browser.ecc.isXOnlyPoint(t));
        expect(native.isPrivate(t)).toBe(ecc.isPrivate(t));
        const pa = native.pointFromScalar(a, comp)!;
        const pb = native.pointFromScalar(b, true)!;
        expect(native.isPoint(pa)).toBe(true);
        expect(native.pointAdd(pa, pb, comp)).toEqual(ecc.pointAdd(pa, pb, comp));
        expect(native.pointAddScalar(pa, t)).toEqual(ecc.pointAddScalar(pa, t));
        expect(native.pointMultiply(pb, a, comp)).toEqual(ecc.pointMultiply(pb, a, comp));
        expect(native.pointCompress(pa, !comp)).toEqual(ecc.pointCompress(pa, !comp));
        expect(native.xOnlyPointFromPoint(pa)).toEqual(ecc.xOnlyPointFromPoint(pa));
        expect(native.privateAdd(a, b)).toEqual(ecc.privateAdd(a, b));
        expect(native.privateSub(a, b)).toEqual(ecc.privateSub(a, b));
        expect(native.privateNegate(a)).toEqual(ecc.privateNegate(a));
        expect(hex64(native.privateAdd(a, b))).toBe(hex64(browser.ecc.privateAdd(a, b)));
        expect(hex64(native.pointMultiply(pb, a, true))).toBe(hex64(browser.ecc.pointMultiply(pb, a, true)));
      }),
      { numRuns: 200 },
    );
  });
});
