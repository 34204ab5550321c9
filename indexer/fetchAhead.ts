import type { BlockMemory, RestClient, RpcClient } from '../bitcoind/index.ts';
import type { BlockPrescan } from './prescan.ts';

/** A raw block as fetched: `raw` owns its memory (never a slice of a shared pool), so it can be transferred. */
export interface FetchedBlock {
  readonly height: number;
  readonly hash: string;
  /**
   * The serialized block; with `prescan`, only its 80-byte header (`BlockInput.raw`), in the
   * buffer its candidates' bytes are views of.
   */
  readonly raw: Uint8Array;
  /** Its candidates and staking verdicts, when the fetch thread found them (see `BlockInput.prescan`). */
  readonly prescan?: BlockPrescan;
}

/** Blocks of a height range, fetched ahead of their use. */
export interface BlockFetcher {
  /** At least one block, at most `max`, in height order; more than one batch only when already fetched. */
  take(max: number): Promise<FetchedBlock[]>;
  /** Stops fetching; batches in flight are dropped. */
  cancel(): void;
}

export interface FetchAheadOptions {
  /** Blocks per batch (one JSON-RPC batch, or one pipelined write of REST requests). */
  readonly batch: number;
  /** Batches in flight. */
  readonly concurrency: number;
}

/** Where raw blocks come from: the node's JSON-RPC, or its REST interface. */
export interface BlockSource {
  /** `rpc` or `rest`, for logs and metrics. */
  readonly via: 'rpc' | 'rest';
  /** The hashes of consecutive heights [from, to] on the node's active chain. */
  hashes(from: number, to: number): Promise<string[]>;
  /** Raw blocks by hash, each owning its memory (transferable). */
  blocks(hashes: readonly string[]): Promise<Uint8Array[]>;
}

/** getblockhash and getblock verbosity 0 in JSON-RPC batches: any node, hex on the wire. */
export function rpcBlockSource(rpc: RpcClient): BlockSource {
  return {
    via: 'rpc',
    hashes: (from, to) =>
      batchOk<string>(
        rpc,
        Array.from({ length: to - from + 1 }, (_, i) => ({ method: 'getblockhash', params: [from + i] })),
      ),
    blocks: async (hashes) =>
      (
        await batchOk<string>(
          rpc,
          hashes.map((h) => ({ method: 'getblock', params: [h, 0] })),
        )
      ).map(ownBytesOfHex),
  };
}

/**
 * The REST interface (`-rest=1`): binary blocks on pipelined requests, no hex, no JSON; read into
 * `memory` when given (see `BlockMemory`).
 */
export function restBlockSource(rest: RestClient, memory?: BlockMemory): BlockSource {
  return {
    via: 'rest',
    hashes: (from, to) => rest.blockHashes(Array.from({ length: to - from + 1 }, (_, i) => from + i)),
    blocks: (hashes) => rest.blocks(hashes, memory),
  };
}

/**
 * Fetches heights [from, to] ahead of processing: block hashes 500 heights at a time, then raw
 * blocks in batches of `batch`, `concurrency` batches in flight, so the node serves the next
 * blocks while the current ones are decided.
 */
export function fetchAhead(
  source: BlockSource,
  from: number,
  to: number,
  o: FetchAheadOptions,
): BlockFetcher {
  const HASH_CHUNK = 500;
  const hashChunks = new Map<number, Promise<string[]>>();
  const hashChunk = (k: number): Promise<string[]> => {
    let p = hashChunks.get(k);
    if (!p) {
      const a = from + k * HASH_CHUNK;
      p = source.hashes(a, Math.min(to, a + HASH_CHUNK - 1));
      p.catch(() => undefined);
      hashChunks.set(k, p);
      hashChunks.delete(k - 2);
    }
    return p;
  };
  const hashAt = async (h: number): Promise<string> => {
    const k = Math.floor((h - from) / HASH_CHUNK);
    return (await hashChunk(k))[h - from - k * HASH_CHUNK]!;
  };
  const queue: Array<{ p: Promise<FetchedBlock[]>; settled: boolean }> = [];
  let nextStart = from;
  let cancelled = false;
  const fill = () => {
    while (!cancelled && queue.length < o.concurrency && nextStart <= to) {
      const start = nextStart;
      const end = Math.min(to, start + o.batch - 1);
      nextStart = end + 1;
      const p = (async () => {
        const heights: number[] = [];
        for (let h = start; h <= end; h++) heights.push(h);
        const hashes = await Promise.all(heights.map(hashAt));
        const raws = await source.blocks(hashes);
        return heights.map((height, i) => ({ height, hash: hashes[i]!, raw: raws[i]! }));
      })();
      const entry = { p, settled: false };
      p.then(
        () => {
          entry.settled = true;
        },
        () => {
          entry.settled = true;
        },
      );
      queue.push(entry);
    }
  };
  fill();
  return {
    async take(max: number): Promise<FetchedBlock[]> {
      const out: FetchedBlock[] = [];
      while (queue.length > 0 && out.length < max) {
        const first = queue.shift()!;
        fill();
        out.push(...(await first.p));
        // Take more only if already fetched: never wait for a batch when blocks are in hand.
        if (queue.length === 0 || !queue[0]!.settled) break;
      }
      fill();
      return out;
    },
    cancel() {
      cancelled = true;
    },
  };
}

// Buffer.from(hex) may place a small block in Node's shared 8 KiB pool, whose ArrayBuffer must
// never be transferred to another thread.
function ownBytesOfHex(hex: string): Uint8Array {
  const b = Buffer.allocUnsafeSlow(hex.length >>> 1);
  const n = b.write(hex, 'hex');
  return n === b.length ? b : b.subarray(0, n);
}

/** A batch whose every call must succeed. @throws {CodedError} the first failing call's RPC_… error */
export async function batchOk<T>(
  rpc: RpcClient,
  calls: { method: string; params: unknown[] }[],
): Promise<T[]> {
  if (calls.length === 0) return [];
  const res = await rpc.batch<T>(calls);
  return res.map((r) => {
    if (!r.ok) throw r.error;
    return r.result;
  });
}
