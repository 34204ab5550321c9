/**
 * The verdicts thread, started by the fetch thread when it prescans (see fetchThread.worker.ts):
 * for each walked block it makes the staking verdicts and the unbonding scripts of spends of
 * stakes seen (`RangeVerdicts`, the prescan's second step: its EC tweaks), in height order, and
 * posts the batch to the main thread, packed (`packPrescans`: each block's header and candidates'
 * bytes, in the buffer they came in, with its prescan). Every other message of the fetch thread it
 * passes on as it came, in order.
 */
import { workerData } from 'node:worker_threads';
import { parseGlobalParams } from '../params/index.ts';
import type {
  FromFetchThread,
  FromVerdictThread,
  ToVerdictThread,
  VerdictThreadData,
} from './fetchThread.ts';
import { type HeaderPrescan, packPrescans, RangeVerdicts, unpackWalks } from './prescan.ts';
import { StakesSeen } from './spendRules.ts';

const { paramsDoc, from, to } = workerData as VerdictThreadData;
const params = parseGlobalParams(paramsDoc);
// Carried from range to range: a stake seen in one may be unbonded in a later one.
const seen = new StakesSeen();
const ranges = new Map<number, RangeVerdicts>();

from.on('message', (m: ToVerdictThread) => {
  if (m.op === 'end') {
    ranges.delete(m.id);
    return;
  }
  if (m.op !== 'walked') {
    to.postMessage(m satisfies FromFetchThread);
    return;
  }
  let verdicts = ranges.get(m.id);
  if (!verdicts) {
    verdicts = new RangeVerdicts(params, seen);
    ranges.set(m.id, verdicts);
  }
  const prescanned: (HeaderPrescan | undefined)[] = [];
  const wholes: (Uint8Array | undefined)[] = [];
  const transfer: ArrayBuffer[] = [m.walks.bytes.buffer as ArrayBuffer];
  const unused: ArrayBuffer[] = [];
  unpackWalks(m.walks).forEach((w, i) => {
    const prescan = verdicts.next(m.heights[i]!, w?.walked);
    prescanned.push(prescan && { header: w!.header, prescan });
    // Without a prescan the main thread walks and decides the whole block itself.
    const whole = m.wholes[i]!;
    wholes.push(prescan ? undefined : whole);
    (prescan ? unused : transfer).push(whole.buffer as ArrayBuffer);
  });
  // The headers and candidates' bytes are still views of the walks' buffer: it goes on as it is.
  const batch = packPrescans(m.walks.bytes, prescanned);
  transfer.push(batch.nums.buffer as ArrayBuffer);
  const msg: FromFetchThread = {
    op: 'prescanned',
    id: m.id,
    heights: m.heights,
    hashes: m.hashes,
    wholes,
    batch,
  };
  to.postMessage(msg, transfer);
  // Nothing here reads the other blocks now: their memory goes back for the next blocks, which
  // then need no fresh pages.
  if (unused.length > 0)
    from.postMessage({ op: 'memory', buffers: unused } satisfies FromVerdictThread, unused);
});
