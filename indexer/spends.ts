import type { Transaction } from 'bitcoinjs-lib';
import { selectParamsForHeight } from '../params/index.ts';
import { classifyStakingOutputSpend, isUnbondingTimelockWithdraw } from '../staking/index.ts';
import type { BlockDecision } from './blockResult.ts';
import { txHex, unbondingEvent, withdrawEvent } from './chainEvents.ts';
import { expectationOf, type SpendRules, type UnbondingMadeAhead } from './spendRules.ts';
import { type Delegation, unbondingTxKey } from './state.ts';

/**
 * Spends of the outputs the indexer tracks: a staking output (unbonding, withdraw through the
 * staking timelock leaf, or an unknown spend) and an unbonding output (withdraw through the
 * unbonding timelock leaf). Params are those of the staking tx's height.
 */

/** The spending tx's id, computed on first use (a `BlockTx`). */
interface TxidOf {
  id(): string;
}

/**
 * The delegation whose tracked output (`key`) an input spends, with its spend rules. The output is
 * untracked whatever the spend turns out to be: it can never be spent again.
 */
function spentDelegation(
  dec: BlockDecision,
  stakingTxid: string,
  key: string,
  ahead?: UnbondingMadeAhead,
): { readonly d: Delegation; readonly e: SpendRules } | undefined {
  dec.st.untrack(key);
  const d = dec.st.delegation(stakingTxid);
  const e = d && expectationOf(d, dec.params, ahead);
  return d && e ? { d, e } : undefined;
}

/** Delegation `d` withdrawn by tx `txid`, from its staking or its unbonding output. */
function withdraw(dec: BlockDecision, d: Delegation, txid: string, from: 'staking' | 'unbonding'): void {
  // Object.assign rather than a spread followed by properties: see `Overlay.putDelegation`.
  dec.st.putDelegation(Object.assign({}, d, { state: 'withdrawn' as const }));
  dec.events.push(withdrawEvent(d, dec.height, txid, from));
}

/**
 * Input `inputIndex` of `tx` spends the tracked staking output `key` of `stakingTxid`; `ahead`: the
 * unbonding output's script the prescan made for it.
 */
export function spendOfStakingOutput(
  dec: BlockDecision,
  tx: Transaction,
  inputIndex: number,
  stakingTxid: string,
  key: string,
  bytes: Uint8Array | undefined,
  txid: TxidOf,
  ahead?: UnbondingMadeAhead,
): void {
  const spent = spentDelegation(dec, stakingTxid, key, ahead);
  if (!spent) return;
  const { st, stats, params } = dec;
  const h = dec.height;
  const { d, e } = spent;
  const spend = classifyStakingOutputSpend(tx, inputIndex, e.exp, e.stakingTimelockLeaf);
  switch (spend.kind) {
    case 'unbonding': {
      const v = selectParamsForHeight(params, d.inclusionHeight)!;
      const unbondingTxid = txid.id();
      st.putDelegation(
        Object.assign({}, d, {
          state: 'unbonding' as const,
          unbondingTxid,
          unbondingHeight: h,
          unbondingTime: v.unbondingTime,
        }),
      );
      st.track(unbondingTxKey(unbondingTxid), stakingTxid);
      st.addExpiry({ height: h + v.unbondingTime, stakingTxid, type: 'unbonding' });
      // Only an active (not overflow) stake ever counted in the TVL (§8).
      if (!d.isOverflow) st.setTvl(st.confirmedTvl() - d.valueSat);
      stats.unbonding++;
      dec.events.push(
        unbondingEvent(
          stakingTxid,
          h,
          dec.time,
          v.unbondingTime,
          txHex(bytes, () => tx),
          unbondingTxid,
        ),
      );
      return;
    }
    case 'withdraw':
      withdraw(dec, d, txid.id(), 'staking');
      stats.withdrawFromStaking++;
      return;
    case 'invalid-unbonding':
      stats.rejections.push({
        txType: 'confirmed_unbonding_transactions',
        reason: spend.code,
        txid: txid.id(),
      });
      return;
    case 'unknown-spend':
      stats.rejections.push({
        txType: 'confirmed_withdraw_staking_transactions',
        reason: 'UNKNOWN_SPEND',
        txid: txid.id(),
      });
      return;
  }
}

/** Input `inputIndex` of `tx` spends the tracked unbonding output `key` of `stakingTxid`. */
export function spendOfUnbondingOutput(
  dec: BlockDecision,
  tx: Transaction,
  inputIndex: number,
  stakingTxid: string,
  key: string,
  txid: TxidOf,
): void {
  const spent = spentDelegation(dec, stakingTxid, key);
  if (!spent) return;
  if (isUnbondingTimelockWithdraw(tx, inputIndex, spent.e.unbondingTimelockLeaf)) {
    withdraw(dec, spent.d, txid.id(), 'unbonding');
    dec.stats.withdrawFromUnbonding++;
  } else {
    dec.stats.rejections.push({
      txType: 'confirmed_withdraw_unbonding_transactions',
      reason: 'UNKNOWN_SPEND',
      txid: txid.id(),
    });
  }
}
