import type { Transaction } from 'bitcoinjs-lib';
import { hashToTxid } from '../common/index.ts';
import { type GlobalParams, selectParamsForHeight } from '../params/index.ts';
import { decodeTransaction } from '../staking/index.ts';
import { type CandidateTx, candidateTxid, scanBlock } from './rawBlock.ts';
import { type SeenStakeKeys, StakesSeen, seenStakeKeys, type UnbondingMadeAhead } from './spendRules.ts';
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
 * the fetch threads, while the main thread decides earlier blocks), in two steps that may run on
 * two threads, each in height order: the walk (`walkBlock`, which carries `maybeTracked`) finds the
 * candidates, then `decideWalked` (which carries `seen`) makes the staking verdicts of the tagged
 * ones and the unbonding output's script for a candidate that spends a stake `seen` holds (the
 * check's one EC tweak). A tagged transaction that fails to decode gets no verdict (the processor
 * counts it as it does any undecodable candidate).
 * @throws {CodedError} INDEXER_BAD_BLOCK when the bytes do not parse as a block
 */
export function preScanBlock(
  params: GlobalParams,
  height: number,
  raw: Uint8Array,
  maybeTracked: PrefixFilter,
  seen?: StakesSeen,
): BlockPrescan {
  return decideWalked(params, height, walkBlock(params, height, raw, maybeTracked), seen);
}

/** A block's candidates as the walk found them (`walkBlock`). */
export interface WalkedBlock {
  /** Transactions in the block. */
  readonly txCount: number;
  readonly candidates: readonly WalkedTx[];
  /** Whether the walk made the staking verdicts too (`decideWalked` then takes them as they are). */
  readonly decided: boolean;
}

/** A candidate as the walk found it, with its staking verdict when the walk made it. */
export interface WalkedTx extends CandidateTx {
  readonly stake: PrescannedTx['stake'];
  /** With a valid `stake` the walk made: what `StakesSeen` keeps of it. */
  readonly keys: SeenStakeKeys | undefined;
}

/**
 * The prescan's walk: the candidates of a block, each tagged or possibly unbonding one with its
 * txid (hashed here for the filter); with `decide`, the staking verdicts of the tagged ones too
 * (a verdict is a function of the transaction, the params and the height alone, so it may be made
 * on either thread; only `StakesSeen`, which `decideWalked` carries, needs them in order).
 *
 * `maybeTracked` stands in for the state's prefilter, which only the main thread holds: on entry
 * it must hold the prefixes (`hashPrefix`) of every tx hash the state tracks before this block,
 * and the walk adds the hash of every transaction whose outputs the processor may start tracking
 * in this block: each tagged one (a possible stake: the walk does not wait for verdicts, which may
 * be made after it on another thread, so every tagged one counts, valid or not) and each
 * one-input, one-output transaction that may spend a tracked output (a possible unbonding:
 * `classifyStakingOutputSpend` accepts no other shape). Carried from block to block in order, it
 * stays a superset of the state's prefilter, so every transaction the processor's own walk would
 * hand on is a candidate here too.
 * @throws {CodedError} INDEXER_BAD_BLOCK when the bytes do not parse as a block
 */
export function walkBlock(
  params: GlobalParams,
  height: number,
  raw: Uint8Array,
  maybeTracked: PrefixFilter,
  decide = false,
): WalkedBlock {
  const tag = selectParamsForHeight(params, height)?.tag;
  const candidates: WalkedTx[] = [];
  const it = scanBlock(raw, { tag, mayTrack: (buf, off) => maybeTracked.has(hashPrefix(buf, off)) });
  for (;;) {
    const r = it.next();
    if (r.done) return { txCount: r.value, candidates, decided: decide };
    const c = r.value;
    let txid: string | undefined;
    if (c.tagged || (c.spends && c.inputs === 1 && c.outputs === 1)) {
      // Added before the walk goes on: a later transaction of the block may spend it.
      txid = candidateTxid(c);
      maybeTracked.add(txidPrefix(txid));
    }
    let stake: PrescannedTx['stake'];
    let keys: SeenStakeKeys | undefined;
    if (decide && c.tagged) {
      const id = txid!;
      stake = verdictOf(c, params, height, () => id, {
        remember: (_txid, data) => {
          keys = seenStakeKeys(data);
        },
      });
    }
    candidates.push(walkedTx(c, txid, stake, keys));
  }
}

