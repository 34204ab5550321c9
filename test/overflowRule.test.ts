import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { processBlock } from '../indexer/processor.ts';
import { MemoryState } from '../indexer/state.ts';
import { buildStake } from '../indexer/testkit/txs.ts';
import { type GlobalParams, isOverflow, parseGlobalParams } from '../params/index.ts';
import { p2wpkhAddress } from '../web/testkit.ts';
import { checkStake } from '../web/validate.ts';
import { testKey, testParamsDoc } from './keys.ts';

/**
 * The overflow rule, one place (params/'s `isOverflow`): the indexer, deciding a confirmed stake,
 * and the dashboard, warning before a stake is signed, agree on when a stake is overflow, for
 * drawn caps (by height or by value), heights and TVLs.
 */

const covenants = ['or-cov-a', 'or-cov-b', 'or-cov-c'].map(testKey);
const staker = testKey('or-staker');
const fp = testKey('or-fp');
const ACTIVATION = 100;
const VALUE = 2_000_000n;

interface Draw {
  readonly capHeight: number;
  readonly capSat: bigint;
  readonly tvlSat: bigint;
  readonly height: number;
}

const drawn: fc.Arbitrary<Draw> = fc.record({
  // Half the draws a height cap, half a value cap (cap_height 0).
  capHeight: fc.oneof(fc.constant(0), fc.integer({ min: ACTIVATION, max: ACTIVATION + 50 })),
  capSat: fc.bigInt({ min: 5_000_000n, max: 100_000_000n }),
  tvlSat: fc.bigInt({ min: 0n, max: 120_000_000n }),
  height: fc.integer({ min: ACTIVATION + 1, max: ACTIVATION + 100 }),
});

function paramsOf(d: Draw): GlobalParams {
  return parseGlobalParams(
    testParamsDoc(covenants, {
      activation_height: ACTIVATION,
      // The reference format: a height cap has staking_cap 0, a value cap has cap_height 0.
      cap_height: d.capHeight,
      staking_cap: d.capHeight !== 0 ? 0 : Number(d.capSat),
      min_staking_amount: 10_000,
      max_staking_amount: 5_000_000,
    }),
  );
}

/** The indexer's decision: is_overflow of the active event of one stake confirmed at `height`. */
function indexerSays(params: GlobalParams, d: Draw): boolean {
  const v = params.versions[0]!;
  const s = buildStake({
    version: v,
    staker,
    fp,
    stakingTime: 100,
    valueSat: VALUE,
    funding: { txid: 'ef'.repeat(32), vout: 0, valueSat: VALUE + 100_000n },
  });
  const state = new MemoryState();
  state.tvl = Number(d.tvlSat);
  const r = processBlock(params, { height: d.height, hash: '00'.repeat(32), time: 0, txs: [s.tx] }, state);
  const active = r.events.find((e) => e.event_type === 1);
  if (active?.event_type !== 1) throw new Error('the stake was not accepted');
  return active.is_overflow;
}

/** The dashboard's warning for a stake that would confirm at `height` with `tvlSat` staked before it. */
function dashboardSays(params: GlobalParams, d: Draw): boolean {
  const r = checkStake({
    params,
    tipHeight: d.height - 1,
    amountText: '0.02',
    timeText: '100',
    feeRateText: '2',
    stakedSat: d.tvlSat,
    apiNetwork: 'regtest',
    walletAddress: p2wpkhAddress(staker),
    finalityProviderPkHex: '9c9a0b13cad3d9be2a2b1f4aac1c9c11e1e3e6ef0a8cbf8c0b9b5a2c3f0a1d2e',
  });
  return r.problems.some((p) => p.code === 'CAP_FULL');
}

describe('the overflow rule: the indexer and the dashboard agree', () => {
  it('on every drawn cap, height and TVL', () => {
    fc.assert(
      fc.property(drawn, (d) => {
        const params = paramsOf(d);
        const rule = isOverflow(params.versions[0]!, d.height, d.tvlSat);
        expect(indexerSays(params, d)).toBe(rule);
        expect(dashboardSays(params, d)).toBe(rule);
      }),
      { numRuns: 80 },
    );
  });

  it('draws both answers under both kinds of cap (the property is not vacuous)', () => {
    const seen = new Set(
      fc
        .sample(drawn, { numRuns: 2_000, seed: 8 })
        .map(
          (d) =>
            `${d.capHeight !== 0 ? 'height' : 'value'}:${isOverflow(paramsOf(d).versions[0]!, d.height, d.tvlSat)}`,
        ),
    );
    expect([...seen].sort()).toEqual(['height:false', 'height:true', 'value:false', 'value:true']);
  });
});
