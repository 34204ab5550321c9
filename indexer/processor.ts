import { hashToTxid } from '../common/index.ts';
import type { UnsequencedEvent } from '../events/index.ts';
import { type GlobalParams, isOverflow, type ParamsVersion, selectParamsForHeight } from '../params/index.ts';
import { type BlockDecision, type BlockResult, emptyStats } from './blockResult.ts';
import { type BlockInput, type BlockTx, forEachBlockTx } from './blockTxs.ts';
import { activeEvent, txHex } from './chainEvents.ts';
import { decideExpiries } from './expiry.ts';
import { Overlay } from './overlay.ts';
import { rememberCheckedStakerKey } from './spendRules.ts';
import { spendOfStakingOutput, spendOfUnbondingOutput } from './spends.ts';
import { delegationOf, stakeVerdict } from './stakeVerdict.ts';
import { hashPrefix, type StateReader, stakingOutpointKey, unbondingTxKey } from './state.ts';

/**
 * The pure core: given the params, one confirmed block and the state before it, the state changes
 * and the events the block produces. No I/O, no clock. The rules are the reference indexer's
 * (backend-services.md §1.4–1.5, staking-protocol.md §4–§9), decided with the staking/ functions.
 *
 * Its parts: `stakeVerdict.ts` (is it a stake), `prescan.ts` (that verdict made ahead, on the fetch
 * thread), `blockTxs.ts` (which transactions of a block are worth deciding), `overlay.ts` (the
 * block's changes over the state), `expiry.ts`, `spends.ts` (unbonding and withdraw),
 * `spendRules.ts` (a stored delegation's spend rules), `chainEvents.ts` (the events emitted) and
 * `unconfirmedTvl.ts` (the window's TVL). Overflow is params/'s `isOverflow`.
 */

/**
 * Processes one confirmed block. In order: the expiries the block's height reaches (so that an
 * `expired` precedes a withdraw in the same block), then each transaction in block order: first
 * as a possible staking tx (params by this height), then each input as a possible spend of a
 * tracked staking output (unbonding, or withdraw through the timelock leaf) or of a tracked
 * unbonding output (withdraw through the unbonding timelock leaf); params for spends are those of
 * the staking tx's height. Never throws on chain data.
 */
export function processBlock(params: GlobalParams, block: BlockInput, base: StateReader): BlockResult {
  const st = new Overlay(base);
  const stats = emptyStats();
  const events: UnsequencedEvent[] = [];
  const h = block.height;

  // 1. Expiry.
  decideExpiries(base, st, h, events, stats);

  // 2. Transactions.
  const dec: BlockDecision = { params, st, height: h, time: block.time, events, stats };
  const version = selectParamsForHeight(params, h);
  forEachBlockTx(block, version?.tag, st, stats, (btx) => {
    try {
      processTx(dec, version, btx);
    } catch {
      stats.failures++;
    }
  });
  return { writes: st.writes, events, stats, tvl: st.confirmedTvl() };
}

function processTx(dec: BlockDecision, version: ParamsVersion | undefined, btx: BlockTx): void {
  const { params, st, stats } = dec;
  const h = dec.height;
  const c = btx.stake ?? stakeVerdict(btx.tx, params, h, () => btx.id());
  if (c.kind === 'valid' && version) {
    const stakingTxid = c.txid;
    if (!st.delegation(stakingTxid)) {
      const overflow = isOverflow(version, h, BigInt(st.confirmedTvl()));
      st.putDelegation(delegationOf(c, h, version, overflow));
      rememberCheckedStakerKey(c);
      st.track(stakingOutpointKey(stakingTxid, c.stakingOutputIndex), stakingTxid);
      st.addExpiry({ height: h + c.stakingTime, stakingTxid, type: 'active' });
      if (!overflow) st.setTvl(st.confirmedTvl() + c.valueSat);
      if (overflow) stats.staking.overflow++;
      else stats.staking.active++;
      dec.events.push(
        activeEvent(
          c,
          h,
          dec.time,
          txHex(btx.bytes, () => btx.tx),
          overflow,
        ),
      );
    }
  } else if (c.kind === 'rejected') {
    stats.rejections.push({ txType: 'confirmed_staking_transaction', reason: c.code, txid: c.txid });
  }

  // A tx can be a staking tx and a spend of older stakes at once: look at the inputs whenever one
  // may spend a tracked output.
  if (!btx.spends) return;
  const { tx, bytes } = btx;
  const ins = tx.ins;
  for (let i = 0; i < ins.length; i++) {
    const input = ins[i]!;
    if (!st.mayTrack(hashPrefix(input.hash, 0))) continue;
    const prevTxid = hashToTxid(input.hash);
    const sKey = stakingOutpointKey(prevTxid, input.index);
    const fromStaking = st.tracked(sKey);
    if (fromStaking !== undefined) {
      spendOfStakingOutput(dec, tx, i, fromStaking, sKey, bytes, btx, btx.unbonding);
      continue;
    }
    const uKey = unbondingTxKey(prevTxid);
    const fromUnbonding = st.tracked(uKey);
    if (fromUnbonding !== undefined) {
      spendOfUnbondingOutput(dec, tx, i, fromUnbonding, uKey, btx);
    }
  }
}
