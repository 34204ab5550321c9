/**
 * The fetch thread (see fetchThread.ts): runs fetchAhead for the ranges the main thread asks for
 * and posts each batch of raw blocks, prescanned when it has the params (`RangePrescan`; then only
 * the header and the candidates' bytes, see `handOver`), on the port it was given, their memory
 * transferred, never more than `concurrency` batches ahead of what the main thread has taken.
 * Blocks come over REST or JSON-RPC as `via` says; `auto` asks the node whether it serves REST at
 * the first range, and again at the range after one that failed (the node may have been restarted
 * with other options).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { restClientFromConfig, rpcClientFromConfig } from '../bitcoind/index.ts';
import { isCodedError } from '../common/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import {
  type BlockSource,
  type FetchedBlock,
  fetchAhead,
  restBlockSource,
  rpcBlockSource,
} from './fetchAhead.ts';
import type { FetchThreadData, FromFetchThread, ToFetchThread } from './fetchThread.ts';
import { type BlockPrescan, prescanInto, RangePrescan } from './prescan.ts';
import { StakesSeen } from './spendRules.ts';

const { bitcoind, paramsDoc, via, port: out } = workerData as FetchThreadData;
const params = paramsDoc && parseGlobalParams(paramsDoc);
const port = parentPort!;
const rpcSource = rpcBlockSource(await rpcClientFromConfig(bitcoind));
const rest = via === 'rpc' ? undefined : restClientFromConfig(bitcoind);
let chosen: BlockSource | undefined;

/** The source of the next range; in `auto`, REST when the node serves it. */
async function source(): Promise<BlockSource> {
  if (!chosen) {
    chosen = rest && (via === 'rest' || (await rest.available())) ? restBlockSource(rest) : rpcSource;
    out.postMessage({ op: 'source', via: chosen.via } satisfies FromFetchThread);
  }
  return chosen;
}

interface Range {
  credit: number;
  cancelled: boolean;
  wake: (() => void) | undefined;
}
const ranges = new Map<number, Range>();
// Carried from range to range: a stake seen in one may be unbonded in a later one.
const seen = new StakesSeen();

port.on('message', (m: ToFetchThread) => {
  if (m.op === 'start') {
    const r: Range = { credit: m.concurrency, cancelled: false, wake: undefined };
    ranges.set(m.id, r);
    const prescan = params && new RangePrescan(params, m.tracked, seen);
    void run(m.id, r, m.from, m.to, m.batch, m.concurrency, prescan);
    return;
  }
  const r = ranges.get(m.id);
  if (!r) return;
  if (m.op === 'credit') r.credit++;
  else r.cancelled = true;
  r.wake?.();
});
out.postMessage({ op: 'ready' } satisfies FromFetchThread);

/**
 * A prescanned block as the main thread gets it: only what it reads of the block (the header, and
 * the candidates' bytes) copied into one buffer of their own, which is transferred. A full
 * block's memory then neither crosses to the main thread (where a commit's worth of blocks would
 * stay referenced until the commit, and be collected there) nor is faulted in afresh here for
 * each block: this thread's allocator reuses it.
 */
function handOver(b: FetchedBlock, p: BlockPrescan): FetchedBlock {
  let n = HEADER_BYTES;
  for (const c of p.candidates) n += c.bytes.length;
  const out = new Uint8Array(n);
  out.set(b.raw.subarray(0, HEADER_BYTES));
  return {
    height: b.height,
    hash: b.hash,
    raw: out.subarray(0, HEADER_BYTES),
    prescan: prescanInto(p, out, HEADER_BYTES),
  };
}
const HEADER_BYTES = 80;

async function run(
  id: number,
  r: Range,
  from: number,
  to: number,
  batch: number,
  concurrency: number,
  prescan: RangePrescan | undefined,
) {
  let fetcher: ReturnType<typeof fetchAhead> | undefined;
  try {
    fetcher = fetchAhead(await source(), from, to, { batch, concurrency });
    let next = from;
    while (!r.cancelled && next <= to) {
      while (r.credit === 0 && !r.cancelled) {
        await new Promise<void>((resolve) => {
          r.wake = resolve;
        });
        r.wake = undefined;
      }
      if (r.cancelled) break;
      const blocks = (await fetcher.take(batch)).map((b): FetchedBlock => {
        // A block without a prescan (one that does not parse, and the rest of its range): the
        // main thread walks it itself, and reports it (INDEXER_BAD_BLOCK) when it must.
        const p = prescan?.next(b.height, b.raw);
        return p ? handOver(b, p) : b;
      });
      if (blocks.length === 0) break;
      r.credit--;
      next = blocks.at(-1)!.height + 1;
      const msg: FromFetchThread = { op: 'blocks', id, blocks };
      out.postMessage(
        msg,
        blocks.map((b) => b.raw.buffer as ArrayBuffer),
      );
    }
  } catch (e) {
    chosen = undefined;
    const msg: FromFetchThread = {
      op: 'error',
      id,
      error: isCodedError(e)
        ? { code: e.code, message: e.message, ...(e.details ? { details: { ...e.details } } : {}) }
        : { code: 'INDEXER_FETCH_FAILED', message: `the fetch thread failed: ${String(e)}` },
    };
    out.postMessage(msg);
  } finally {
    fetcher?.cancel();
    ranges.delete(id);
  }
}
