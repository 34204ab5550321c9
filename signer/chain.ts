import type { Transaction } from 'bitcoinjs-lib';
import type { RpcClient } from '../bitcoind/index.ts';
import { CodedError, isCodedError, parseHex, toHex } from '../common/index.ts';
import { parseTransaction } from '../staking/index.ts';

/** What the signer asks of its own node. */
export interface ChainView {
  /**
   * The raw tx (txindex) and, when it is in a block, the block's hash and the tx's confirmations on
   * the active chain (0 when its block is not on the active chain), as of one instant after the call.
   */
  getTransaction(txid: string): Promise<{
    readonly hex: string;
    readonly blockhash: string | undefined;
    readonly confirmations: number;
    /**
     * The tx parsed, when the view keeps it with a cached fact: parsed at the first call, then the
     * same object for every request that asks again (read it, never change it). Absent: parse `hex`.
     */
    readonly parse?: () => Transaction;
  }>;
  /** The height of a block. */
  getBlockHeight(blockhash: string): Promise<number>;
  /**
   * Where an unspent output's tx sits on the active chain: its block's height and its confirmations,
   * both from one `gettxout` (the node reads the coin's height and the tip under one lock, so the
   * two agree). Undefined when the output is not in the node's UTXO set: spent, unconfirmed or
   * unknown; ask getTransaction then. Absent in a view that cannot answer it (getTransaction always
   * can). For a caller that already holds the tx: the node's answer costs a quarter of
   * getrawtransaction's, which reads the tx through txindex.
   */
  getUnspentInclusion?(
    txid: string,
    vout: number,
  ): Promise<{ readonly height: number; readonly confirmations: number } | undefined>;
}

/** bitcoind's RPC_INVALID_ADDRESS_OR_KEY: "No such mempool or blockchain transaction". */
const RPC_NOT_FOUND = -5;
const HEIGHT_CACHE_SIZE = 10_000;

function unavailable(e: unknown): CodedError {
  return new CodedError('SIGNER_DEPENDENCY_UNAVAILABLE', 'the signer’s Bitcoin node did not answer', {
    cause: e,
  });
}

function notFoundOr(e: unknown, txid: string): CodedError {
  if (isCodedError(e, 'RPC_ERROR') && e.details?.rpcCode === RPC_NOT_FOUND) {
    return new CodedError(
      'SIGNER_STAKING_TX_NOT_FOUND',
      `staking tx ${txid} is not known to the signer’s node`,
    );
  }
  return unavailable(e);
}

/** The node's lowercase hex as bytes; undefined for anything else (a hit gives back its lowercase hex). */
function bytesOf(hex: string): Uint8Array | undefined {
  if (/[A-F]/.test(hex)) return undefined;
  try {
    return parseHex(hex, 'staking tx from the node', 'STAKING_BAD_HEX');
  } catch {
    return undefined;
  }
}

