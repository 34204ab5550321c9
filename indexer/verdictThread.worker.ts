/**
 * The verdicts thread, started by the fetch thread when it prescans (see fetchThread.worker.ts):
 * for each walked block it makes the staking verdicts and the unbonding scripts of spends of
 * stakes seen (`RangeVerdicts`, the prescan's second step: its EC tweaks), in height order, and
 * posts the batch to the main thread, each block as its header and candidates' bytes with its
 * prescan. Every other message of the fetch thread it passes on as it came, in order.
 */
import { workerData } from 'node:worker_threads';
import { parseGlobalParams } from '../params/index.ts';
import type { FetchedBlock } from './fetchAhead.ts';
import type { FromFetchThread, ToVerdictThread, VerdictThreadData } from './fetchThread.ts';
import { RangeVerdicts } from './prescan.ts';
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
  // A batch's prescanned blocks share one buffer: each buffer is listed once.
  const transfer = new Set<ArrayBuffer>();
  const blocks = m.blocks.map((b): FetchedBlock => {
    const prescan = verdicts.next(b.height, b.walked);
    // Without a prescan the main thread walks and decides the whole block itself.
    const raw = prescan ? b.raw : (b.whole ?? b.raw);
    transfer.add(raw.buffer as ArrayBuffer);
    return prescan
      ? { height: b.height, hash: b.hash, raw, prescan }
      : { height: b.height, hash: b.hash, raw };
  });
  to.postMessage({ op: 'blocks', id: m.id, blocks } satisfies FromFetchThread, [...transfer]);
});
