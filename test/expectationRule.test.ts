import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../common/index.ts';
import { expectationOf } from '../indexer/spendRules.ts';
import type { Delegation as IndexerDelegation } from '../indexer/state.ts';
import { buildStake } from '../indexer/testkit/txs.ts';
import {
  buildUnbondingTx,
  expectUnbonding,
  type UnbondingExpectation,
  unbondingSighash,
  unbondingValueOf,
} from '../staking/index.ts';
import { withStakingValue } from './expectationCopy.ts';
import {
  ACTIVATION,
  apiOutcome,
  type Case,
  DEPTH,
  fp,
  PARAMS,
  pipelineOutcome,
  signerOutcome,
  stakers,
  V0,
} from './unbondingKit.ts';

/**
 * The fee-cover rule and the unbonding expectation, one place each (staking/'s `unbondingValueOf`
 * and `expectUnbonding`): the indexer, recognising an unbonding of a stored delegation, and the
 * API, the pipeline and the signer, checking a request, agree on which stakes can be unbonded, and
 * on the exact unbonding output they expect.
 */

interface Stake {
  readonly staker: number;
  readonly valueSat: bigint;
  readonly stakingTime: number;
  readonly height: number;
}

const fee = V0.unbondingFeeSat;
const stakesDrawn: fc.Arbitrary<Stake> = fc.record({
  staker: fc.nat(stakers.length - 1),
  // Around the fee (the params of the kit allow a stake that small), and well above it.
  valueSat: fc.oneof(fc.bigInt({ min: 1n, max: fee + 5n }), fc.bigInt({ min: fee, max: 5_000_000n })),
  stakingTime: fc.integer({ min: V0.minStakingTime, max: V0.maxStakingTime }),
  height: fc.integer({ min: ACTIVATION, max: ACTIVATION + 1_000 }),
});

function built(s: Stake): { readonly c: Case; readonly d: IndexerDelegation } {
  const staker = stakers[s.staker]!;
  const stake = buildStake({
    version: V0,
    staker,
    fp,
    stakingTime: s.stakingTime,
    valueSat: s.valueSat,
    funding: { txid: 'cd'.repeat(32), vout: 0, valueSat: s.valueSat + 100_000n },
  });
  // A stake that cannot pay the fee has no expectation: a 1-sat output stands in, so that every
  // service reaches the fee-cover rule with a tx the staker signed.
  const covered = unbondingValueOf(s.valueSat, V0) !== undefined;
  const exp: UnbondingExpectation = covered
    ? expectUnbonding(stake.txid, stake.data, V0)
    : withStakingValue(expectUnbonding(stake.txid, { ...stake.data, valueSat: fee + 1n }, V0), s.valueSat);
  const tx = buildUnbondingTx(exp);
  const c: Case = {
    stakingTx: stake.tx,
    stakingTxid: stake.txid,
    stakingOutputIndex: stake.data.stakingOutputIndex,
    stakingScriptHex: toHex(stake.stakingInfo.pkScript),
    valueSat: s.valueSat,
    stakingTime: s.stakingTime,
    height: s.height,
    confirmations: DEPTH,
    unbondingTx: tx,
    signatureHex: toHex(staker.sign(unbondingSighash(tx, exp))),
  };
  const d: IndexerDelegation = {
    stakingTxid: stake.txid,
    stakingOutputIndex: stake.data.stakingOutputIndex,
    valueSat: Number(s.valueSat),
    stakerKeyHex: toHex(staker.xOnly),
    fpKeyHex: toHex(fp.xOnly),
    stakingTime: s.stakingTime,
    inclusionHeight: s.height,
    paramsVersion: V0.version,
    isOverflow: false,
    state: 'active',
  };
  return { c, d };
}

/** Every byte of an expectation a service compares, in one comparable record. */
function bytesOf(e: UnbondingExpectation): Record<string, string> {
  return {
    stakingTxid: e.stakingTxid,
    stakingOutputIndex: String(e.stakingOutputIndex),
    stakingValueSat: String(e.stakingValueSat),
    stakingPkScript: toHex(e.stakingPkScript),
    unbondingLeafScript: toHex(e.unbondingLeafScript),
    unbondingLeafHash: toHex(e.unbondingLeafHash),
    unbondingPkScript: toHex(e.unbondingInfo.pkScript),
    unbondingValueSat: String(e.unbondingValueSat),
    unbondingFeeSat: String(e.unbondingFeeSat),
  };
}

describe('the fee-cover rule: the indexer, the API, the pipeline and the signer agree', () => {
  it('on which drawn stakes can be unbonded, each refusal mapped to STAKING_UNBONDING_VALUE_TOO_LOW', async () => {
    await fc.assert(
      fc.asyncProperty(stakesDrawn, async (s) => {
        const { c, d } = built(s);
        const covered = unbondingValueOf(s.valueSat, V0) !== undefined;
        expect(covered).toBe(s.valueSat > fee);
        expect(expectationOf(d, PARAMS) !== undefined).toBe(covered);
        const verdicts = (await Promise.all([apiOutcome(c), pipelineOutcome(c), signerOutcome(c)])).map(
          (o) => o.verdict,
        );
        expect(verdicts).toEqual(Array(3).fill(covered ? 'OK' : 'STAKING_UNBONDING_VALUE_TOO_LOW'));
      }),
      { numRuns: 60 },
    );
  });
});

describe('the unbonding expectation: every service builds the same one with expectUnbonding', () => {
  it('the indexer (from a stored delegation), the pipeline and the signer (from the staking tx) agree byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        stakesDrawn.filter((s) => s.valueSat > fee),
        async (s) => {
          const { c, d } = built(s);
          const indexer = expectationOf(d, PARAMS)!.exp;
          const [pipeline, signer] = await Promise.all([pipelineOutcome(c), signerOutcome(c)]);
          expect(pipeline.verdict).toBe('OK');
          expect(signer.verdict).toBe('OK');
          expect(bytesOf(pipeline.exp!)).toEqual(bytesOf(indexer));
          expect(bytesOf(signer.exp!)).toEqual(bytesOf(indexer));
          // And the unbonding tx the services accepted is the one the indexer recognises as such.
          expect(toHex(c.unbondingTx.outs[0]!.script)).toBe(toHex(indexer.unbondingInfo.pkScript));
          expect(c.unbondingTx.outs[0]!.value).toBe(indexer.unbondingValueSat);
        },
      ),
      { numRuns: 40 },
    );
  });
});
