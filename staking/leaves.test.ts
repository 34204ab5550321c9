import { crypto, opcodes, script } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareBytes, toHex, type XOnlyKey } from '../common/index.ts';
import { testKey } from '../test/keys.ts';
import {
  assertDistinctKeys,
  buildSlashingLeaf,
  buildTimelockLeaf,
  buildUnbondingLeaf,
  taggedHash,
} from './index.ts';

/**
 * The leaves are assembled from kept fragments (leaves.ts); here they must equal what compiling
 * each whole leaf with bitcoinjs gives, whatever the keys, thresholds and locks, and whatever was
 * asked before with the same key list.
 */
const multisig = (keys: readonly XOnlyKey[], k: number, verify: boolean) =>
  keys.length === 1
    ? [keys[0]!, verify ? opcodes.OP_CHECKSIGVERIFY : opcodes.OP_CHECKSIG]
    : [
        ...[...keys]
          .sort(compareBytes)
          .flatMap((key, i) => [key, i === 0 ? opcodes.OP_CHECKSIG : opcodes.OP_CHECKSIGADD]),
        script.number.encode(k),
        verify ? opcodes.OP_NUMEQUALVERIFY : opcodes.OP_NUMEQUAL,
      ];
const reference = {
  timelock: (s: XOnlyKey, t: number) =>
    script.compile([s, opcodes.OP_CHECKSIGVERIFY, script.number.encode(t), opcodes.OP_CHECKSEQUENCEVERIFY]),
  unbonding: (s: XOnlyKey, cov: readonly XOnlyKey[], q: number) =>
    script.compile([s, opcodes.OP_CHECKSIGVERIFY, ...multisig(cov, q, false)]),
  slashing: (s: XOnlyKey, fps: readonly XOnlyKey[], cov: readonly XOnlyKey[], q: number) =>
    script.compile([s, opcodes.OP_CHECKSIGVERIFY, ...multisig(fps, 1, true), ...multisig(cov, q, false)]),
};

const keys = Array.from({ length: 12 }, (_, i) => testKey(`leaves-${i}`).xOnly);
// Key lists built once, as the params' covenant lists are, so that fragments are reused.
const lists = [1, 2, 3, 5, 9].map((n) => Object.freeze(keys.slice(2, 2 + n)));

describe('staking leaves assembled from kept fragments', () => {
  it('equal bitcoinjs compiling the whole leaf, over keys, quorums and locks', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...lists),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 1 }),
        fc.integer({ min: 1, max: 3 }),
        (cov, q0, lock, who, nFps) => {
          const q = 1 + (q0 % cov.length);
          const staker = keys[who]!;
          const fps = keys.slice(11 - nFps + 1, 12);
          expect(buildTimelockLeaf(staker, lock, true)).toEqual(
            new Uint8Array(reference.timelock(staker, lock)),
          );
          expect(buildUnbondingLeaf(staker, cov, q)).toEqual(
            new Uint8Array(reference.unbonding(staker, cov, q)),
          );
          expect(buildSlashingLeaf(staker, fps, cov, q)).toEqual(
            new Uint8Array(reference.slashing(staker, fps, cov, q)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('still refuse a bad quorum and duplicate keys for a list whose other quorums are kept', () => {
    const cov = lists[3]!;
    buildUnbondingLeaf(keys[0]!, cov, 3);
    expect(() => buildUnbondingLeaf(keys[0]!, cov, 6)).toThrow(/threshold/);
    const dup = Object.freeze([cov[0]!, ...cov]);
    expect(() => buildUnbondingLeaf(keys[0]!, dup, 2)).toThrowError(
      expect.objectContaining({ code: 'STAKING_DUPLICATE_KEYS' }),
    );
  });
});

describe('assertDistinctKeys', () => {
  // Keys drawn from a pool of 6, so that repeats within and across roles are frequent.
  const pool = Array.from({ length: 6 }, (_, i) => testKey(`distinct-${i}`).xOnly);
  const key = fc.nat({ max: pool.length - 1 }).map((i) => pool[i]!);
  const distinct = (keys: readonly XOnlyKey[]) => new Set(keys.map(toHex)).size === keys.length;

  it('refuses exactly the key sets with a repeat, whatever the roles, and a frozen list asked again', () => {
    fc.assert(
      fc.property(
        key,
        fc.array(key, { minLength: 1, maxLength: 3 }),
        fc.array(key, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (staker, fps, covenants, freeze) => {
          const cov = freeze ? Object.freeze([...covenants]) : covenants;
          const ok = distinct([staker, ...fps, ...cov]);
          // Twice: the second call may rely on what the first one learnt about a frozen list.
          for (let i = 0; i < 2; i++) {
            let code: string | undefined;
            try {
              assertDistinctKeys(staker, fps, cov);
            } catch (e) {
              code = (e as { code?: string }).code;
            }
            expect(code).toBe(ok ? undefined : 'STAKING_DUPLICATE_KEYS');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('checks again a list that is not frozen, which may have changed in place', () => {
    const cov = [pool[0]!, pool[1]!];
    assertDistinctKeys(pool[2]!, [pool[3]!], cov);
    cov[1] = pool[0]!;
    expect(() => assertDistinctKeys(pool[2]!, [pool[3]!], cov)).toThrowError(
      expect.objectContaining({ code: 'STAKING_DUPLICATE_KEYS' }),
    );
  });
});

describe('taggedHash (node:crypto)', () => {
  it('agree with bitcoinjs on every tag and any data', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('TapLeaf', 'TapBranch', 'TapTweak'),
        fc.uint8Array({ maxLength: 300 }),
        (tag, data) => {
          expect(new Uint8Array(taggedHash(tag, data))).toEqual(new Uint8Array(crypto.taggedHash(tag, data)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('agree with bitcoinjs over several parts, and past its 1,024-byte scratch', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('TapLeaf', 'TapBranch', 'TapTweak'),
        fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 3 }),
        (tag, parts) => {
          const whole = Buffer.concat(parts);
          expect(new Uint8Array(taggedHash(tag, ...parts))).toEqual(
            new Uint8Array(crypto.taggedHash(tag, whole)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});
