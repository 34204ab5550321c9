import { hashToTxid } from '../common/index.ts';
import { type GlobalParams, selectParamsForHeight } from '../params/index.ts';
import { classifyStakingOutputSpend } from '../staking/index.ts';
import { emptyStats, type Rejection } from './blockResult.ts';
import { type BlockInput, forEachBlockTx } from './blockTxs.ts';
import { Overlay } from './overlay.ts';
import { expectationOf } from './spendRules.ts';
import { delegationOf, stakeVerdict } from './stakeVerdict.ts';
import { type Delegation, hashPrefix, type StateReader, stakingOutpointKey } from './state.ts';

/** What the unconfirmed window adds to the confirmed TVL (backend-services.md §1.6). */
export interface WindowResult {
  readonly unconfirmedTvl: number;
  readonly rejections: readonly Rejection[];
}

/**
 * Unconfirmed TVL over the blocks of the unconfirmed window (the last depth−1), in order:
 * confirmed TVL + the value of every valid staking tx in the window, ignoring the cap, − the value
 * of stakes unbonded in the window (confirmed active stakes, and window stakes). Nothing is
 * written; the result can be below the confirmed TVL, never below 0.
 */
export function computeUnconfirmedTvl(
  params: GlobalParams,
  window: readonly BlockInput[],
  base: StateReader,
): WindowResult {
  const st = new Overlay(base);
  const rejections: Rejection[] = [];
  let delta = 0;
  const windowStakes = new Map<string, Delegation>();
  for (const block of window) {
    const h = block.height;
    const version = selectParamsForHeight(params, h);
    const stats = emptyStats();
    forEachBlockTx(block, version?.tag, st, stats, (btx) => {
      const tx = btx.tx;
      const c = btx.stake ?? stakeVerdict(tx, params, h, () => btx.id());
      if (c.kind === 'valid' && version) {
        const stakingTxid = c.txid;
        if (!st.delegation(stakingTxid) && !windowStakes.has(stakingTxid)) {
          const d = delegationOf(c, h, version, false);
          windowStakes.set(stakingTxid, d);
          st.track(stakingOutpointKey(stakingTxid, d.stakingOutputIndex), stakingTxid);
          delta += d.valueSat;
        }
      } else if (c.kind === 'rejected') {
        rejections.push({
          txType: 'unconfirmed_staking_transaction',
          reason: c.code,
          txid: c.txid,
          blockHash: block.hash,
        });
      }
      tx.ins.forEach((input, i) => {
        if (!st.mayTrack(hashPrefix(input.hash, 0))) return;
        const key = stakingOutpointKey(hashToTxid(input.hash), input.index);
        const stakingTxid = st.tracked(key);
        if (stakingTxid === undefined) return;
        const d = windowStakes.get(stakingTxid) ?? st.delegation(stakingTxid);
        const e = d && expectationOf(d, params);
        if (!d || !e || d.state !== 'active') return;
        st.untrack(key);
        const spend = classifyStakingOutputSpend(tx, i, e.exp, e.stakingTimelockLeaf);
        if (spend.kind === 'unbonding') {
          if (!d.isOverflow) delta -= d.valueSat;
        } else if (spend.kind === 'invalid-unbonding') {
          rejections.push({
            txType: 'unconfirmed_unbonding_transactions',
            reason: spend.code,
            txid: btx.id(),
            blockHash: block.hash,
          });
        }
      });
    });
  }
  return { unconfirmedTvl: Math.max(0, base.confirmedTvl() + delta), rejections };
}
