import type { RpcClient } from '../bitcoind/index.ts';
import { CodedError } from '../common/index.ts';
import { type BtcInfoEvent, EVENT_TYPE_OF_KIND, type UnsequencedEvent } from '../events/index.ts';
import { type GlobalParams, indexerConfirmationDepth } from '../params/index.ts';
import type { BlockResult, Rejection } from './blockResult.ts';
import type { BlockInput } from './blockTxs.ts';
import type { IndexerErrorCode } from './errors.ts';
import { type BlockFetcher, batchOk, fetchAhead, rpcBlockSource } from './fetchAhead.ts';
import { processBlock } from './processor.ts';
import { readHeader } from './rawBlock.ts';
import type { IndexerStore } from './store.ts';
import { computeUnconfirmedTvl } from './unconfirmedTvl.ts';

/**
 * Follows a node over RPC: decides on confirmed blocks only (tip − h + 1 ≥ versions[0]'s
 * confirmation_depth, as the reference), keeps the unconfirmed window (the last depth − 1 blocks)
 * for the unconfirmed TVL, and never writes anything the window says. A block already decided
 * that is no longer on the node's best chain is a re-organisation deeper than the depth: the
 * follower stops with INDEXER_MAJOR_REORG naming the fork point.
 *
 * Initial sync fetches ahead: heights are fetched in JSON-RPC batches (getblockhash, then getblock
 * verbosity 0) with several batches in flight while earlier blocks are processed, and blocks are
 * committed many at a time (each whole, with its events) in one LMDB transaction.
 */

export interface FollowerOptions {
  readonly rpc: RpcClient;
  readonly params: GlobalParams;
  readonly store: IndexerStore;
  /** Blocks per JSON-RPC batch (default 16). */
  readonly fetchBatch?: number;
  /** Batches in flight (default 8). */
  readonly fetchConcurrency?: number;
  /** Most blocks per LMDB transaction (default 200). */
  readonly commitMaxBlocks?: number;
  /**
   * Where confirmed blocks come from (default: fetched on this thread with `rpc`). The service
   * passes a FetchThread, which fetches and prescans them on a worker thread; `tracked` is the
   * state's prefilter (`IndexerStore.trackedPrefixes`) as the range starts.
   */
  readonly fetcher?: (from: number, to: number, tracked: ReadonlySet<number>) => BlockFetcher;
  readonly hooks?: FollowerHooks;
  /** After each confirmed block, a confirmed-info event (the reference's `ExtraEventEnabled`). */
  readonly confirmedInfoEvents?: boolean;
}

export interface FollowerHooks {
  onBlocks?(results: readonly { height: number; result: BlockResult }[]): void;
  onWindow?(info: {
    tip: number;
    unconfirmedTvl: number;
    confirmedTvl: number;
    rejections: readonly Rejection[];
  }): void;
  onCommitted?(): void;
  onTip?(tip: number): void;
}

export interface PollResult {
  readonly tip: number;
  readonly processed: number;
  readonly lastHeight: number | undefined;
}

export class ChainFollower {
  readonly #o: FollowerOptions;
  readonly depth: number;
  readonly startHeight: number;
  #lastInfoTipHash: string | undefined;
  #windowCache = new Map<string, BlockInput>();
  #seenWindowBlocks = new Set<string>();

  constructor(o: FollowerOptions) {
    this.#o = o;
    this.depth = indexerConfirmationDepth(o.params);
    this.startHeight = o.params.versions[0]!.activationHeight;
  }

