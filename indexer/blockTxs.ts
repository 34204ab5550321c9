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

function blockTx(
  decode: () => Transaction,
  candidate: (CandidateTx & { readonly unbonding?: UnbondingMadeAhead }) | undefined,
  stake?: StakeVerdict,
): BlockTx {
  let txid = (stake?.kind === 'not-staking' ? undefined : stake?.txid) ?? candidate?.txid;
  let tx: Transaction | undefined;
  return {
    get tx() {
      tx ??= decode();
      return tx;
    },
    bytes: candidate?.bytes,
    stake,
    spends: candidate?.spends ?? true,
    unbonding: candidate?.unbonding,
    // Called unbound (destructured), so no `this`.
    id() {
      if (txid === undefined && candidate) txid = candidateTxid(candidate);
      if (txid === undefined) {
        tx ??= decode();
        txid = tx.getId();
      }
      return txid;
    },
  };
}

const NOT_STAKING: StakeVerdict = { kind: 'not-staking' };

/** The transactions of a block worth decoding. */
export function* blockTxs(
  block: BlockInput,
  tag: Uint8Array | undefined,
  state: StateReader,
  stats: BlockStats,
): Generator<BlockTx> {
  if (block.txs) {
    stats.txCount = block.txs.length;
    for (const tx of block.txs) {
      stats.decoded++;
      yield blockTx(() => tx, undefined);
    }
    return;
  }
  if (block.prescan) {
    stats.txCount = block.prescan.txCount;
    for (const c of block.prescan.candidates) {
      const btx = candidateTx(c, c.stake ?? NOT_STAKING, stats);
      if (btx) yield btx;
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
    if (btx) yield btx;
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
    return blockTx(() => decodeTransaction(c.bytes), c, stake);
  }
  let tx: Transaction;
  try {
    tx = decodeTransaction(c.bytes);
  } catch {
    // The walk parsed it, so this cannot happen with a node's block; never stop on it.
    stats.failures++;
    return undefined;
  }
  return blockTx(() => tx, c, stake);
}
