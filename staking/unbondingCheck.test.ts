import { Transaction } from 'bitcoinjs-lib';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isCodedError, toHex } from '../common/index.ts';
import { type GlobalParams, parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import {
  assertStakingHeightUnbondable,
  assertUnbondingRequest,
  buildStakingInfo,
  buildUnbondingTx,
  buildV0OpReturn,
  expectUnbonding,
  parseStakingTx,
  type StakingInfo,
  type StakingOutputFacts,
  type StakingTxPlace,
  UnbondingCheck,
  type UnbondingCheckOptions,
  unbondingSighash,
  unbondingValueOf,
} from './index.ts';
import * as unbonding from './unbonding.ts';

// Counts the curve's verifications, to show the per-version memo at work.
vi.mock('./unbonding.ts', async (importOriginal) => {
  const m = await importOriginal<typeof import('./unbonding.ts')>();
  return { ...m, verifySchnorr: vi.fn(m.verifySchnorr) };
});

const covenants = ['uc-c1', 'uc-c2', 'uc-c3'].map(testKey);
const staker = testKey('uc-staker');
const fp = testKey('uc-fp');
const params: GlobalParams = parseGlobalParams(testParamsDoc(covenants, { confirmation_depth: 3 }));
const v0 = params.versions[0]!;

/** A staking tx with any value and time (the ranges are the check's business, not the builder's). */
function stake(valueSat = 50_000n, stakingTime = 100): Transaction {
  const keys = {
    stakerKey: staker.xOnly,
    fpKeys: [fp.xOnly],
    covenantKeys: v0.covenantKeys,
    covenantQuorum: v0.covenantQuorum,
  };
  const tx = new Transaction();
  tx.version = 2;
  tx.addInput(new Uint8Array(32).fill(3), 1);
  tx.addOutput(buildV0OpReturn({ tag: v0.tag, stakerKey: staker.xOnly, fpKey: fp.xOnly, stakingTime }), 0n);
  tx.addOutput(buildStakingInfo(keys, stakingTime).pkScript, valueSat);
  return tx;
}

const stakingTx = stake();
const data = parseStakingTx(stakingTx, v0);
const exp = expectUnbonding(stakingTx.getId(), data, v0);
const unbondingTx = buildUnbondingTx(exp);
const stakerSignature = staker.sign(unbondingSighash(unbondingTx, exp));
const good = { stakingTx, unbondingTx, stakerSignature };
const deep: StakingTxPlace = { height: 150, confirmations: 3 };

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    if (isCodedError(e)) return e.code;
    throw e;
  }
}
const run = (opts: UnbondingCheckOptions, place: StakingTxPlace = deep, req = good) =>
  codeOf(() => assertUnbondingRequest(req, params, place, opts));

