import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, type XOnlyKey } from '../common/index.ts';
import { testKey } from '../test/keys.ts';
import { buildStakingInfo, buildUnbondingInfo, type StakingScriptKeys } from './stakingInfo.ts';

/**
 * The trees remembered per frozen covenant list: a remembered tree is the tree built afresh, every
 * call gets its own bytes, and a refusal is never remembered into an answer.
 */

const covenants = Object.freeze(['si-cov-a', 'si-cov-b', 'si-cov-c'].map((l) => testKey(l).xOnly));
const pool = ['si-s1', 'si-s2', 'si-s3', 'si-fp1', 'si-fp2'].map((l) => testKey(l).xOnly);

/** Every byte array of a tree, as hex, by path: equal snapshots mean equal trees. */
function snapshot(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    out[k] = v instanceof Uint8Array ? toHex(v) : typeof v === 'object' && v !== null ? snapshot(v) : v;
  }
  return out;
}

function keysOf(
  staker: XOnlyKey,
  fp: XOnlyKey,
  list: readonly XOnlyKey[],
  quorum: number,
): StakingScriptKeys {
  return { stakerKey: staker, fpKeys: [fp], covenantKeys: list, covenantQuorum: quorum };
}

describe('staking and unbonding trees, remembered per frozen covenant list', () => {
  it('are the trees an unfrozen copy of the list builds (never remembered)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 }),
        fc.integer({ min: 3, max: 4 }),
        fc.integer({ min: 1, max: 0xffff }),
        fc.integer({ min: 1, max: 3 }),
        (s, f, time, quorum) => {
          const frozen = keysOf(pool[s]!, pool[f]!, covenants, quorum);
          const fresh = keysOf(pool[s]!, pool[f]!, [...covenants], quorum);
          for (let i = 0; i < 2; i++) {
            expect(snapshot(buildStakingInfo(frozen, time))).toEqual(snapshot(buildStakingInfo(fresh, time)));
            expect(snapshot(buildUnbondingInfo(frozen, time))).toEqual(
              snapshot(buildUnbondingInfo(fresh, time)),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('give every caller its own bytes: changing one answer changes no later one', () => {
    const keys = keysOf(pool[0]!, pool[3]!, covenants, 2);
    const first = buildStakingInfo(keys, 77);
    const expected = snapshot(first);
    first.pkScript.fill(0);
    first.unbonding.leafHash.fill(0);
    first.slashing.script.fill(0);
    const again = buildStakingInfo(keys, 77);
    expect(snapshot(again)).toEqual(expected);
    expect(again.pkScript).not.toBe(buildStakingInfo(keys, 77).pkScript);
    const u = buildUnbondingInfo(keys, 5);
    const uExpected = snapshot(u);
    u.outputKey.fill(1);
    u.timelock.controlBlock.fill(1);
    expect(snapshot(buildUnbondingInfo(keys, 5))).toEqual(uExpected);
  });

  it('tell apart what differs: time, the zero-timelock option, quorum, finality providers', () => {
    const k = (fp: XOnlyKey, q: number) => keysOf(pool[1]!, fp, covenants, q);
    const a = toHex(buildStakingInfo(k(pool[3]!, 2), 10).pkScript);
    expect(toHex(buildStakingInfo(k(pool[3]!, 2), 11).pkScript)).not.toBe(a);
    expect(toHex(buildStakingInfo(k(pool[3]!, 3), 10).pkScript)).not.toBe(a);
    expect(toHex(buildStakingInfo(k(pool[4]!, 2), 10).pkScript)).not.toBe(a);
    expect(toHex(buildUnbondingInfo(k(pool[3]!, 2), 10).pkScript)).not.toBe(a);
    // A time of 0 builds only with the option; a tree built with it does not answer a call without it.
    expect(() => buildStakingInfo(k(pool[3]!, 2), 0)).toThrow(
      expect.objectContaining({ code: 'STAKING_INVALID_ARGUMENT' }),
    );
    buildStakingInfo(k(pool[3]!, 2), 0, { allowZeroTimelock: true });
    expect(() => buildStakingInfo(k(pool[3]!, 2), 0)).toThrow(
      expect.objectContaining({ code: 'STAKING_INVALID_ARGUMENT' }),
    );
  });

  it('refuse duplicate keys every time', () => {
    const dup = keysOf(covenants[0]!, pool[3]!, covenants, 2);
    for (let i = 0; i < 2; i++) {
      expect(() => buildStakingInfo(dup, 10)).toThrow(
        expect.objectContaining({ code: 'STAKING_DUPLICATE_KEYS' }),
      );
      expect(() => buildUnbondingInfo(dup, 10)).toThrow(
        expect.objectContaining({ code: 'STAKING_DUPLICATE_KEYS' }),
      );
    }
  });
});
