import type { Transaction } from 'bitcoinjs-lib';
import { hashToTxid } from '../common/index.ts';
import { type GlobalParams, selectParamsForHeight } from '../params/index.ts';
import { decodeTransaction } from '../staking/index.ts';
import { type CandidateTx, candidateTxid, scanBlock } from './rawBlock.ts';
import { StakesSeen, type UnbondingMadeAhead } from './spendRules.ts';
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
  /** When it spends the staking output of a stake the prescan saw (`StakesSeen`): its unbonding output's script. */
  readonly unbonding?: UnbondingMadeAhead;
}

/**
 * The part of deciding a serialized block that needs no state, done ahead of the processor (on
 * the fetch thread, while the main thread decides earlier blocks): the walk that finds the
 * candidates, the staking verdicts of the tagged ones, and the unbonding output's script for a
 * candidate that spends a stake `seen` holds (the check's one EC tweak). A tagged transaction that fails to
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
  maybeTracked: PrefixFilter,
  seen?: StakesSeen,
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
      const v = tx && stakeVerdict(tx, params, height, () => candidateTxid(c), seen);
      if (v?.kind === 'valid') maybeTracked.add(txidPrefix(v.txid));
      if (v && v.kind !== 'not-staking') stake = v;
    }
    let txid: string | undefined;
    let unbonding: UnbondingMadeAhead | undefined;
    if (c.spends && c.inputs === 1 && c.outputs === 1) {
      txid = candidateTxid(c);
      maybeTracked.add(txidPrefix(txid));
      if (seen && mayUnbond(c)) {
        // The one input's outpoint, after the input count (one byte: one input).
        const at = c.bodyStart + 1;
        const vout = new DataView(c.bytes.buffer, c.bytes.byteOffset + at + 32, 4).getUint32(0, true);
        unbonding = seen.unbondingFor(hashToTxid(c.bytes.subarray(at, at + 32)), vout);
      }
    }
    candidates.push(prescanned(c, txid, stake, unbonding));
  }
}

/**
 * A candidate with what the prescan found, as literals of two fixed shapes: a spread of the walk's
 * object missed its inline cache on every candidate.
 */
function prescanned(
  c: CandidateTx,
  txid: string | undefined,
  stake: PrescannedTx['stake'],
  unbonding: UnbondingMadeAhead | undefined,
  bytes = c.bytes,
): PrescannedTx {
  const { index, bodyStart, bodyEnd, spends, tagged, inputs, outputs } = c;
  return unbonding
    ? { index, bytes, bodyStart, bodyEnd, spends, tagged, inputs, outputs, txid, stake, unbonding }
    : { index, bytes, bodyStart, bodyEnd, spends, tagged, inputs, outputs, txid, stake };
}

/**
 * A block's prescan with its candidates' bytes copied into `out` from offset `at` on (their
 * total length must fit), as views of it: the block's own bytes can then stay where they are.
 */
export function prescanInto(p: BlockPrescan, out: Uint8Array, at: number): BlockPrescan {
  const candidates = p.candidates.map((c) => {
    const bytes = out.subarray(at, at + c.bytes.length);
    bytes.set(c.bytes);
    at += c.bytes.length;
    return prescanned(c, c.txid, c.stake, c.unbonding, bytes);
  });
  return { txCount: p.txCount, candidates };
}

/**
 * Whether a one-input candidate's input has the unbonding sequence (0xffffffff), which an
 * unbonding must have before its output is looked at (`classifyStakingOutputSpend`): a withdraw
 * through the timelock leaf (sequence = the lock) needs no unbonding script. True when the
 * input's script length is not one byte (never so for a taproot spend), to be sure.
 */
function mayUnbond(c: CandidateTx): boolean {
  const scriptLenAt = c.bodyStart + 1 + 36;
  const len = c.bytes[scriptLenAt]!;
  if (len >= 0xfd) return true;
  const seqAt = c.bytes.byteOffset + scriptLenAt + 1 + len;
  if (seqAt + 4 > c.bytes.byteOffset + c.bytes.byteLength) return true;
  return new DataView(c.bytes.buffer, seqAt, 4).getUint32(0, true) === 0xffffffff;
}

/**
 * The prescans of one range of blocks, in height order, from the state's filter after the block
 * before the range (`preScanBlock`). A block whose prescan fails (bytes that do not parse) gets
 * none, and neither does any later block of the range: the filter may now miss that block's
 * outputs. Without a prescan, the processor walks the block itself with the state's own filter.
 */
export class RangePrescan {
  readonly #params: GlobalParams;
  #maybeTracked: PrefixSet | undefined;
  readonly #seen: StakesSeen;

  /** `seen`: the stakes earlier ranges saw, so that their unbondings' scripts are made here too. */
  constructor(params: GlobalParams, tracked: Iterable<number>, seen = new StakesSeen()) {
    this.#params = params;
    this.#maybeTracked = new PrefixSet(tracked);
    this.#seen = seen;
  }

  /** The next block's prescan, or undefined. Never throws. */
  next(height: number, raw: Uint8Array): BlockPrescan | undefined {
    if (!this.#maybeTracked) return undefined;
    try {
      return preScanBlock(this.#params, height, raw, this.#maybeTracked, this.#seen);
    } catch {
      this.#maybeTracked = undefined;
      return undefined;
    }
  }
}

/** What the prescan's filter must do (a `Set<number>` does it; `PrefixSet` does it faster). */
export interface PrefixFilter {
  has(prefix: number): boolean;
  add(prefix: number): unknown;
}

/**
 * A set of `hashPrefix` values (30 bits, never negative) in one open-addressed table, looked up
 * by the prefix's own low bits: they are bits of a hash already. The walk looks up every input
 * of every transaction, and a `Set`'s lookup (a builtin call that hashes the number) was the
 * walk's largest single cost.
 */
export class PrefixSet implements PrefixFilter {
  #slots: Int32Array;
  #mask: number;
  #size = 0;

  constructor(prefixes: Iterable<number> = []) {
    this.#slots = new Int32Array(1024).fill(EMPTY);
    this.#mask = 1023;
    for (const p of prefixes) this.add(p);
  }

  get size(): number {
    return this.#size;
  }

  has(prefix: number): boolean {
    const slots = this.#slots;
    const mask = this.#mask;
    for (let i = prefix & mask; ; i = (i + 1) & mask) {
      const s = slots[i]!;
      if (s === EMPTY) return false; // first: -1, no prefix, is not in the set
      if (s === prefix) return true;
    }
  }

  add(prefix: number): this {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 0x3fffffff) {
      throw new RangeError(`not a hash prefix: ${prefix}`);
    }
    if (this.has(prefix)) return this;
    // At most half full, so that a lookup of an absent prefix ends soon.
    if ((this.#size + 1) * 2 > this.#slots.length) this.#grow();
    this.#place(prefix);
    this.#size++;
    return this;
  }

  #place(prefix: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    let i = prefix & mask;
    while (slots[i] !== EMPTY) i = (i + 1) & mask;
    slots[i] = prefix;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Int32Array(old.length * 2).fill(EMPTY);
    this.#mask = this.#slots.length - 1;
    for (const p of old) if (p !== EMPTY) this.#place(p);
  }
}

const EMPTY = -1;
