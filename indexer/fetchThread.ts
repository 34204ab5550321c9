import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from 'node:worker_threads';
import type { BitcoindConnectionConfig } from '../bitcoind/index.ts';
import { CodedError } from '../common/index.ts';
import { type GlobalParams, paramsVersionToJson } from '../params/index.ts';
import { startTsWorker } from '../runtime/index.ts';
import type { IndexerErrorCode } from './errors.ts';
import type { BlockFetcher, FetchAheadOptions, FetchedBlock } from './fetchAhead.ts';
import { type PrescanBatch, unpackPrescans, type WalkedBatch } from './prescan.ts';

/**
 * Fetches raw blocks on a worker thread, over REST or JSON-RPC (`via`): receiving megabytes of
 * blocks (and, over JSON-RPC, parsing and hex-decoding them) runs on the other core while the main
 * thread decides. Given the params, the blocks are also prescanned (`preScanBlock`: the walk and
 * the staking verdicts, the parts of deciding that need no state), the walk on the fetch thread
 * and the verdicts on a second worker it starts, a stage of its own (fetchThread.worker.ts); a
 * prescanned block then arrives as its header and its candidates' bytes alone (all the main thread
 * reads of it). Blocks
 * arrive with their memory transferred (no copy), at most `concurrency` batches ahead of what
 * `take` has returned. `take` drains every batch already posted, not only those the event loop
 * has delivered, so that a busy main thread commits many blocks per LMDB transaction.
 *
 * `start` starts the worker (the service does, so that its start-up is the service's); a fetch
 * starts it again after it died; `close` stops it.
 */
export class FetchThread {
  readonly #bitcoind: BitcoindConnectionConfig;
  readonly #o: FetchAheadOptions;
  readonly #params: GlobalParams | undefined;
  readonly #fetchVia: FetchVia;
  readonly #onSource: ((via: 'rest' | 'rpc') => void) | undefined;
  #via: 'rest' | 'rpc' | undefined;
  #worker: Worker | undefined;
  #port: MessagePort | undefined;
  #ready: Promise<void> | undefined;
  #markReady: (() => void) | undefined;
  #failReady: ((e: CodedError) => void) | undefined;
  #nextId = 1;
  #waiters = 0;
  readonly #ranges = new Map<number, RangeState>();

  /**
   * With `params`, the worker also prescans each block (`preScanBlock`).
   * `via` (default `auto`) chooses REST or JSON-RPC; `onSource` hears each change of the choice.
   */
  constructor(
    bitcoind: BitcoindConnectionConfig,
    o: FetchAheadOptions & { readonly via?: FetchVia; readonly onSource?: (via: 'rest' | 'rpc') => void },
    params?: GlobalParams,
  ) {
    this.#bitcoind = bitcoind;
    this.#o = { batch: o.batch, concurrency: o.concurrency };
    this.#fetchVia = o.via ?? 'auto';
    this.#onSource = o.onSource;
    this.#params = params;
  }

  /** Where the worker last chose to fetch from; undefined before its first range. */
  get via(): 'rest' | 'rpc' | undefined {
    return this.#via;
  }

  /**
   * Starts the worker and waits until it has its RPC client.
   * @throws {CodedError} INDEXER_FETCH_FAILED
   */
  async start(): Promise<void> {
    this.#start();
    await this.#waiting(this.#ready!);
  }