describe('assertUnbondingRequest, the one full unbonding check', () => {
  it('accepts the exact request and returns what it was checked under', () => {
    const c = assertUnbondingRequest(good, params, deep);
    expect(c.stakingTxid).toBe(stakingTx.getId());
    expect(c.params).toBe(v0);
    expect(c.data.stakingOutputIndex).toBe(1);
    expect(c.exp.unbondingValueSat).toBe(exp.unbondingValueSat);
    expect(toHex(c.sighash)).toBe(toHex(unbondingSighash(unbondingTx, exp)));
  });

  it('checks the depth only when given confirmations', () => {
    expect(run({}, { height: 150, confirmations: 2 })).toBe('STAKING_NOT_ENOUGH_CONFIRMATIONS');
    expect(run({}, { height: 150, confirmations: 'not-checked' })).toBe('OK');
  });

  it('refuses a staking height with no params version, and above the cutoff', () => {
    expect(run({}, { height: 99, confirmations: 3 })).toBe('STAKING_NO_PARAMS_FOR_HEIGHT');
    expect(run({ maxStakingTxHeight: 149 })).toBe('STAKING_TX_ABOVE_MAX_HEIGHT');
    expect(run({ maxStakingTxHeight: 150 })).toBe('OK');
    expect(run({ maxStakingTxHeight: 0 })).toBe('OK');
  });

  it('checks each claim it is given: covenant key (all 33 bytes), staking script, unbonding txid', () => {
    const listed = covenants[1]!.compressedHex;
    const pk = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
    expect(run({ covenantPk: pk(listed) })).toBe('OK');
    const otherParity = `${listed.startsWith('02') ? '03' : '02'}${listed.slice(2)}`;
    expect(run({ covenantPk: pk(otherParity) })).toBe('STAKING_COVENANT_KEY_NOT_IN_PARAMS');
    expect(run({ covenantPk: pk(testKey('uc-stranger').compressedHex) })).toBe(
      'STAKING_COVENANT_KEY_NOT_IN_PARAMS',
    );
    expect(run({ stakingOutputPkScript: data.stakingInfo.pkScript })).toBe('OK');
    expect(run({ stakingOutputPkScript: exp.unbondingInfo.pkScript })).toBe('STAKING_OUTPUT_SCRIPT_MISMATCH');
    expect(run({ unbondingTxid: unbondingTx.getId() })).toBe('OK');
    let e: unknown;
    try {
      assertUnbondingRequest(good, params, deep, { unbondingTxid: '00'.repeat(32) });
    } catch (x) {
      e = x;
    }
    expect(e).toMatchObject({
      code: 'STAKING_UNBONDING_TXID_MISMATCH',
      details: { txid: unbondingTx.getId() },
    });
  });

  it('says which version it chose, before any later rule refuses', () => {
    const seen: number[] = [];
    expect(run({ onParams: (v) => seen.push(v.version) }, { height: 150, confirmations: 1 })).toBe(
      'STAKING_NOT_ENOUGH_CONFIRMATIONS',
    );
    expect(seen).toEqual([0]);
  });

  it('refuses a spent tx that is no staking tx, with the parse code in details', () => {
    const notStaking = new Transaction();
    notStaking.addInput(new Uint8Array(32).fill(5), 0);
    notStaking.addOutput(Uint8Array.of(0x51), 1_000n);
    let e: unknown;
    try {
      assertUnbondingRequest({ ...good, stakingTx: notStaking }, params, deep);
    } catch (x) {
      e = x;
    }
    expect(e).toMatchObject({
      code: 'STAKING_NOT_A_STAKING_TX',
      details: { code: 'STAKING_NOT_ENOUGH_OUTPUTS' },
    });
  });

  it('refuses a stake outside the ranges before the fee cover, and the exact tx before the signature', () => {
    // 500 sat: below the range and below the fee; the range is what refuses it.
    const tooSmall = stake(500n);
    const e2 = expectUnbonding(tooSmall.getId(), { ...parseStakingTx(tooSmall, v0), valueSat: 2_000n }, v0);
    const tx2 = buildUnbondingTx(e2);
    expect(run({}, deep, { stakingTx: tooSmall, unbondingTx: tx2, stakerSignature })).toBe(
      'STAKING_VALUE_OUT_OF_RANGE',
    );
    const tooShort = stake(50_000n, 4);
    const e3 = expectUnbonding(tooShort.getId(), parseStakingTx(tooShort, v0), v0);
    const tx3 = buildUnbondingTx(e3);
    expect(run({}, deep, { stakingTx: tooShort, unbondingTx: tx3, stakerSignature })).toBe(
      'STAKING_TIME_OUT_OF_RANGE',
    );
    // The outpoint is checked before the ranges: an unbonding tx of another stake is the wrong input.
    expect(run({}, deep, { ...good, stakingTx: tooShort })).toBe('STAKING_UNBONDING_WRONG_INPUT');
    const changed = unbondingTx.clone();
    changed.outs[0]!.value -= 1n;
    expect(run({}, deep, { ...good, unbondingTx: changed })).toBe('STAKING_UNBONDING_WRONG_VALUE');
    expect(
      run({}, deep, {
        ...good,
        stakerSignature: testKey('uc-mallory').sign(unbondingSighash(unbondingTx, exp)),
      }),
    ).toBe('STAKING_UNBONDING_STAKER_SIGNATURE');
  });

  it('verifies the staker signature once per version, however often it is asked', () => {
    const verify = vi.mocked(unbonding.verifySchnorr);
    verify.mockClear();
    const c = new UnbondingCheck(good);
    expect(c.stakerSignedUnder(v0)).toBe(true);
    expect(c.stakerSignedUnder(v0)).toBe(true);
    c.assert(params, deep);
    expect(verify).toHaveBeenCalledTimes(1);
  });
});

describe('assertStakingHeightUnbondable (the labs cutoff)', () => {
  it('refuses exactly the heights above a set cutoff', () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(1_000_000), (height, max) => {
        const refused = codeOf(() => assertStakingHeightUnbondable(height, max)) !== 'OK';
        expect(refused).toBe(max > 0 && height > max);
        expect(codeOf(() => assertStakingHeightUnbondable(height, undefined))).toBe('OK');
      }),
    );
  });
});

describe('the fee-cover rule and the unbonding expectation', () => {
  it('unbondingValueOf: staking value − fee when above 0, else undefined; expectUnbonding refuses the same', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10_000n }),
        fc.bigInt({ min: 0n, max: 10_000n }),
        (value, fee) => {
          const v = unbondingValueOf(value, { unbondingFeeSat: fee });
          expect(v).toBe(value - fee > 0n ? value - fee : undefined);
          const code = codeOf(() =>
            expectUnbonding('00'.repeat(32), { ...data, valueSat: value }, { ...v0, unbondingFeeSat: fee }),
          );
          expect(code).toBe(v === undefined ? 'STAKING_UNBONDING_VALUE_TOO_LOW' : 'OK');
        },
      ),
    );
  });

  it('builds the taproot parts only when read, and the same bytes as from a parsed staking tx', () => {
    let builds = 0;
    const facts: StakingOutputFacts = {
      stakerKey: data.stakerKey,
      fpKey: data.fpKey,
      stakingTime: data.stakingTime,
      valueSat: data.valueSat,
      stakingOutputIndex: data.stakingOutputIndex,
      get stakingInfo(): StakingInfo {
        builds++;
        return data.stakingInfo;
      },
    };
    const lazy = expectUnbonding(stakingTx.getId(), facts, v0);
    expect(toHex(lazy.unbondingLeafScript)).toBe(toHex(data.stakingInfo.unbonding.script));
    expect(lazy.unbondingValueSat).toBe(exp.unbondingValueSat);
    expect(builds).toBe(0);
    expect(toHex(lazy.stakingPkScript)).toBe(toHex(exp.stakingPkScript));
    expect(toHex(lazy.unbondingLeafHash)).toBe(toHex(exp.unbondingLeafHash));
    expect(toHex(lazy.unbondingInfo.pkScript)).toBe(toHex(exp.unbondingInfo.pkScript));
    expect(builds).toBeGreaterThan(0);
  });
});