/** A Map that forgets its oldest entry past `max`. */
function remember<K, V>(map: Map<K, V>, max: number, key: K, value: V): void {
  if (!map.has(key) && map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/** The active chain's tip as one check saw it. */
interface Tip {
  readonly hash: string;
  readonly height: number;
}

/** A completed tip check: the tip, how many tip changes the tracker has applied, and the check's number. */
interface Observation {
  readonly tip: Tip;
  readonly moves: number;
  readonly check: number;
}

/**
 * The node's active chain as last seen: its tip, and the hashes of its last `window` blocks by
 * height, refreshed by one getbestblockhash per check. Checks are shared: a caller gets the answer
 * of a check whose getbestblockhash was sent after it called, never an older one, and every caller
 * that arrives while a check is out waits for the next one (one RPC for all of them, as the audit
 * log's group commit does one fsync).
 *
 * When the tip moved, the new tip's headers are walked back (previousblockhash) until one is a block
 * of the window at the same height: that block is the fork point, and since a block hash commits to
 * all its ancestors, every block at or below it is on both chains. `onMove(fork)` is told it, and
 * `undefined` when the walk left the window (a re-org or a jump deeper than the window: nothing old
 * is known to be on the new chain); the window then holds the new chain's hashes. A new block costs
 * one getblockheader; a re-org of depth d, d + 1.
 */
export class ActiveChain {
  readonly #rpc: RpcClient;
  readonly #window: number;
  readonly #onMove: (fork: number | undefined) => void;
  #tip: Tip | undefined;
  readonly #hashes = new Map<number, string>();
  #moves = 0;
  #checks = 0;
  #running: Promise<Observation> | undefined;
  #queued: Promise<Observation> | undefined;

  constructor(rpc: RpcClient, onMove: (fork: number | undefined) => void, window = 2016) {
    this.#rpc = rpc;
    this.#onMove = onMove;
    this.#window = window;
  }

  /** The tip as a check sent after this call saw it; then `tip`, `hashAt` and the facts agree with it. */
  observe(): Promise<Observation> {
    if (!this.#running) {
      const run = this.#check().finally(() => {
        if (this.#running === run) this.#running = undefined;
      });
      this.#running = run;
      return run;
    }
    // The check out now was sent before this call: its answer may be older than the caller.
    this.#queued ??= this.#running
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.observe();
      });
    return this.#queued;
  }

  get tip(): Tip | undefined {
    return this.#tip;
  }

  /** Tip changes applied so far: equal numbers mean the same tip hash in between. */
  get moves(): number {
    return this.#moves;
  }

  /** Checks started so far (a check numbered above n sent its getbestblockhash after n was read). */
  get checksStarted(): number {
    return this.#checks;
  }

  /** The hash at `height` on the current tip's chain, if it is within the window. */
  hashAt(height: number): string | undefined {
    return this.#hashes.get(height);
  }

  /** The lowest height the window covers (Infinity before the first check). */
  get floor(): number {
    return this.#tip ? this.#tip.height - this.#hashes.size + 1 : Number.POSITIVE_INFINITY;
  }

  async #check(): Promise<Observation> {
    const check = ++this.#checks;
    try {
      const best = await this.#rpc.getbestblockhash();
      if (best !== this.#tip?.hash) await this.#moveTo(best);
    } catch (e) {
      throw unavailable(e);
    }
    return { tip: this.#tip!, moves: this.#moves, check };
  }

  async #header(hash: string): Promise<{ readonly height: number; readonly prev: string | undefined }> {
    const h = await this.#rpc.getblockheader(hash, true);
    return { height: h.height, prev: h.previousblockhash };
  }

  async #moveTo(best: string): Promise<void> {
    const top = await this.#header(best);
    const walked: Array<[number, string]> = [[top.height, best]];
    let fork: number | undefined;
    let hash = top.prev;
    let height = top.height - 1;
    while (hash !== undefined && height >= 0 && walked.length < this.#window) {
      if (this.#hashes.get(height) === hash) {
        fork = height;
        break;
      }
      if (height < this.floor) break;
      const h = await this.#header(hash);
      walked.push([height, hash]);
      hash = h.prev;
      height--;
    }
    // Applied in one synchronous step: a caller never sees half of a move.
    if (fork === undefined) this.#hashes.clear();
    else for (const h of [...this.#hashes.keys()]) if (h > fork) this.#hashes.delete(h);
    for (const [h, x] of walked) this.#hashes.set(h, x);
    for (let h = top.height - this.#window; this.#hashes.delete(h); h--);
    const first = this.#tip === undefined;
    this.#tip = { hash: best, height: top.height };
    this.#moves++;
    // The first check has nothing to reconcile: no fact was confirmed against an earlier tip.
    if (!first) this.#onMove(fork);
  }
}

/**
 * What the cache knows of a confirmed staking tx: its bytes, its block and that block's height.
 * Bytes, not the node's hex: a fact outlives a request, so every fact is copied by a scavenge and
 * promoted, and the hex string was the largest thing each request left alive (signer/README.md,
 * Performance). The block hash is the tracked window's own string when the window has that block,
 * so facts of one block share it.
 */
interface Fact {
  readonly bytes: Uint8Array;
  readonly blockhash: string;
  readonly height: number;
  /** Parsed at the first use of a hit, for every later one. */
  parsed?: Transaction;
  /**
   * Until confirmed against the tracked chain: the tracker's tip-change count when the lookup was
   * sent, and its check count when the answer came back.
   */
  pending?: { readonly moves: number; readonly checksBefore: number };
}

export interface ChainCacheStats {
  /** Lookups answered from a confirmed fact, with one shared tip check. */
  hits: number;
  /** Lookups that asked the node (getrawtransaction). */
  misses: number;
  /** Facts dropped because their block left the active chain, or might have. */
  dropped: number;
}

/**
 * The signer's chain view with confirmed chain facts cached (issue 26). A staking tx's block and
 * height can only change by a re-org; its depth is the tip's height minus that height plus one.
 *
 * Safety: a cached fact is only used when the fact's block is an ancestor of (or is) a tip the node
 * reported after the request arrived. The argument:
 *   1. Every lookup that uses a fact first waits for a tip check sent after it was made
 *      (ActiveChain.observe), and reads the tip and the fact in the same synchronous step after it:
 *      never a tip older than the request, never a fact the tip check has not reconciled.
 *   2. A fact is kept only while its block is an ancestor of the tracked tip. When the tip moves,
 *      the new chain is walked back to the fork point by block hashes (immutable: a hash commits to
 *      every ancestor); facts above the fork are dropped, and all facts are dropped when the fork is
 *      deeper than the tracked window. No answer about the active chain is trusted here: only hashes.
 *   3. A fact enters the cache from a getrawtransaction answer (confirmations ≥ 1: on the active
 *      chain at that instant), and is first used only once it is known to be about the tracked
 *      chain: within the window, when the window's hash at its height is its block (by hashes);
 *      below it, when a tip check sent after the answer saw the same tip hash as the tracker held
 *      when the lookup was sent. bitcoind only switches its active chain to one with strictly more
 *      work, so the same tip at two instants means the same tip in between (the operator RPCs
 *      invalidateblock and preciousblock can break this; restart the signer after using them).
 *   4. A lookup the cache cannot answer is the uncached one: getrawtransaction's own confirmations.
 * So a depth decision always rests on the chain as the node reported it after the request arrived,
 * as without the cache. The saving: a repeated or retried request for a stake costs one shared
 * getbestblockhash (one per check, however many requests wait on it) instead of a getrawtransaction,
 * and concurrent lookups share one JSON-RPC batch.
 */
export function rpcChainView(
  rpc: RpcClient,
  opts: { readonly maxFacts?: number; readonly window?: number } = {},
): ChainView & { readonly stats: ChainCacheStats; readonly chain: ActiveChain } {
  const maxFacts = opts.maxFacts ?? 10_000;
  const facts = new Map<string, Fact>();
  const heights = new Map<string, number>();
  const asking = new Map<string, Promise<number>>();
  const stats: ChainCacheStats = { hits: 0, misses: 0, dropped: 0 };
  const chain = new ActiveChain(
    rpc,
    (fork) => {
      for (const [txid, f] of facts) {
        // At or below the fork: on both chains. Above it: kept only if the new chain has its block.
        if (fork !== undefined && f.height <= fork) continue;
        if (chain.hashAt(f.height) === f.blockhash) f.pending = undefined;
        else {
          facts.delete(txid);
          stats.dropped++;
        }
      }
    },
    opts.window,
  );
  const lookups = batcher(rpc);

  /** Whether a fact is about the tracked chain, now that a check sent after the lookup answered. */
  const confirm = (f: Fact, seen: Observation): boolean => {
    if (!f.pending) return true;
    const ok =
      f.height >= chain.floor
        ? chain.hashAt(f.height) === f.blockhash
        : seen.check > f.pending.checksBefore && chain.moves === f.pending.moves;
    if (ok) f.pending = undefined;
    return ok;
  };

  return {
    stats,
    chain,
    async getTransaction(txid) {
      if (facts.has(txid)) {
        const seen = await chain.observe();
        // Read again after the wait: the check may have dropped it.
        const f = facts.get(txid);
        if (f && confirm(f, seen)) {
          stats.hits++;
          return {
            hex: toHex(f.bytes),
            blockhash: f.blockhash,
            confirmations: chain.tip!.height - f.height + 1,
            parse: () => (f.parsed ??= parseTransaction(f.bytes, 'staking tx from the node')),
          };
        }
      }
      stats.misses++;
      const moves = chain.moves;
      const tx = await lookups(txid);
      const confirmations = tx.confirmations ?? 0;
      if (tx.blockhash && confirmations >= 1) {
        const height = await blockHeight(tx.blockhash);
        // Not usable until confirmed against the tracked chain (point 3 above). A hex the node
        // should never send is not kept: the caller's own parse of it refuses it, as uncached.
        const bytes = chain.moves === moves ? bytesOf(tx.hex) : undefined;
        if (bytes) {
          const known = chain.hashAt(height);
          const f: Fact = {
            bytes,
            blockhash: known === tx.blockhash ? known : tx.blockhash,
            height,
            pending: { moves, checksBefore: chain.checksStarted },
          };
          remember(facts, maxFacts, txid, f);
          // The caller parses the bytes just decoded, not the hex a second time; a later hit reuses it.
          return {
            hex: tx.hex,
            blockhash: tx.blockhash,
            confirmations,
            parse: () => (f.parsed ??= parseTransaction(f.bytes, 'staking tx from the node')),
          };
        }
      }
      return { hex: tx.hex, blockhash: tx.blockhash, confirmations };
    },
    getBlockHeight: blockHeight,
    // Not cached: one gettxout (about 0.13 ms here) is as cheap as a cached fact's tip check.
    async getUnspentInclusion(txid, vout) {
      let out: Awaited<ReturnType<RpcClient['gettxout']>>;
      try {
        // Without the mempool: an unconfirmed output is not an answer here.
        out = await rpc.gettxout(txid, vout, false);
      } catch (e) {
        throw unavailable(e);
      }
      // Anything but a confirmed coin with its tip's hash leaves the answer to getTransaction.
      if (
        !out ||
        !Number.isSafeInteger(out.confirmations) ||
        out.confirmations < 1 ||
        typeof out.bestblock !== 'string' ||
        !/^[0-9a-f]{64}$/.test(out.bestblock)
      )
        return undefined;
      const tip = await blockHeight(out.bestblock);
      return { height: tip - out.confirmations + 1, confirmations: out.confirmations };
    },
  };

  /**
   * A block's height: kept once known (a hash's height never changes), else from its header, and
   * lookups answered together for one new block share one call.
   */
  function blockHeight(blockhash: string): Promise<number> {
    const known = heights.get(blockhash);
    if (known !== undefined) return Promise.resolve(known);
    let out = asking.get(blockhash);
    if (!out) {
      out = headerHeight(blockhash).finally(() => asking.delete(blockhash));
      asking.set(blockhash, out);
    }
    return out;
  }

  async function headerHeight(blockhash: string): Promise<number> {
    let height: number;
    try {
      height = (await rpc.getblockheader(blockhash, true)).height;
    } catch (e) {
      throw unavailable(e);
    }
    remember(heights, HEIGHT_CACHE_SIZE, blockhash, height);
    return height;
  }
}

type Lookup = { readonly hex: string; readonly blockhash?: string; readonly confirmations?: number };

/**
 * getrawtransaction (verbose) for concurrent callers in one JSON-RPC batch: while one batch is out,
 * the lookups that arrive wait and leave together in the next. When none is out, the first lookup
 * leaves at the end of the event loop's current turn (setImmediate), with every lookup the same turn
 * asked for: requests that arrive together (one poll phase reads them all) share one HTTP request
 * instead of the first going alone and the rest waiting for its answer. An RPC costs far more CPU
 * than a turn costs time; alone, a lookup waits for nothing else.
 */
function batcher(rpc: RpcClient): (txid: string) => Promise<Lookup> {
  type Waiter = { txid: string; resolve: (l: Lookup) => void; reject: (e: unknown) => void };
  let queue: Waiter[] = [];
  let out = false;
  const send = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        if (batch.length === 1) {
          batch[0]!.resolve(await rpc.getrawtransaction(batch[0]!.txid, true));
        } else {
          const answers = await rpc.batch<Lookup>(
            batch.map((w) => ({ method: 'getrawtransaction', params: [w.txid, true] })),
          );
          for (const [i, a] of answers.entries()) {
            if (a.ok) batch[i]!.resolve(a.result);
            else batch[i]!.reject(notFoundOr(a.error, batch[i]!.txid));
          }
        }
      } catch (e) {
        for (const w of batch) w.reject(notFoundOr(e, w.txid));
      }
    }
    out = false;
  };
  return (txid) =>
    new Promise<Lookup>((resolve, reject) => {
      queue.push({ txid, resolve, reject });
      if (!out) {
        out = true;
        setImmediate(() => void send());
      }
    });
}
