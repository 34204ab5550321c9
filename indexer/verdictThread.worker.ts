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
import { RangeVerdicts, unpackWalks } from './prescan.ts';
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
  const blocks = unpackWalks(m.walks).map((w, i): FetchedBlock => {
    const height = m.heights[i]!;
    const hash = m.hashes[i]!;
    const prescan = verdicts.next(height, w?.walked);
    // Without a prescan the main thread walks and decides the whole block itself.
    const raw = prescan ? w!.header : m.wholes[i]!;
    transfer.add(raw.buffer as ArrayBuffer);
    return prescan ? { height, hash, raw, prescan } : { height, hash, raw };
  });
  to.postMessage({ op: 'blocks', id: m.id, blocks } satisfies FromFetchThread, [...transfer]);
});
