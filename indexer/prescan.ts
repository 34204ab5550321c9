import type { Transaction } from 'bitcoinjs-lib';
import { type GlobalParams, selectParamsForHeight } from '../params/index.ts';
import { decodeTransaction } from '../staking/index.ts';
import { type CandidateTx, candidateTxid, scanBlock } from './rawBlock.ts';
import { type StakeVerdict, stakeVerdict } from './stakeVerdict.ts';
import { hashPrefix, txidPrefix } from './state.ts';

/** A block's candidates, found beforehand (see `preScanBlock`). */
export interface BlockPrescan {
  /** Transactions in the block. */
  readonly txCount: number;
  readonly candidates: readonly PrescannedTx[];
}

/** A candidate with the staking verdict made for it; none: not a staking tx. */
export interface PrescannedTx extends CandidateTx {
  readonly stake: Exclude<StakeVerdict, { kind: 'not-staking' }> | undefined;
}

/**
 * The part of deciding a serialized block that needs no state, done ahead of the processor (on
 * the fetch thread, while the main thread decides earlier blocks): the walk that finds the
 * candidates, and the staking verdicts of the tagged ones (a valid one with its unbonding output's
 * script, which the follower keeps in `UnbondingScripts`). A tagged transaction that fails to
 * decode gets no verdict (the processor counts it as it does any undecodable candidate).
 *
 * `maybeTracked` stands in for the state's prefilter, which only the main thread holds: on entry
 * it must hold the prefixes (`hashPrefix`) of every tx hash the state tracks before this block,
 * and the walk adds the hash of every transaction whose outputs the processor may start tracking
 * in this block: each valid stake, and each one-input, one-output transaction that may spend a
 * tracked output (a possible unbonding: `classifyStakingOutputSpend` accepts no other shape).
 * Carried from block to block in order, it stays a superset of the state's prefilter, so every
 * transaction the processor's own walk would hand on is a candidate here too.
 * @throws {CodedError} INDEXER_BAD_BLOCK when the bytes do not parse as a block
 */
export function preScanBlock(
  params: GlobalParams,
  height: number,
  raw: Uint8Array,
  maybeTracked: Set<number>,
): BlockPrescan {
  const tag = selectParamsForHeight(params, height)?.tag;
  const candidates: PrescannedTx[] = [];
  const it = scanBlock(raw, { tag, mayTrack: (buf, off) => maybeTracked.has(hashPrefix(buf, off)) });
  for (;;) {
    const r = it.next();
    if (r.done) return { txCount: r.value, candidates };
    const c = r.value;
    let stake: PrescannedTx['stake'];
    if (c.tagged) {
      let tx: Transaction | undefined;
      try {
        tx = decodeTransaction(c.bytes);
      } catch {
        // No verdict: the processor counts the candidate as undecodable.
      }
      const v = tx && stakeVerdict(tx, params, height, () => candidateTxid(c), true);
      if (v?.kind === 'valid') maybeTracked.add(txidPrefix(v.txid));
      if (v && v.kind !== 'not-staking') stake = v;
    }
    let txid: string | undefined;
    if (c.spends && c.inputs === 1 && c.outputs === 1) {
      txid = candidateTxid(c);
      maybeTracked.add(txidPrefix(txid));
    }
    candidates.push({ ...c, stake, txid });
  }
}

/**
 * The prescans of one range of blocks, in height order, from the state's filter after the block
 * before the range (`preScanBlock`). A block whose prescan fails (bytes that do not parse) gets
 * none, and neither does any later block of the range: the filter may now miss that block's
 * outputs. Without a prescan, the processor walks the block itself with the state's own filter.
 */
export class RangePrescan {
  readonly #params: GlobalParams;
  #maybeTracked: Set<number> | undefined;

  constructor(params: GlobalParams, tracked: Iterable<number>) {
    this.#params = params;
    this.#maybeTracked = new Set(tracked);
  }

  /** The next block's prescan, or undefined. Never throws. */
  next(height: number, raw: Uint8Array): BlockPrescan | undefined {
    if (!this.#maybeTracked) return undefined;
    try {
      return preScanBlock(this.#params, height, raw, this.#maybeTracked);
    } catch {
      this.#maybeTracked = undefined;
      return undefined;
    }
  }
}
