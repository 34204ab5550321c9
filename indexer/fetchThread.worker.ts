/**
 * The fetch thread (see fetchThread.ts): runs fetchAhead for the ranges the main thread asks for
 * and posts each batch of raw blocks on the port it was given, their memory transferred, never
 * more than `concurrency` batches ahead of what the main thread has taken. Given the params, it
 * walks each block (`RangeWalk`, with the staking verdicts of some blocks: `decidesHere`)
 * and hands the batch, as the header and the candidates' bytes of each block (see `handOver`), to
 * a verdicts thread of its own (verdictThread.worker.ts), which makes the rest of the verdicts and
 * the unbonding scripts and passes the batch on to that port, in order: the prescan's work (its
 * EC tweaks above all) is then shared by two threads, not done by one.
 * Blocks come over REST or JSON-RPC as `via` says; `auto` asks the node whether it serves REST at
 * the first range, and again at the range after one that failed (the node may have been restarted
 * with other options).
 */
import { MessageChannel, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { BlockMemory, restClientFromConfig, rpcClientFromConfig } from '../bitcoind/index.ts';
import { isCodedError } from '../common/index.ts';
import { parseGlobalParams } from '../params/index.ts';
import { startTsWorker } from '../runtime/index.ts';
import { type BlockSource, fetchAhead, restBlockSource, rpcBlockSource } from './fetchAhead.ts';
import type {
  FetchThreadData,
  FromFetchThread,
  FromVerdictThread,
  ToFetchThread,
  ToVerdictThread,
  VerdictThreadData,
} from './fetchThread.ts';
import { packWalks, RangeWalk } from './prescan.ts';

const { bitcoind, paramsDoc, via, port: toMain } = workerData as FetchThreadData;
const params = paramsDoc && parseGlobalParams(paramsDoc);
const port = parentPort!;
// Everything this thread posts goes through the verdicts thread when there is one, so that it
// reaches the main thread in the order it was posted (an error after the blocks before it).
const out: MessagePort = paramsDoc ? startVerdictThread(paramsDoc, toMain) : toMain;
// Whole blocks the verdicts thread did not pass on come back, and the next blocks are read into
// their memory (see `BlockMemory`); a block that went on to the main thread does not come back.
const memory = paramsDoc ? new BlockMemory() : undefined;
// Over JSON-RPC it would only be kept, never used.
if (memory) out.on('message', (m: FromVerdictThread) => chosen?.via === 'rest' && memory.give(m.buffers));
const rpcSource = rpcBlockSource(await rpcClientFromConfig(bitcoind));
const rest = via === 'rpc' ? undefined : restClientFromConfig(bitcoind);
let chosen: BlockSource | undefined;

/** The source of the next range; in `auto`, REST when the node serves it. */
async function source(): Promise<BlockSource> {
  if (!chosen) {
    chosen = rest && (via === 'rest' || (await rest.available())) ? restBlockSource(rest, memory) : rpcSource;
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

/**
 * The verdicts thread, which posts to `toMain` what this thread posts to the port returned. This
 * thread ends with it (and it with this one), so the main thread sees one of them fail as the
 * fetch thread failing.
 */
function startVerdictThread(doc: NonNullable<FetchThreadData['paramsDoc']>, to: MessagePort): MessagePort {
  const { port1, port2 } = new MessageChannel();
  const w = startTsWorker(new URL('./verdictThread.worker.ts', import.meta.url), {
    workerData: { paramsDoc: doc, from: port2, to } satisfies VerdictThreadData,
    transferList: [port2, to],
  });
  w.on('error', () => process.exit(1));
  w.on('exit', () => process.exit(1));
  return port1;
}

port.on('message', (m: ToFetchThread) => {
  if (m.op === 'start') {
    const r: Range = { credit: m.concurrency, cancelled: false, wake: undefined };
    ranges.set(m.id, r);
    const walk = params && new RangeWalk(params, m.tracked);
    void run(m.id, r, m.from, m.to, m.batch, m.concurrency, walk);
    return;
  }
  const r = ranges.get(m.id);
  if (!r) return;
  if (m.op === 'credit') r.credit += m.batches;
  else r.cancelled = true;
  r.wake?.();
});
out.postMessage({ op: 'ready' } satisfies FromFetchThread);

/**
 * Whether this thread makes the staking verdicts of a block (`size` bytes at `height`), the
 * verdicts thread those of the others and every unbonding script (which need the stakes seen
 * before, in order). A verdict (an EC tweak a stake) is a function of the transaction, the params
 * and the height alone, so which thread makes it changes nothing but their loads: with all of
 * them there, the verdicts thread was the busier of the two on small busy blocks (about 95 µs of
 * CPU a block against 55 here), so this thread takes every third small block's; a large block's
 * walk and receiving already make this thread the busier, so it takes none of theirs.
 */
function decidesHere(height: number, size: number): boolean {
  return size < SMALL_BLOCK_BYTES && height % 3 === 0;
}
const SMALL_BLOCK_BYTES = 64 * 1024;

async function run(
  id: number,
  r: Range,
  from: number,
  to: number,
  batch: number,
  concurrency: number,
  walk: RangeWalk | undefined,
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
      const fetched = await fetcher.take(batch);
      if (fetched.length === 0) break;
      r.credit--;
      next = fetched.at(-1)!.height + 1;
      if (!walk) {
        const msg: FromFetchThread = { op: 'blocks', id, blocks: fetched };
        out.postMessage(
          msg,
          fetched.map((b) => b.raw.buffer as ArrayBuffer),
        );
        continue;
      }
      const raws = fetched.map((b) => b.raw);
      // Only what the main thread reads of each walked block (its header and candidates' bytes) is
      // copied into one buffer for the batch (`packWalks`): a full block's memory never crosses to
      // the main thread, where a commit's worth of blocks would stay referenced until the commit.
      // The whole blocks go to the verdicts thread too (transferred, no copy), which passes one on
      // instead when it has no walk (it does not parse: the main thread walks it, and reports it,
      // INDEXER_BAD_BLOCK, when it must) or its verdicts fail.
      const walks = packWalks(
        raws,
        fetched.map((b) => walk.next(b.height, b.raw, decidesHere(b.height, b.raw.length))),
      );
      const msg: ToVerdictThread = {
        op: 'walked',
        id,
        heights: fetched.map((b) => b.height),
        hashes: fetched.map((b) => b.hash),
        wholes: raws,
        walks,
      };
      const transfer = [walks.bytes, walks.nums, ...raws].map((a) => a.buffer as ArrayBuffer);
      out.postMessage(msg, transfer);
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
    if (paramsDoc) out.postMessage({ op: 'end', id } satisfies ToVerdictThread);
  }
}
