import { Block, Transaction } from 'bitcoinjs-lib';
import { describe, expect, it, vi } from 'vitest';
import { toHex, xOnlyTweakAdd } from '../common/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import { buildUnbondingInfo } from '../staking/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { preScanBlock } from './prescan.ts';
import { processBlock } from './processor.ts';
import { UnbondingScripts, unbondingPkScriptOf } from './spendRules.ts';
import { MemoryState } from './state.ts';
import { buildStake, buildUnbonding, type Stake } from './testkit/txs.ts';

// Every EC tweak counted: an unbonding whose script was made ahead makes none.
vi.mock('../common/index.ts', async (importOriginal) => {
  const m = await importOriginal<typeof import('../common/index.ts')>();
  return { ...m, xOnlyTweakAdd: vi.fn(m.xOnlyTweakAdd) };
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

function rawBlock(txs: Transaction[]): Uint8Array {
  const b = new Block();
  b.version = 0x20000000;
  b.prevHash = new Uint8Array(32).fill(7);
  b.merkleRoot = new Uint8Array(32);
  b.timestamp = 1_700_000_123;
  b.bits = 0x207fffff;
  b.nonce = 0;
  const coinbase = new Transaction();
  coinbase.addInput(new Uint8Array(32), 0xffffffff);
  coinbase.addOutput(Uint8Array.of(0x51), 5_000_000_000n);
  b.transactions = [coinbase, ...txs];
  return b.toBuffer();
}

/** Processes `txs` at `height` through a prescan (as the fetch thread makes it), applying the writes. */
function decide(
  state: MemoryState,
  scripts: UnbondingScripts | undefined,
  height: number,
  txs: Transaction[],
) {
  const raw = rawBlock(txs);
  const prescan = preScanBlock(params, height, raw, new Set(state.prefixes));
  const r = processBlock(params, { height, hash: `h${height}`, time: 1, raw, prescan }, state, scripts);
  state.apply(r.writes);
  return r;
}

describe('unbonding output scripts made ahead', () => {
  it('the script from the staking tree’s slashing leaf is buildUnbondingInfo’s', () => {
    const s = stake();
    const keys = { stakerKey: staker.xOnly, fpKeys: [fp.xOnly], covenantKeys: v0.covenantKeys };
    const full = buildUnbondingInfo({ ...keys, covenantQuorum: v0.covenantQuorum }, v0.unbondingTime);
    const ahead = unbondingPkScriptOf(staker.xOnly, s.data.stakingInfo.slashing.leafHash, v0);
    expect(toHex(ahead)).toBe(toHex(full.pkScript));
  });

  it('the prescan’s verdict carries it, and the unbonding is then decided with no EC tweak, as without it', () => {
    const s = stake();
    const u = buildUnbonding(s, covenants);
    const withScripts = new MemoryState();
    const without = new MemoryState();
    const scripts = new UnbondingScripts();
    decide(withScripts, scripts, 120, [s.tx]);
    decide(without, undefined, 120, [s.tx]);
    expect(scripts.size).toBe(1);

    const tweaks = vi.mocked(xOnlyTweakAdd);
    tweaks.mockClear();
    const a = decide(withScripts, scripts, 123, [u.tx]);
    expect(tweaks).not.toHaveBeenCalled();
    const b = decide(without, undefined, 123, [u.tx]);
    expect(tweaks).toHaveBeenCalledTimes(1);
    expect(a.events).toEqual(b.events);
    expect(a.events.map((e) => e.event_type)).toEqual([2]);
    expect([...withScripts.delegations.values()]).toEqual([...without.delegations.values()]);
    expect(scripts.size).toBe(0); // taken: a staking output is spent once
  });

  it('is what the unbonding is checked against (a wrong one rejects it), only for the same height and params', () => {
    const s = stake();
    const u = buildUnbonding(s, covenants);
    const wrong = Uint8Array.of(0x51, 0x20, ...new Uint8Array(32).fill(9));

    const misled = new MemoryState();
    const bad = new UnbondingScripts();
    decide(misled, undefined, 120, [s.tx]);
    bad.remember(s.txid, 120, v0, wrong);
    const r = decide(misled, bad, 123, [u.tx]);
    expect(r.events).toEqual([]);
    expect(r.stats.rejections).toEqual([
      {
        txType: 'confirmed_unbonding_transactions',
        reason: 'STAKING_UNBONDING_WRONG_OUTPUT_SCRIPT',
        txid: u.txid,
      },
    ]);

    // Remembered for another height (a re-org re-mined the stake elsewhere): not used.
    const elsewhere = new MemoryState();
    const other = new UnbondingScripts();
    decide(elsewhere, undefined, 120, [s.tx]);
    other.remember(s.txid, 119, v0, wrong);
    expect(decide(elsewhere, other, 123, [u.tx]).events.map((e) => e.event_type)).toEqual([2]);
  });

  it('keeps at most its limit, the oldest going first', () => {
    const scripts = new UnbondingScripts(2);
    const script = Uint8Array.of(1);
    scripts.remember('a', 1, v0, script);
    scripts.remember('b', 1, v0, script);
    scripts.remember('c', 1, v0, script);
    expect(scripts.size).toBe(2);
    expect(scripts.take('a', 1, v0)).toBeUndefined();
    expect(scripts.take('c', 1, { ...v0 })).toBeUndefined(); // other params: not used
    expect(scripts.take('b', 1, v0)).toBe(script);
  });
});