/** A tagged candidate's verdict; none for one that does not decode or is not staking. */
function verdictOf(
  c: CandidateTx,
  params: GlobalParams,
  height: number,
  txid: () => string,
  seen: Pick<StakesSeen, 'remember'> | undefined,
): PrescannedTx['stake'] {
  let tx: Transaction | undefined;
  try {
    tx = decodeTransaction(c.bytes);
  } catch {
    // No verdict: the processor counts the candidate as undecodable.
  }
  const v = tx && stakeVerdict(tx, params, height, txid, seen);
  return v && v.kind !== 'not-staking' ? v : undefined;
}

/**
 * The prescan's second step, on a walked block (`walkBlock`; its candidates' bytes may have been
 * copied elsewhere since): the staking verdicts, and the unbonding scripts of spends of stakes
 * `seen` holds. `seen` must have seen every earlier block of the chain that it is to know of, in
 * order (a stake is remembered before a later candidate, of its block or another, unbonds it).
 */
export function decideWalked(
  params: GlobalParams,
  height: number,
  walked: WalkedBlock,
  seen?: StakesSeen,
): BlockPrescan {
  const out: PrescannedTx[] = [];
  const v = walked.decided && seen ? selectParamsForHeight(params, height) : undefined;
  for (const c of walked.candidates) {
    let stake: PrescannedTx['stake'];
    if (walked.decided) {
      stake = c.stake;
      // As `stakeVerdict` remembers a valid stake it decides.
      if (seen && v && c.keys && stake?.kind === 'valid') {
        seen.rememberKeys(stake.txid, stake.stakingOutputIndex, c.keys, height, v);
      }
    } else if (c.tagged) {
      stake = verdictOf(c, params, height, () => c.txid ?? candidateTxid(c), seen);
    }
    let unbonding: UnbondingMadeAhead | undefined;
    if (seen && c.spends && c.inputs === 1 && c.outputs === 1 && mayUnbond(c)) {
      // The one input's outpoint, after the input count (one byte: one input).
      const at = c.bodyStart + 1;
      const vout = new DataView(c.bytes.buffer, c.bytes.byteOffset + at + 32, 4).getUint32(0, true);
      unbonding = seen.unbondingFor(hashToTxid(c.bytes.subarray(at, at + 32)), vout);
    }
    out.push(prescanned(c, c.txid, stake, unbonding));
  }
  return { txCount: walked.txCount, candidates: out };
}