  /**
   * Heights [from, to], fetched ahead on the worker. `tracked`: the prefixes (`hashPrefix`) of the
   * tx hashes the state tracks after block from − 1, where the prescan's filter starts.
   */
  fetcher(from: number, to: number, tracked: Iterable<number> = []): BlockFetcher {
    const worker = this.#start();
    const port = this.#port!;
    const id = this.#nextId++;
    const st: RangeState = { batches: [], error: undefined, wake: undefined };
    this.#ranges.set(id, st);
    const post = (m: ToFetchThread) => worker.postMessage(m);
    post({
      op: 'start',
      id,
      from,
      to,
      batch: this.#o.batch,
      concurrency: this.#o.concurrency,
      tracked: Int32Array.from(tracked),
    });
    return {
      take: async (max) => {
        for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
          this.#receive(m.message as FromFetchThread);
        }
        while (st.batches.length === 0) {
          if (st.error) throw st.error;
          await this.#waiting(
            new Promise<void>((resolve) => {
              st.wake = resolve;
            }),
          );
          st.wake = undefined;
        }
        const out: FetchedBlock[] = [];
        let taken = 0;
        while (st.batches.length > 0 && out.length < max) {
          out.push(...st.batches.shift()!);
          taken++;
        }
        // One message for the take's batches: a post per batch was a visible share of this
        // thread (each wakes the fetch thread, which then competes with this one for a core).
        post({ op: 'credit', id, batches: taken });
        return out;
      },
      cancel: () => {
        if (!this.#ranges.delete(id)) return;
        if (this.#worker === worker) post({ op: 'cancel', id });
      },
    };
  }

