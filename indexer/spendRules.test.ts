import type { Transaction } from 'bitcoinjs-lib';
import { describe, expect, it, vi } from 'vitest';
import { parseXOnlyKey, toHex, xOnlyTweakAdd } from '../common/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import { buildUnbondingInfo } from '../staking/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { preScanBlock } from './prescan.ts';
import { processBlock } from './processor.ts';
import { StakesSeen, type UnbondingMadeAhead, unbondingPkScriptOf } from './spendRules.ts';
import { MemoryState, txidPrefix } from './state.ts';
import { buildStake, buildUnbonding, buildWithdrawFromStaking, rawBlock, type Stake } from './testkit/txs.ts';

// Every EC tweak counted: an unbonding whose script was made ahead makes none.
vi.mock('../common/index.ts', async (importOriginal) => {
  const m = await importOriginal<typeof import('../common/index.ts')>();
  return { ...m, xOnlyTweakAdd: vi.fn(m.xOnlyTweakAdd), parseXOnlyKey: vi.fn(m.parseXOnlyKey) };
});

const covenants = ['sr-cov-a', 'sr-cov-b', 'sr-cov-c'].map(testKey);
const staker = testKey('sr-staker');
const fp = testKey('sr-fp');
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
const v0 = params.versions[0]!;

let funding = 0;
function stake(): Stake {
  funding++;
  return buildStake({
    version: v0,
    staker,
    fp,
    stakingTime: 20,
    valueSat: 100_000n,
    funding: { txid: funding.toString(16).padStart(64, 'a'), vout: 0, valueSat: 10_000_000n },
  });
}

/** Processes `txs` at `height` through a prescan (as the fetch thread makes it), applying the writes. */
function decide(state: MemoryState, seen: StakesSeen | undefined, height: number, txs: Transaction[]) {
  const raw = rawBlock(txs);
  const prescan = preScanBlock(params, height, raw, new Set(state.prefixes), seen);
  const r = processBlock(params, { height, hash: `h${height}`, time: 1, raw, prescan }, state);
  state.apply(r.writes);
  return { r, prescan };
}