/** A candidate as the walk found it, a literal of one fixed shape (see `prescanned`). */
function walkedTx(
  c: CandidateTx,
  txid: string | undefined,
  stake: PrescannedTx['stake'],
  keys: SeenStakeKeys | undefined,
  bytes = c.bytes,
): WalkedTx {
  const { index, bodyStart, bodyEnd, spends, tagged, inputs, outputs } = c;
  return { index, bytes, bodyStart, bodyEnd, spends, tagged, inputs, outputs, txid, stake, keys };
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
 * A batch of walks as it crosses from the fetch thread to the verdicts thread: the numbers in one
 * `Int32Array` and the txids in one array of strings, not an object a candidate (a structured
 * clone of those cost each side about 6–9 µs of CPU a busy block), and the bytes the main thread
 * reads (each walked block's header, then its candidates' bytes) in one buffer for the batch.
 */
export interface WalkedBatch {
  /** Each walked block's 80-byte header, then its candidates' bytes; block after block. */
  readonly bytes: Uint8Array;
  /**
   * A block: 0 when it has no walk; else 1, its tx count, its candidate count, 1 when `decided`,
   * the header's offset in `bytes`, then per candidate `CANDIDATE_INTS` numbers (see `packWalks`).
   */
  readonly nums: Int32Array;
  /** The txids of the candidates that have one, in order. */
  readonly txids: readonly string[];
  /** The verdicts made with the walk, in order, and what `StakesSeen` keeps of the valid ones. */
  readonly stakes: readonly NonNullable<PrescannedTx['stake']>[];
  readonly keys: readonly (SeenStakeKeys | undefined)[];
}

const CANDIDATE_INTS = 8;
const HAS_TXID = 1;
const HAS_STAKE = 2;
const SPENDS = 4;
const TAGGED = 8;
const HAS_UNBONDING = 16;

/**
 * One candidate's `CANDIDATE_INTS` numbers at `nums[k]`, its bytes at `at` of the batch's buffer,
 * its txid (if any) pushed onto `txids`; `extra`: the caller's flags for what it packs beside them.
 * Both packed forms (`WalkedBatch`, `PrescanBatch`) lay a candidate out this way.
 */
function packCandidate(
  nums: Int32Array,
  k: number,
  c: CandidateTx,
  at: number,
  txids: string[],
  extra: number,
): void {
  let flags = extra | (c.spends ? SPENDS : 0) | (c.tagged ? TAGGED : 0);
  if (c.txid !== undefined) {
    flags |= HAS_TXID;
    txids.push(c.txid);
  }
  nums[k] = c.index;
  nums[k + 1] = at;
  nums[k + 2] = c.bytes.length;
  nums[k + 3] = c.bodyStart;
  nums[k + 4] = c.bodyEnd;
  nums[k + 5] = flags;
  nums[k + 6] = c.inputs;
  nums[k + 7] = c.outputs;
}

/** The candidate `packCandidate` laid out at `nums[k]`, its bytes a view of `bytes`. */
function unpackCandidate(
  nums: Int32Array,
  k: number,
  bytes: Uint8Array,
  txid: string | undefined,
): CandidateTx {
  const at = nums[k + 1]!;
  const flags = nums[k + 5]!;
  return {
    index: nums[k]!,
    bytes: bytes.subarray(at, at + nums[k + 2]!),
    bodyStart: nums[k + 3]!,
    bodyEnd: nums[k + 4]!,
    spends: (flags & SPENDS) !== 0,
    tagged: (flags & TAGGED) !== 0,
    inputs: nums[k + 6]!,
    outputs: nums[k + 7]!,
    txid,
  };
}

/** The walks of a batch of blocks (`raws[i]` walked as `walks[i]`, or not walked) packed for the hand-off. */
export function packWalks(
  raws: readonly Uint8Array[],
  walks: readonly (WalkedBlock | undefined)[],
): WalkedBatch {
  let bytes = 0;
  let ints = 0;
  for (const w of walks) {
    ints += 1;
    if (!w) continue;
    ints += 4 + w.candidates.length * CANDIDATE_INTS;
    bytes += HEADER_BYTES;
    for (const c of w.candidates) bytes += c.bytes.length;
  }
  const out = new Uint8Array(bytes);
  const nums = new Int32Array(ints);
  const txids: string[] = [];
  const stakes: NonNullable<PrescannedTx['stake']>[] = [];
  const keys: (SeenStakeKeys | undefined)[] = [];
  let at = 0;
  let k = 0;
  for (let i = 0; i < walks.length; i++) {
    const w = walks[i];
    if (!w) {
      nums[k++] = 0;
      continue;
    }
    nums[k++] = 1;
    nums[k++] = w.txCount;
    nums[k++] = w.candidates.length;
    nums[k++] = w.decided ? 1 : 0;
    nums[k++] = at;
    out.set(raws[i]!.subarray(0, HEADER_BYTES), at);
    at += HEADER_BYTES;
    for (const c of w.candidates) {
      out.set(c.bytes, at);
      if (c.stake) {
        stakes.push(c.stake);
        keys.push(c.keys);
      }
      packCandidate(nums, k, c, at, txids, c.stake ? HAS_STAKE : 0);
      k += CANDIDATE_INTS;
      at += c.bytes.length;
    }
  }
  return { bytes: out, nums, txids, stakes, keys };
}

/** A packed batch's blocks: each walked one's header (a view of `bytes`) and walk, its candidates' bytes views of `bytes`. */
export function unpackWalks(batch: WalkedBatch): ({ header: Uint8Array; walked: WalkedBlock } | undefined)[] {
  const { bytes, nums, txids, stakes, keys } = batch;
  const blocks: ({ header: Uint8Array; walked: WalkedBlock } | undefined)[] = [];
  let k = 0;
  let t = 0;
  let s = 0;
  while (k < nums.length) {
    if (nums[k++] === 0) {
      blocks.push(undefined);
      continue;
    }
    const txCount = nums[k++]!;
    const n = nums[k++]!;
    const decided = nums[k++] === 1;
    const headerAt = nums[k++]!;
    const candidates: WalkedTx[] = [];
    for (let j = 0; j < n; j++, k += CANDIDATE_INTS) {
      const flags = nums[k + 5]!;
      const txid = (flags & HAS_TXID) !== 0 ? txids[t++] : undefined;
      const c = unpackCandidate(nums, k, bytes, txid);
      if ((flags & HAS_STAKE) !== 0) {
        candidates.push(walkedTx(c, txid, stakes[s], keys[s]));
        s++;
      } else {
        candidates.push(walkedTx(c, txid, undefined, undefined));
      }
    }
    blocks.push({
      header: bytes.subarray(headerAt, headerAt + HEADER_BYTES),
      walked: { txCount, candidates, decided },
    });
  }
  return blocks;
}
const HEADER_BYTES = 80;

/**
 * A batch of prescanned blocks as it crosses from the verdicts thread to the main thread, packed
 * as `WalkedBatch` is (a structured clone of an object a candidate cost the sender and the main
 * thread several µs of CPU a block each): the bytes are the walks' own buffer, which the headers
 * and candidates' bytes are views of; the few verdicts and unbonding scripts go as objects.
 */
export interface PrescanBatch {
  readonly bytes: Uint8Array;
  /**
   * A block: 0 without a prescan; else 1, its tx count, its candidate count, the header's offset
   * in `bytes`, then per candidate `CANDIDATE_INTS` numbers (as in `WalkedBatch`).
   */
  readonly nums: Int32Array;
  readonly txids: readonly string[];
  readonly stakes: readonly NonNullable<PrescannedTx['stake']>[];
  readonly unbondings: readonly UnbondingMadeAhead[];
}

/** A prescanned block: its header, and its prescan (the header and candidates' bytes views of one buffer). */
export interface HeaderPrescan {
  readonly header: Uint8Array;
  readonly prescan: BlockPrescan;
}

/**
 * Blocks whose headers and candidates' bytes are all views of `bytes` (from its offset 0), packed.
 * @throws {Error} when a view is of another buffer (a defect of the caller)
 */
export function packPrescans(
  bytes: Uint8Array,
  blocks: readonly (HeaderPrescan | undefined)[],
): PrescanBatch {
  const offset = (v: Uint8Array): number => {
    if (v.buffer !== bytes.buffer) throw new Error('packPrescans: a view of another buffer');
    return v.byteOffset - bytes.byteOffset;
  };
  let ints = 0;
  for (const b of blocks) ints += b ? 4 + b.prescan.candidates.length * CANDIDATE_INTS : 1;
  const nums = new Int32Array(ints);
  const txids: string[] = [];
  const stakes: NonNullable<PrescannedTx['stake']>[] = [];
  const unbondings: UnbondingMadeAhead[] = [];
  let k = 0;
  for (const b of blocks) {
    if (!b) {
      nums[k++] = 0;
      continue;
    }
    const cs = b.prescan.candidates;
    nums[k++] = 1;
    nums[k++] = b.prescan.txCount;
    nums[k++] = cs.length;
    nums[k++] = offset(b.header);
    for (const c of cs) {
      if (c.stake) stakes.push(c.stake);
      if (c.unbonding) unbondings.push(c.unbonding);
      const extra = (c.stake ? HAS_STAKE : 0) | (c.unbonding ? HAS_UNBONDING : 0);
      packCandidate(nums, k, c, offset(c.bytes), txids, extra);
      k += CANDIDATE_INTS;
    }
  }
  return { bytes, nums, txids, stakes, unbondings };
}

/** A packed batch's blocks (`packPrescans`), each candidate a literal of `prescanned`'s shapes. */
export function unpackPrescans(batch: PrescanBatch): (HeaderPrescan | undefined)[] {
  const { bytes, nums, txids, stakes, unbondings } = batch;
  const blocks: (HeaderPrescan | undefined)[] = [];
  let k = 0;
  let t = 0;
  let s = 0;
  let u = 0;
  while (k < nums.length) {
    if (nums[k++] === 0) {
      blocks.push(undefined);
      continue;
    }
    const txCount = nums[k++]!;
    const n = nums[k++]!;
    const headerAt = nums[k++]!;
    const candidates: PrescannedTx[] = [];
    for (let j = 0; j < n; j++, k += CANDIDATE_INTS) {
      const flags = nums[k + 5]!;
      const txid = (flags & HAS_TXID) !== 0 ? txids[t++] : undefined;
      const stake = (flags & HAS_STAKE) !== 0 ? stakes[s++] : undefined;
      const unbonding = (flags & HAS_UNBONDING) !== 0 ? unbondings[u++]! : undefined;
      candidates.push(prescanned(unpackCandidate(nums, k, bytes, txid), txid, stake, unbonding));
    }
    blocks.push({
      header: bytes.subarray(headerAt, headerAt + HEADER_BYTES),
      prescan: { txCount, candidates },
    });
  }
  return blocks;
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
 * before the range (`preScanBlock`): its walks (`RangeWalk`) then their verdicts (`RangeVerdicts`),
 * here on one thread. A block whose prescan fails (bytes that do not parse) gets none, and neither
 * does any later block of the range: the filter may now miss that block's outputs. Without a
 * prescan, the processor walks the block itself with the state's own filter.
 */
export class RangePrescan {
  readonly #walk: RangeWalk;
  readonly #verdicts: RangeVerdicts;

  /** `seen`: the stakes earlier ranges saw, so that their unbondings' scripts are made here too. */
  constructor(params: GlobalParams, tracked: Iterable<number>, seen = new StakesSeen()) {
    this.#walk = new RangeWalk(params, tracked);
    this.#verdicts = new RangeVerdicts(params, seen);
  }

  /** The next block's prescan, or undefined. Never throws. */
  next(height: number, raw: Uint8Array): BlockPrescan | undefined {
    return this.#verdicts.next(height, this.#walk.next(height, raw));
  }
}

/**
 * The walks (`walkBlock`) of one range's blocks, in height order, from the state's filter after
 * the block before the range. None for a block that does not parse, nor for any later block of
 * the range (the filter may now miss that block's outputs).
 */
export class RangeWalk {
  readonly #params: GlobalParams;
  #maybeTracked: PrefixSet | undefined;

  constructor(params: GlobalParams, tracked: Iterable<number>) {
    this.#params = params;
    this.#maybeTracked = new PrefixSet(tracked);
  }

  /** The next block's walk (with its verdicts: `decide`), or undefined. Never throws. */
  next(height: number, raw: Uint8Array, decide = false): WalkedBlock | undefined {
    if (!this.#maybeTracked) return undefined;
    try {
      return walkBlock(this.#params, height, raw, this.#maybeTracked, decide);
    } catch {
      this.#maybeTracked = undefined;
      return undefined;
    }
  }
}

/**
 * The verdicts (`decideWalked`) of one range's walked blocks, in height order. None for a block
 * without a walk, and none for any block from one whose verdicts failed on (a defect: chain data
 * makes none fail) to the end of the range, whose blocks the processor then walks and decides itself.
 */
export class RangeVerdicts {
  readonly #params: GlobalParams;
  readonly #seen: StakesSeen;
  #failed = false;

  /** `seen`: the stakes earlier blocks and ranges showed, in order; it learns this range's. */
  constructor(params: GlobalParams, seen: StakesSeen) {
    this.#params = params;
    this.#seen = seen;
  }

  /** The prescan of the next block, from its walk, or undefined. Never throws. */
  next(height: number, walked: WalkedBlock | undefined): BlockPrescan | undefined {
    if (!walked || this.#failed) return undefined;
    try {
      return decideWalked(this.#params, height, walked, this.#seen);
    } catch {
      this.#failed = true;
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
