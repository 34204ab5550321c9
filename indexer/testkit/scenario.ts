import type { Transaction } from 'bitcoinjs-lib';
import type { ParamsVersion } from '../../params/index.ts';
import { testKey, testParamsDoc } from '../../test/keys.ts';
import type { ChainKit } from './chain.ts';
import {
  buildStake,
  buildUnbonding,
  buildWithdrawFromStaking,
  buildWithdrawFromUnbonding,
  type Stake,
  type Unbonding,
} from './txs.ts';

export const SCENARIO_COVENANTS = ['sc-cov-a', 'sc-cov-b', 'sc-cov-c'].map(testKey);

/** The params the crash and broker-fault runs index the busy chain under. */
export const SCENARIO_PARAMS_DOC = testParamsDoc(SCENARIO_COVENANTS, {
  activation_height: 112,
  staking_cap: 50_000_000,
  min_staking_amount: 10_000,
  max_staking_amount: 1_000_000,
  min_staking_time: 5,
  max_staking_time: 100,
  unbonding_time: 3,
  confirmation_depth: 3,
});

/**
 * A busy chain for the crash, broker-fault and benchmark runs: `blocks` blocks, each with
 * `stakesPerBlock` stakes (short timelocks so they expire), unbondings of some earlier stakes, and
 * withdraws from both paths once their locks allow. Deterministic for given arguments.
 */
export async function mineBusyChain(
  kit: ChainKit,
  version: ParamsVersion,
  opts: { blocks: number; stakesPerBlock: number; filler?: (height: number) => Transaction[] },
): Promise<{ stakes: number; unbondings: number; withdraws: number }> {
  const plan = buildBusyBlocks(kit, version, await kit.height(), opts);
  for (const txs of plan.blocks) await kit.mine(txs);
  return plan;
}

/** The blocks of mineBusyChain, built but not mined (each block's fan-outs first). */
export function buildBusyBlocks(
  kit: ChainKit,
  version: ParamsVersion,
  tipHeight: number,
  opts: { blocks: number; stakesPerBlock: number; filler?: (height: number) => Transaction[] },
): { blocks: Transaction[][]; stakes: number; unbondings: number; withdraws: number } {
  const blocks: Transaction[][] = [];
  // Every stake its own staker, as on a real chain, so no cache keyed by the staker answers for
  // the work a new stake costs (the benchmark's figures must be of that work).
  const fp = testKey('sc-fp');
  const live: Array<{ s: Stake; height: number; decided?: boolean; unbond?: boolean }> = [];
  const unbonding: Array<{ s: Stake; u: Unbonding; height: number }> = [];
  let stakes = 0;
  let unbondings = 0;
  let withdraws = 0;
  let h = tipHeight;
  let toggle = false;
  for (let b = 0; b < opts.blocks; b++) {
    h++;
    const txs: Transaction[] = [];
    // Withdraw from unbonding outputs whose unbonding time has passed.
    while (unbonding.length && unbonding[0]!.height + version.unbondingTime <= h) {
      const x = unbonding.shift()!;
      txs.push(buildWithdrawFromUnbonding(x.s, x.u));
      withdraws++;
    }
    // Of the oldest live stakes: unbond every other one, withdraw the rest once their timelock allows.
    for (let k = 0; k < 2 && live.length; k++) {
      const x = live[0]!;
      if (!x.decided) {
        x.decided = true;
        toggle = !toggle;
        x.unbond = toggle;
      }
      if (x.unbond) {
        live.shift();
        const u = buildUnbonding(x.s, SCENARIO_COVENANTS);
        txs.push(u.tx);
        unbonding.push({ s: x.s, u, height: h });
        unbondings++;
      } else if (x.height + x.s.data.stakingTime <= h) {
        live.shift();
        txs.push(buildWithdrawFromStaking(x.s));
        withdraws++;
      } else break;
    }
    for (let k = 0; k < opts.stakesPerBlock; k++) {
      const s = buildStake({
        version,
        staker: testKey(`sc-staker-${stakes}`),
        fp,
        stakingTime: version.minStakingTime + ((b + k) % 4),
        valueSat: version.minStakingAmountSat + BigInt(1000 * (k + 1)),
        funding: kit.coin(),
      });
      txs.push(s.tx);
      live.push({ s, height: h });
      stakes++;
    }
    txs.push(...(opts.filler?.(h) ?? []));
    blocks.push([...kit.takePending(), ...txs]);
  }
  return { blocks, stakes, unbondings, withdraws };
}