describe('unbonding output scripts made ahead', () => {
  it('the script from the staking tree’s slashing leaf is buildUnbondingInfo’s', () => {
    const s = stake();
    const keys = { stakerKey: staker.xOnly, fpKeys: [fp.xOnly], covenantKeys: v0.covenantKeys };
    const full = buildUnbondingInfo({ ...keys, covenantQuorum: v0.covenantQuorum }, v0.unbondingTime);
    const ahead = unbondingPkScriptOf(staker.xOnly, s.data.stakingInfo.slashing.leafHash, v0);
    expect(toHex(ahead)).toBe(toHex(full.pkScript));
  });

  it('the prescan makes it for a spend of a stake it saw; the unbonding is then decided with no EC tweak, as without it', () => {
    const s = stake();
    const u = buildUnbonding(s, covenants);
    const withSeen = new MemoryState();
    const without = new MemoryState();
    const seen = new StakesSeen();
    decide(withSeen, seen, 120, [s.tx]);
    decide(without, undefined, 120, [s.tx]);
    expect(seen.size).toBe(1);

    const tweaks = vi.mocked(xOnlyTweakAdd);
    // On the fetch thread: the prescan makes the one tweak, for the candidate that spends the stake.
    const raw = rawBlock([u.tx]);
    tweaks.mockClear();
    const prescan = preScanBlock(params, 123, raw, new Set(withSeen.prefixes), seen);
    expect(tweaks).toHaveBeenCalledTimes(1);
    expect(prescan.candidates[0]?.unbonding).toMatchObject({
      stakingTxid: s.txid,
      height: 120,
      paramsVersion: 0,
    });
    expect(seen.size).toBe(0); // a staking output is spent once
    // On the main thread: none.
    tweaks.mockClear();
    const a = processBlock(params, { height: 123, hash: 'h123', time: 1, raw, prescan }, withSeen);
    withSeen.apply(a.writes);
    expect(tweaks).not.toHaveBeenCalled();
    const b = decide(without, undefined, 123, [u.tx]).r;
    expect(tweaks).toHaveBeenCalledTimes(1);
    expect(a.events).toEqual(b.events);
    expect(a.events.map((e) => e.event_type)).toEqual([2]);
    expect([...withSeen.delegations.values()]).toEqual([...without.delegations.values()]);
  });

  it('is not made for a withdraw through the timelock leaf, nor for an unbonding with another sequence', () => {
    const s = stake();
    const seen = new StakesSeen();
    decide(new MemoryState(), seen, 120, [s.tx]);
    const withdraw = buildWithdrawFromStaking(s);
    const badSequence = buildUnbonding(s, covenants, { sequence: 0xfffffffe }).tx;
    for (const tx of [withdraw, badSequence]) {
      const prescan = preScanBlock(params, 140, rawBlock([tx]), new Set([txidPrefix(s.txid)]), seen);
      expect(prescan.candidates).toHaveLength(1);
      expect(prescan.candidates[0]!.unbonding).toBeUndefined();
    }
    expect(seen.size).toBe(1);
  });

  it('is what the unbonding is checked against (a wrong one rejects it), only for the same stake, height and params', () => {
    const s = stake();
    const u = buildUnbonding(s, covenants);
    const wrong = Uint8Array.of(0x51, 0x20, ...new Uint8Array(32).fill(9));
    const withScript = (state: MemoryState, ahead: Omit<UnbondingMadeAhead, 'pkScript'>) => {
      const raw = rawBlock([u.tx]);
      const prescan = preScanBlock(params, 123, raw, new Set(state.prefixes));
      const candidates = prescan.candidates.map((c) => ({ ...c, unbonding: { pkScript: wrong, ...ahead } }));
      return processBlock(
        params,
        { height: 123, hash: 'x', time: 1, raw, prescan: { ...prescan, candidates } },
        state,
      );
    };
    const stakeAt120 = () => {
      const st = new MemoryState();
      decide(st, undefined, 120, [s.tx]);
      return st;
    };

    const r = withScript(stakeAt120(), { stakingTxid: s.txid, height: 120, paramsVersion: 0 });
    expect(r.events).toEqual([]);
    expect(r.stats.rejections).toEqual([
      {
        txType: 'confirmed_unbonding_transactions',
        reason: 'STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT',
        txid: u.txid,
      },
    ]);
    // Made for another height (a re-org re-mined the stake elsewhere), params or stake: not used.
    for (const other of [
      { stakingTxid: s.txid, height: 119, paramsVersion: 0 },
      { stakingTxid: s.txid, height: 120, paramsVersion: 1 },
      { stakingTxid: '00'.repeat(32), height: 120, paramsVersion: 0 },
    ]) {
      expect(withScript(stakeAt120(), other).events.map((e) => e.event_type)).toEqual([2]);
    }
  });

  it('keeps what it needs when the block’s bytes are handed to another thread', () => {
    const s = stake();
    const seen = new StakesSeen();
    const raw = rawBlock([s.tx]);
    preScanBlock(params, 120, raw, new Set(), seen);
    structuredClone(raw.buffer, { transfer: [raw.buffer as ArrayBuffer] }); // as the fetch thread posts it
    expect(raw.byteLength).toBe(0);
    preScanBlock(params, 121, rawBlock([stake().tx, stake().tx]), new Set()); // more verdicts since
    const keys = { stakerKey: staker.xOnly, fpKeys: [fp.xOnly], covenantKeys: v0.covenantKeys };
    const full = buildUnbondingInfo({ ...keys, covenantQuorum: v0.covenantQuorum }, v0.unbondingTime);
    const ahead = seen.unbondingFor(s.txid, s.data.stakingOutputIndex);
    expect(toHex(ahead!.pkScript)).toBe(toHex(full.pkScript));
  });

  it('keeps at most its limit, the oldest going first, and only for the staking output', () => {
    const seen = new StakesSeen(2);
    const [a, b, c] = [stake(), stake(), stake()];
    for (const x of [a, b, c]) seen.remember(x.txid, x.data, 120, v0);
    expect(seen.size).toBe(2);
    expect(seen.unbondingFor(a.txid, 0)).toBeUndefined();
    expect(seen.unbondingFor(b.txid, b.data.stakingOutputIndex + 1)).toBeUndefined();
    expect(seen.unbondingFor(b.txid, b.data.stakingOutputIndex)?.stakingTxid).toBe(b.txid);
  });
});

describe("the spends' staker keys", () => {
  it('a stake accepted here is unbonded without its staker key parsed (checked on the curve) again', () => {
    // A staker of its own: no earlier test's spend has cached its key.
    const own = testKey('sr-staker-own');
    const s = buildStake({
      version: v0,
      staker: own,
      fp,
      stakingTime: 20,
      valueSat: 100_000n,
      funding: { txid: 'f'.repeat(64), vout: 0, valueSat: 10_000_000n },
    });
    const u = buildUnbonding(s, covenants);
    const state = new MemoryState();
    decide(state, undefined, 120, [s.tx]);
    const parses = vi.mocked(parseXOnlyKey);
    parses.mockClear();
    const r = decide(state, undefined, 123, [u.tx]).r;
    expect(r.events.map((e) => e.event_type)).toEqual([2]);
    expect(parses.mock.calls.map((c) => c[0])).not.toContain(toHex(own.xOnly));
  });

  it('a stored delegation whose staker key no verdict gave is still parsed, and refused when it is no key', () => {
    const s = stake();
    const state = new MemoryState();
    decide(state, undefined, 120, [s.tx]);
    const d = state.delegations.get(s.txid)!;
    // As a damaged store would hold it: 32 bytes that are no x coordinate on the curve.
    const notOnCurve = 'ff'.repeat(32);
    state.delegations.set(s.txid, Object.assign({}, d, { stakerKeyHex: notOnCurve }));
    const parses = vi.mocked(parseXOnlyKey);
    parses.mockClear();
    const r = decide(state, undefined, 123, [buildUnbonding(s, covenants).tx]).r;
    expect(parses.mock.calls.map((c) => c[0])).toContain(notOnCurve);
    expect(r.stats.failures).toBe(1);
    expect(r.events).toEqual([]);
  });
});