  /**
   * One poll: check our last block is still on the best chain, process every newly confirmed
   * block, then the unconfirmed window (btc-info when the tip changed).
   * @throws {CodedError} INDEXER_MAJOR_REORG (fatal); RPC_… codes (transient: the caller retries)
   */
  async poll(shouldStop: () => boolean = () => false): Promise<PollResult> {
    const { rpc, store } = this.#o;
    const tip = await rpc.getblockcount();
    this.#o.hooks?.onTip?.(tip);
    const last = store.last();
    if (last && last.height <= tip) {
      const hash = await rpc.getblockhash(last.height);
      if (hash !== last.hash) await this.#majorReorg(last.height);
    }
    const confirmedTip = tip - this.depth + 1;
    let next = (last?.height ?? this.startHeight - 1) + 1;
    let prevHash = last?.hash;
    let processed = 0;
    if (next <= confirmedTip) {
      const fetcher =
        this.#o.fetcher?.(next, confirmedTip, store.trackedPrefixes()) ??
        fetchAhead(rpcBlockSource(rpc), next, confirmedTip, {
          batch: this.#o.fetchBatch ?? 16,
          concurrency: this.#o.fetchConcurrency ?? 8,
        });
      try {
        while (next <= confirmedTip && !shouldStop()) {
          const max = this.#o.commitMaxBlocks ?? 200;
          const ready = await fetcher.take(max);
          // Far behind, a commit of at least half the most: each commit waits for its flush to
          // disk (6–10 ms here), and when the decisions outpace the fetch thread, taking only
          // what is ready made ever smaller commits, each paying that wait. Blocks already
          // fetched are waited for, never blocks beyond the confirmed tip.
          while (ready.length < max / 2 && next + ready.length <= confirmedTip && !shouldStop()) {
            ready.push(...(await fetcher.take(max - ready.length)));
          }
          const inputs: BlockInput[] = [];
          for (const b of ready) {
            const header = readHeader(b.raw);
            if (header.hashHex !== b.hash) {
              throw new CodedError<IndexerErrorCode>(
                'INDEXER_BAD_BLOCK',
                `block ${b.height} does not hash to ${b.hash}`,
              );
            }
            if (prevHash !== undefined && header.prevHashHex !== prevHash) {
              // The chain moved under the fetch (or a deep re-org): the next poll decides which.
              throw new ChainMoved(b.height);
            }
            prevHash = b.hash;
            inputs.push({
              height: b.height,
              hash: b.hash,
              time: header.time,
              raw: b.raw,
              prescan: b.prescan,
            });
          }
          const results = store.commitBlocks(inputs, (block, state) => {
            const r = processBlock(this.#o.params, block, state);
            if (!this.#o.confirmedInfoEvents) return r;
            // In the block's own write, after its events: as the reference indexer sends it.
            const info: UnsequencedEvent = {
              event_type: EVENT_TYPE_OF_KIND['confirmed-info'],
              event_id: `confirmed-info:${block.height}`,
              height: block.height,
              tvl: r.tvl,
            };
            // Object.assign, not a spread followed by properties: see `Overlay.putDelegation`.
            return Object.assign({}, r, { events: [...r.events, info] });
          });
          processed += inputs.length;
          next += inputs.length;
          this.#o.hooks?.onBlocks?.(inputs.map((b, i) => ({ height: b.height, result: results[i]! })));
          this.#o.hooks?.onCommitted?.();
        }
      } catch (e) {
        if (e instanceof ChainMoved) return { tip, processed, lastHeight: store.last()?.height };
        throw e;
      } finally {
        fetcher.cancel();
      }
    }
    if (!shouldStop()) await this.#window(tip, confirmedTip);
    return { tip, processed, lastHeight: store.last()?.height };
  }

  /** Finds the fork point (the highest stored block still on the best chain) and stops. */
  async #majorReorg(height: number): Promise<never> {
    const { rpc, store } = this.#o;
    let h = height;
    const floor = store.startHeight() ?? this.startHeight;
    while (h >= floor) {
      const ours = store.blockHash(h);
      const theirs = await rpc.getblockhash(h).catch(() => undefined);
      if (ours !== undefined && ours === theirs) break;
      h--;
    }
    throw new CodedError<IndexerErrorCode>(
      'INDEXER_MAJOR_REORG',
      `major re-org: block ${height} (${store.blockHash(height)}) that the indexer decided on is no longer on the node's best chain; the chains agree up to height ${h}. The indexer has stopped. Events after height ${h} may be wrong: rebuild with \`indexer/main.ts rebuild --from-height ${h + 1}\` (and correct the consumers' view of those heights).`,
      { details: { height, forkPoint: h } },
    );
  }

  async #window(tip: number, confirmedTip: number): Promise<void> {
    const { rpc, store, params } = this.#o;
    const from = Math.max(confirmedTip + 1, this.startHeight);
    if (tip < this.startHeight - 1) return;
    const heights: number[] = [];
    for (let h = from; h <= tip; h++) heights.push(h);
    const hashes = await batchOk<string>(
      rpc,
      heights.map((h) => ({ method: 'getblockhash', params: [h] })),
    );
    const tipHash = heights.length ? hashes[hashes.length - 1]! : (store.last()?.hash ?? String(tip));
    if (tipHash === this.#lastInfoTipHash) return;
    const missing = hashes.filter((h) => !this.#windowCache.has(h));
    const raws = await batchOk<string>(
      rpc,
      missing.map((h) => ({ method: 'getblock', params: [h, 0] })),
    );
    missing.forEach((hash, i) => {
      const raw = Buffer.from(raws[i]!, 'hex');
      const header = readHeader(raw);
      this.#windowCache.set(hash, { height: -1, hash, time: header.time, raw });
    });
    let prev = store.last()?.hash;
    const window: BlockInput[] = [];
    for (let i = 0; i < hashes.length; i++) {
      const b = this.#windowCache.get(hashes[i]!)!;
      const header = readHeader(b.raw!);
      if (prev !== undefined && header.prevHashHex !== prev) return; // moved under us: next poll
      prev = b.hash;
      window.push({ ...b, height: heights[i]! });
    }
    // Keep only what the window still holds.
    const keep = new Set(hashes);
    for (const h of this.#windowCache.keys()) if (!keep.has(h)) this.#windowCache.delete(h);
    const w = computeUnconfirmedTvl(params, window, store);
    // Count invalid window txs once per block, not once per poll (the reference repeats them).
    const fresh = new Set(hashes.filter((h) => !this.#seenWindowBlocks.has(h)));
    for (const h of hashes) this.#seenWindowBlocks.add(h);
    if (this.#seenWindowBlocks.size > 10_000) this.#seenWindowBlocks = new Set(hashes);
    const confirmedTvl = store.confirmedTvl();
    const rejections = w.rejections.filter((r) => r.blockHash !== undefined && fresh.has(r.blockHash));
    this.#o.hooks?.onWindow?.({ tip, unconfirmedTvl: w.unconfirmedTvl, confirmedTvl, rejections });
    const info: UnsequencedEvent = {
      event_type: EVENT_TYPE_OF_KIND['btc-info'],
      event_id: `btc-info:${tip}`,
      height: tip,
      confirmed_tvl: confirmedTvl,
      unconfirmed_tvl: w.unconfirmedTvl,
    } satisfies Omit<BtcInfoEvent, 'sequence'>;
    store.appendEvents([info]);
    this.#lastInfoTipHash = tipHash;
    this.#o.hooks?.onCommitted?.();
  }
}

class ChainMoved extends Error {
  constructor(height: number) {
    super(`block ${height} does not link to the previous block; the chain moved`);
  }
}
