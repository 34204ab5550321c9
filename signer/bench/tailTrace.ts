/**
 * An opt-in diagnostic for `npm run bench:signer` (BENCH_SIGNER_TAIL=1): loaded into the signer
 * process with `--import` before signer/main.ts, it times the steps of every request from inside
 * and records V8's collections, so the bench can say what its slowest requests have in common.
 * Nothing in the signer changes: the steps are timed by wrapping the public methods the request
 * path calls (the same module instances main.ts loads), and the trace is written to
 * BENCH_SIGNER_TAIL_FILE when the process gets SIGUSR2.
 *
 * Times are milliseconds since the epoch (performance.timeOrigin + performance.now()), so the
 * bench can lay them beside its own. Heap figures: V8's used heap at each decision's start, from
 * which the bench estimates what a request allocates (between two starts with no collection).
 */

import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { RpcClient } from '../../bitcoind/index.ts';
import { loadPkcs11Backend } from '../../hsm/index.ts';
import { AuditLog } from '../audit.ts';
import { CovenantSigner } from '../service.ts';

/** What the signer writes: spans are [start, end] (epoch ms), in call order. */
export interface TailTrace {
  /** CovenantSigner.sign, one per decision; a third figure, the used heap at its start (bytes). */
  readonly decide: number[][];
  readonly rpc: number[][];
  readonly custody: number[][];
  readonly audit: number[][];
  /** [start (epoch ms), duration (ms), kind (perf_hooks constants.NODE_PERFORMANCE_GC_*), flags]. */
  readonly gc: number[][];
}

const origin = performance.timeOrigin;
const now = () => origin + performance.now();
const trace: TailTrace = { decide: [], rpc: [], custody: [], audit: [], gc: [] };

/**
 * Replaces `proto[name]` by a wrapper that records each call's span (until its promise settles);
 * `extra` adds figures read at the call's start.
 */
function timeMethod(proto: object, name: string, spans: number[][], extra?: () => number): void {
  const target = proto as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const original = target[name]!;
  target[name] = function (this: unknown, ...args: unknown[]) {
    const span = extra ? [now(), 0, extra()] : [now(), 0];
    spans.push(span);
    const end = () => {
      span[1] = now();
    };
    const p = original.apply(this, args);
    p.then(end, end);
    return p;
  };
}

timeMethod(CovenantSigner.prototype, 'sign', trace.decide, () => getHeapStatistics().used_heap_size);
// On RpcClient's prototype: the signer's node client is an RpcClient (call and batch are inherited).
timeMethod(RpcClient.prototype, 'call', trace.rpc);
timeMethod(RpcClient.prototype, 'batch', trace.rpc);
timeMethod((await loadPkcs11Backend()).Pkcs11Custody.prototype, 'sign', trace.custody);
timeMethod(AuditLog.prototype, 'append', trace.audit);

new PerformanceObserver((list) => {
  for (const e of list.getEntries() as Array<
    PerformanceEntry & { detail?: { kind: number; flags: number } }
  >) {
    trace.gc.push([origin + e.startTime, e.duration, e.detail?.kind ?? 0, e.detail?.flags ?? 0]);
  }
}).observe({ entryTypes: ['gc'] });

// Where allocation comes from (BENCH_SIGNER_TAIL_HEAP=1): V8's sampling heap profiler, keeping the
// samples of objects that died young (the garbage that makes scavenges). The first SIGUSR2 starts
// it (the phase begins); the second stops it and writes it as a .heapprofile beside the trace,
// then the trace.
const heapProfile = process.env.BENCH_SIGNER_TAIL_HEAP === '1';
const session = new Session();
if (heapProfile) session.connect();
let phaseBegun = false;

const file = process.env.BENCH_SIGNER_TAIL_FILE;
if (!file) throw new Error('tailTrace: BENCH_SIGNER_TAIL_FILE is not set');
process.on('SIGUSR2', () => {
  if (!phaseBegun) {
    phaseBegun = true;
    if (!heapProfile) return;
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return;
  }
  const writeTrace = () => {
    // Whole or absent: the bench waits for the file to appear.
    writeFileSync(`${file}.tmp`, JSON.stringify(trace));
    renameSync(`${file}.tmp`, file);
  };
  if (!heapProfile) return writeTrace();
  session.post('HeapProfiler.stopSampling', (err, res) => {
    if (!err) writeFileSync(`${file}.heapprofile`, JSON.stringify(res.profile));
    writeTrace();
  });
});