  /** Stops the worker (a fetch in progress, or a start, fails). Idempotent. */
  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    this.#gone(w, 'the fetch thread was stopped');
    await w.terminate();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const { port1, port2 } = new MessageChannel();
    const w = startTsWorker(new URL('./fetchThread.worker.ts', import.meta.url), {
      workerData: {
        bitcoind: this.#bitcoind,
        via: this.#fetchVia,
        paramsDoc: this.#params && { versions: this.#params.versions.map(paramsVersionToJson) },
        port: port2,
      } satisfies FetchThreadData,
      transferList: [port2],
    });
    // Never what keeps the process alive: the service stops it with close().
    w.unref();
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#markReady = resolve;
      this.#failReady = reject;
    });
    this.#ready.catch(() => undefined);
    port1.on('message', (m: FromFetchThread) => this.#receive(m));
    port1.unref();
    // The port closes when the worker's thread ends, possibly before the worker's unref'd 'exit'.
    port1.on('close', () => this.#gone(w, 'the fetch thread ended'));
    w.on('error', (e) => this.#gone(w, `the fetch thread failed: ${e.message}`));
    w.on('exit', (code) => this.#gone(w, `the fetch thread exited with code ${code}`));
    this.#worker = w;
    this.#port = port1;
    return w;
  }

  /** Only a start or a fetch someone waits for keeps the process alive. */
  async #waiting<T>(p: Promise<T>): Promise<T> {
    const port = this.#port;
    if (this.#waiters++ === 0) port?.ref();
    try {
      return await p;
    } finally {
      if (--this.#waiters === 0) port?.unref();
    }
  }

  #receive(m: FromFetchThread): void {
    if (m.op === 'ready') {
      this.#markReady?.();
      return;
    }
    if (m.op === 'source') {
      const changed = m.via !== this.#via;
      this.#via = m.via;
      if (changed) this.#onSource?.(m.via);
      return;
    }
    const st = this.#ranges.get(m.id);
    if (!st) return;
    if (m.op === 'blocks') st.batches.push(m.blocks);
    else if (m.op === 'prescanned') st.batches.push(prescannedBlocks(m));
    else
      st.error = new CodedError(
        m.error.code,
        m.error.message,
        m.error.details ? { details: m.error.details } : {},
      );
    st.wake?.();
  }

  /** Worker `w` is gone (stopped or died): its start and every fetch on it fail; the next fetch starts another. */
  #gone(w: Worker, why: string): void {
    if (this.#worker !== w) return;
    this.#worker = undefined;
    this.#port?.close();
    this.#port = undefined;
    const e = new CodedError<IndexerErrorCode>('INDEXER_FETCH_FAILED', why);
    this.#failReady?.(e);
    for (const st of this.#ranges.values()) {
      st.error ??= e;
      st.wake?.();
    }
    this.#ranges.clear();
  }
}

/**
 * How raw blocks are fetched: `rest` (the node's REST interface, `-rest=1`: binary, several times
 * cheaper for both sides), `rpc` (getblock over JSON-RPC, hex), or `auto`: REST when the node
 * serves it, else JSON-RPC.
 */
export type FetchVia = 'auto' | 'rest' | 'rpc';

interface RangeState {
  readonly batches: FetchedBlock[][];
  error: CodedError | undefined;
  wake: (() => void) | undefined;
}

/** What the worker starts with: where to fetch from, and the port it answers on. */
export interface FetchThreadData {
  readonly bitcoind: BitcoindConnectionConfig;
  readonly via: FetchVia;
  /**
   * The params in their reference JSON, which the worker parses again: a structured clone of the
   * parsed params would arrive unfrozen, and the worker decides stakes with them.
   */
  readonly paramsDoc: { readonly versions: readonly Record<string, unknown>[] } | undefined;
  readonly port: MessagePort;
}

/** Messages to the worker. */
export type ToFetchThread =
  | {
      readonly op: 'start';
      readonly id: number;
      readonly from: number;
      readonly to: number;
      readonly batch: number;
      readonly concurrency: number;
      /** Where the range's prescan filter starts (see `fetcher`). */
      readonly tracked: Int32Array;
    }
  /** The main thread took `batches` more batches: as many more may be fetched ahead. */
  | { readonly op: 'credit'; readonly id: number; readonly batches: number }
  | { readonly op: 'cancel'; readonly id: number };

/** What the fetch thread starts its verdicts thread with: the params, and the ports between. */
export interface VerdictThreadData {
  readonly paramsDoc: NonNullable<FetchThreadData['paramsDoc']>;
  /** Where the fetch thread posts (`ToVerdictThread`). */
  readonly from: MessagePort;
  /** The main thread's port, which it posts on (`FromFetchThread`). */
  readonly to: MessagePort;
}

/**
 * Messages from the fetch thread to its verdicts thread: a walked batch, the end of a range (none
 * of its blocks follow), or a message for the main thread, passed on as it is.
 */
export type ToVerdictThread =
  | {
      readonly op: 'walked';
      readonly id: number;
      readonly heights: readonly number[];
      readonly hashes: readonly string[];
      /** The whole blocks: what the main thread gets of a block without a walk, or whose verdicts fail. */
      readonly wholes: readonly Uint8Array[];
      readonly walks: WalkedBatch;
    }
  | { readonly op: 'end'; readonly id: number }
  | Exclude<FromFetchThread, { op: 'blocks' | 'prescanned' }>;

/**
 * From the verdicts thread back to the fetch thread: the memory of whole blocks it did not pass
 * on (transferred: nothing there reads it any more), for the next blocks (`BlockMemory`).
 */
export interface FromVerdictThread {
  readonly op: 'memory';
  readonly buffers: readonly ArrayBuffer[];
}

/** Messages from the worker. */
export type FromFetchThread =
  | { readonly op: 'ready' }
  /** The source the worker fetches the next ranges from (after each choice). */
  | { readonly op: 'source'; readonly via: 'rest' | 'rpc' }
  | { readonly op: 'blocks'; readonly id: number; readonly blocks: FetchedBlock[] }
  /** A prescanned batch (from the verdicts thread), packed: see `prescannedBlocks`. */
  | {
      readonly op: 'prescanned';
      readonly id: number;
      readonly heights: readonly number[];
      readonly hashes: readonly string[];
      /** The whole block, for each block without a prescan. */
      readonly wholes: readonly (Uint8Array | undefined)[];
      readonly batch: PrescanBatch;
    }
  | {
      readonly op: 'error';
      readonly id: number;
      readonly error: { code: string; message: string; details?: Record<string, unknown> };
    };

/** A packed batch of prescanned blocks (`packPrescans`) as the blocks a take returns. */
function prescannedBlocks(m: Extract<FromFetchThread, { op: 'prescanned' }>): FetchedBlock[] {
  const packed = unpackPrescans(m.batch);
  return m.heights.map((height, i): FetchedBlock => {
    const b = packed[i];
    const hash = m.hashes[i]!;
    return b ? { height, hash, raw: b.header, prescan: b.prescan } : { height, hash, raw: m.wholes[i]! };
  });
}
