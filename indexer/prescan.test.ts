import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  PrefixSet,
  packPrescans,
  packWalks,
  preScanBlock,
  RangeVerdicts,
  RangeWalk,
  unpackPrescans,
  unpackWalks,
  walkBlock,
} from './prescan.ts';
import { StakesSeen, type UnbondingMadeAhead } from './spendRules.ts';
import { txidPrefix } from './state.ts';
import {
  buildStake,
  buildUnbonding,
  buildWithdrawFromStaking,
  OP_TRUE_SCRIPT,
  rawBlock,
  type Stake,
} from './testkit/txs.ts';

describe('PrefixSet', () => {
  const prefix = fc.integer({ min: 0, max: 0x3fffffff });

  it('answers as a Set does, through its growth, for prefixes that collide in its table too', () => {
    // Half the prefixes share their low 10 bits (a start slot of the first table) with another.
    const prefixes = fc.array(
      fc.oneof(
        prefix,
        prefix.map((p) => (p & ~0x3ff) | 7),
      ),
      { maxLength: 3000 },
    );
    fc.assert(
      fc.property(prefixes, fc.array(prefix, { maxLength: 200 }), (added, probes) => {
        const want = new Set<number>();
        const got = new PrefixSet(added.slice(0, 10));
        for (const p of added.slice(0, 10)) want.add(p);
        for (const p of added.slice(10)) {
          got.add(p);
          want.add(p);
        }
        expect(got.size).toBe(want.size);
        for (const p of [...added, ...probes]) expect(got.has(p)).toBe(want.has(p));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses what no hash prefix can be', () => {
    const s = new PrefixSet();
    for (const bad of [-1, 0x40000000, 1.5, Number.NaN]) expect(() => s.add(bad)).toThrow(RangeError);
    expect(s.size).toBe(0);
    expect(s.has(-1)).toBe(false);
  });
});

const covenants = ['ps-cov-a', 'ps-cov-b', 'ps-cov-c'].map(testKey);
const staker = testKey('ps-staker');
const fp = testKey('ps-fp');
const params: GlobalParams = parseGlobalParams(
  testParamsDoc(covenants, {
    activation_height: 100,
    staking_cap: 10_000_000,
    min_staking_amount: 10_000,
    max_staking_amount: 1_000_000,
    min_staking_time: 5,
    max_staking_time: 1000,
    unbonding_time: 7,
    unbonding_fee: 1_000,
    confirmation_depth: 3,
  }),
);
let funding = 0;
function stake(valueSat = 100_000n): Stake {
  funding++;
  return buildStake({
    version: params.versions[0]!,
    staker,
    fp,
    stakingTime: 20,
    valueSat,
    funding: { txid: funding.toString(16).padStart(64, 'b'), vout: 0, valueSat: 10_000_000n },
  });
}

/**
 * Blocks with what the prescan's carried state decides: stakes (one too small), an unbonding of
 * an earlier block's stake, a stake unbonded in its own block, a withdraw of a stake.
 */
function chain(): Array<[number, Uint8Array]> {
  const [s1, s2, s3] = [stake(), stake(), stake()];
  return [
    [120, rawBlock([s1.tx, stake(1_000n).tx, s2.tx])],
    [121, rawBlock([buildUnbonding(s1, covenants).tx, s3.tx, buildUnbonding(s3, covenants).tx])],
    [122, rawBlock([buildWithdrawFromStaking(s2)])],
  ];
}

describe('the prescan in two steps: the walk, then the verdicts (the fetch thread, then its verdicts thread)', () => {
  it('equals the prescan on one thread, block after block, whichever step makes a block’s stake verdicts, across the hand-off', () => {
    const blocks = chain();
    const tracked = new Set<number>();
    const seen = new StakesSeen();
    const want = blocks.map(([h, raw]) => preScanBlock(params, h, raw, tracked, seen));
    // Both unbondings got their script made ahead (a stake of the block before, one of the same block).
    expect(want[1]!.candidates.filter((c) => c.unbonding).map((c) => c.index)).toEqual([1, 3]);
    for (const decide of [
      [false, false, false],
      [true, true, true],
      [true, false, true],
      [false, true, false],
    ]) {
      const walk = new RangeWalk(params, []);
      const walks = blocks.map(([h, raw], i) => walk.next(h, raw, decide[i]));
      expect(walks.map((w) => w?.decided)).toEqual(decide);
      // As the fetch thread hands a batch over: packed, then structured-cloned (postMessage's algorithm).
      const handed = unpackWalks(
        structuredClone(
          packWalks(
            blocks.map(([, raw]) => raw),
            walks,
          ),
        ),
      );
      const verdicts = new RangeVerdicts(params, new StakesSeen());
      blocks.forEach(([h, raw], i) => {
        expect(handed[i]!.header).toEqual(raw.subarray(0, 80));
        expect(verdicts.next(h, handed[i]!.walked)).toEqual(want[i]);
      });
    }
  });

  it('a packed batch keeps a block without a walk in its place, and a walk whose candidates are none', () => {
    const [[, b0], [h1, b1]] = chain() as [[number, Uint8Array], [number, Uint8Array]];
    const empty = walkBlock(params, 99, b0, new Set()); // below the activation: no tag, no candidate
    expect(empty.candidates).toEqual([]);
    const w1 = walkBlock(params, h1, b1, new Set(), true);
    const out = unpackWalks(structuredClone(packWalks([b0, b0, b1], [undefined, empty, w1])));
    expect(out[0]).toBeUndefined();
    expect(out[1]).toEqual({ header: b0.subarray(0, 80), walked: empty });
    expect(out[2]!.walked).toEqual(w1);
    expect(w1.candidates.some((c) => c.stake?.kind === 'valid' && c.keys)).toBe(true);
  });

  it('a batch of prescans packed for the main thread unpacks, across a structured clone, to the same prescans', () => {
    const blocks = chain();
    const raws = blocks.map(([, raw]) => raw);
    // Block 121 without a walk (as after one that does not parse): it has no prescan either.
    const walk = new RangeWalk(params, []);
    const packed = packWalks(
      raws,
      blocks.map(([h, raw], i) => (i === 1 ? undefined : walk.next(h, raw))),
    );
    const verdicts = new RangeVerdicts(params, new StakesSeen());
    const prescans = unpackWalks(packed).map((w, i) => {
      const prescan = verdicts.next(blocks[i]![0], w?.walked);
      return prescan && { header: w!.header, prescan };
    });
    expect(prescans.map((p) => p?.prescan.candidates.length)).toEqual([3, undefined, 1]);
    expect(unpackPrescans(structuredClone(packPrescans(packed.bytes, prescans)))).toEqual(prescans);
    expect(() => packPrescans(new Uint8Array(8), prescans)).toThrow(/another buffer/);
    // The unbonding scripts made ahead go with their candidates.
    const walkAll = new RangeWalk(params, []);
    const all = packWalks(
      raws,
      blocks.map(([h, raw]) => walkAll.next(h, raw)),
    );
    const verdictsAll = new RangeVerdicts(params, new StakesSeen());
    const withUnbondings = unpackWalks(all).map((w, i) => ({
      header: w!.header,
      prescan: verdictsAll.next(blocks[i]![0], w!.walked)!,
    }));
    expect(withUnbondings[1]!.prescan.candidates.filter((c) => c.unbonding)).toHaveLength(2);
    expect(unpackPrescans(structuredClone(packPrescans(all.bytes, withUnbondings)))).toEqual(withUnbondings);
  });

  it('verdicts that fail (a defect) give no prescan from that block to the end of the range; the processor then decides them', () => {
    class Broken extends StakesSeen {
      override unbondingFor(): UnbondingMadeAhead | undefined {
        throw new Error('a defect');
      }
    }
    const [[h0, b0], [h1, b1], [h2, b2]] = chain() as [
      [number, Uint8Array],
      [number, Uint8Array],
      [number, Uint8Array],
    ];
    const walk = new RangeWalk(params, []);
    const verdicts = new RangeVerdicts(params, new Broken());
    expect(verdicts.next(h0, walk.next(h0, b0))).toBeDefined(); // no unbonding in it
    expect(verdicts.next(h1, walk.next(h1, b1))).toBeUndefined();
    const w2 = walk.next(h2, b2);
    expect(w2).toBeDefined(); // the walk goes on
    expect(verdicts.next(h2, w2)).toBeUndefined();
    // A block without a walk gets no verdicts either.
    expect(new RangeVerdicts(params, new StakesSeen()).next(h0, undefined)).toBeUndefined();
  });

  it('the walk adds every tagged tx to the filter before it goes on, valid or not, so a spend later in the block is a candidate', () => {
    const tooSmall = stake(1_000n);
    const spend = buildWithdrawFromStaking(tooSmall, OP_TRUE_SCRIPT, 100n);
    const tracked = new Set<number>();
    const w = walkBlock(params, 120, rawBlock([tooSmall.tx, spend]), tracked);
    expect([...tracked]).toEqual([txidPrefix(tooSmall.txid), txidPrefix(spend.getId())]);
    expect(w.candidates.map((c) => [c.index, c.tagged, c.spends, c.txid])).toEqual([
      [1, true, false, tooSmall.txid],
      [2, false, true, spend.getId()],
    ]);
    expect(w.decided).toBe(false);
    expect(w.candidates.every((c) => c.stake === undefined)).toBe(true);
  });
});
