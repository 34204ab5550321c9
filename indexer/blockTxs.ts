import type { Transaction } from 'bitcoinjs-lib';
import { decodeTransaction } from '../staking/index.ts';
import type { BlockStats } from './blockResult.ts';
import type { BlockPrescan } from './prescan.ts';
import { type CandidateTx, candidateTxid, scanBlock } from './rawBlock.ts';
import type { UnbondingMadeAhead } from './spendRules.ts';
import type { StakeVerdict } from './stakeVerdict.ts';
import { hashPrefix, type StateReader } from './state.ts';

/** A block as the processor gets it: raw bytes (production) or decoded txs (tests). */
export interface BlockInput {
  readonly height: number;
  readonly hash: string;
  /** Header time, unix seconds. */
  readonly time: number;
  /**
   * The serialized block; the processor scans it and decodes only candidate txs. With `prescan`,
   * it may be the block's 80-byte header alone (the fetch thread hands over no more): nothing
   * reads past the header then.
   */
  readonly raw?: Uint8Array;
  /** Or the block's transactions, already decoded (every one is examined). */
  readonly txs?: readonly Transaction[];
  /**
   * With `raw`: its candidates and their staking verdicts, found beforehand (`preScanBlock`, on
   * the fetch thread); the processor then does not walk the block itself.
   */
  readonly prescan?: BlockPrescan;
}

/**
 * A transaction worth deciding on, with its bytes (for the events' tx hex), its txid, computed
 * once, and its staking verdict when one was made beforehand. `tx` is decoded on first use: a
 * stake whose verdict came with the block and whose inputs cannot spend a tracked output
 * (`spends` false) is decided without decoding it.
 */
export interface BlockTx {
  readonly tx: Transaction;
  readonly bytes: Uint8Array | undefined;
  readonly stake: StakeVerdict | undefined;
  /** Whether an input may spend a tracked output (always true for a decoded block's txs). */
  readonly spends: boolean;
  /** Its unbonding output's script, made by the prescan when it spends a stake it saw. */
  readonly unbonding: UnbondingMadeAhead | undefined;
  id(): string;
}

/**
 * A class rather than a literal with a getter and closures: the runtime builds such a literal's
 * accessor at every call, and tsx names every closure with a defineProperty call, per transaction.
 */
class CandidateBlockTx implements BlockTx {
  readonly bytes: Uint8Array | undefined;
  readonly stake: StakeVerdict | undefined;
  readonly spends: boolean;
  readonly unbonding: UnbondingMadeAhead | undefined;
  #tx: Transaction | undefined;
  #txid: string | undefined;
  readonly #candidate: CandidateTx | undefined;

  constructor(
    tx: Transaction | undefined,
    candidate: (CandidateTx & { readonly unbonding?: UnbondingMadeAhead }) | undefined,
    stake?: StakeVerdict,
  ) {
    this.#tx = tx;
    this.#candidate = candidate;
    this.bytes = candidate?.bytes;
    this.stake = stake;
    this.spends = candidate?.spends ?? true;
    this.unbonding = candidate?.unbonding;
    this.#txid = (stake?.kind === 'not-staking' ? undefined : stake?.txid) ?? candidate?.txid;
  }
  /** Without a decoded tx, `candidate`'s bytes decoded (they did once: the verdict was made on them). */
  get tx(): Transaction {
    this.#tx ??= decodeTransaction(this.#candidate!.bytes);
    return this.#tx;
  }
  id(): string {
    if (this.#txid === undefined && this.#candidate) this.#txid = candidateTxid(this.#candidate);
    this.#txid ??= this.tx.getId();
    return this.#txid;
  }
}

const NOT_STAKING: StakeVerdict = { kind: 'not-staking' };

/**
 * Calls `visit` with each transaction of a block worth decoding, in block order. A callback, not
 * a generator: resuming a generator per transaction was a visible part of deciding a block. A
 * raw block without a prescan is still walked lazily, each candidate after `visit` returned for
 * the one before, so that `state` (`mayTrack`) sees the outputs the block's earlier txs track.
 */
export function forEachBlockTx(
  block: BlockInput,
  tag: Uint8Array | undefined,
  state: StateReader,
  stats: BlockStats,
  visit: (btx: BlockTx) => void,
): void {
  if (block.txs) {
    stats.txCount = block.txs.length;
    for (const tx of block.txs) {
      stats.decoded++;
      visit(new CandidateBlockTx(tx, undefined));
    }
    return;
  }
  if (block.prescan) {
    stats.txCount = block.prescan.txCount;
    const candidates = block.prescan.candidates;
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      const btx = candidateTx(c, c.stake ?? NOT_STAKING, stats);
      if (btx) visit(btx);
    }
    return;
  }
  const it = scanBlock(block.raw!, { tag, mayTrack: (buf, off) => state.mayTrack(hashPrefix(buf, off)) });
  for (;;) {
    const r = it.next();
    if (r.done) {
      stats.txCount = r.value;
      return;
    }
    const btx = candidateTx(r.value, undefined, stats);
    if (btx) visit(btx);
  }
}

/**
 * A candidate to decide, with its verdict when one was made beforehand; undefined (counted as a
 * failure) when its bytes do not decode.
 */
function candidateTx(
  c: CandidateTx & { readonly unbonding?: UnbondingMadeAhead },
  stake: StakeVerdict | undefined,
  stats: BlockStats,
): BlockTx | undefined {
  stats.decoded++;
  if (stake && stake.kind !== 'not-staking' && !c.spends) {
    // Decided beforehand, on bytes that decoded: nothing here needs its fields.
    return new CandidateBlockTx(undefined, c, stake);
  }
  let tx: Transaction;
  try {
    tx = decodeTransaction(c.bytes);
  } catch {
    // The walk parsed it, so this cannot happen with a node's block; never stop on it.
    stats.failures++;
    return undefined;
  }
  return new CandidateBlockTx(tx, c, stake);
}
