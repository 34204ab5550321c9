/**
 * The bench's reading of signer/bench/tailTrace.ts (BENCH_SIGNER_TAIL=1): for the 1-in-flight
 * phase, each request's time split into its steps as the signer saw them, the slowest requests'
 * steps beside the median ones', the collections that fell inside requests and between them, and
 * what a request allocates.
 */

import { constants } from 'node:perf_hooks';
import { percentile } from '../../test/bench/fsyncLatency.ts';
import type { TailTrace } from './tailTrace.ts';

const GC_KINDS: ReadonlyArray<readonly [number, string]> = [
  [constants.NODE_PERFORMANCE_GC_MINOR, 'scavenge'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'mark-compact'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weak callbacks'],
];
const kindName = (k: number) => GC_KINDS.find(([v]) => v === k)?.[1] ?? `kind ${k}`;
// Why V8 collected, as far as the flags say: a mark-compact for external memory (ArrayBuffer
// backing stores) or one scheduled as an idle task reads differently from one the heap's growth asked for.
const GC_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [constants.NODE_PERFORMANCE_GC_FLAGS_FORCED, 'forced'],
  [constants.NODE_PERFORMANCE_GC_FLAGS_ALL_AVAILABLE_GARBAGE, 'all available garbage'],
  [constants.NODE_PERFORMANCE_GC_FLAGS_ALL_EXTERNAL_MEMORY, 'external memory'],
  [constants.NODE_PERFORMANCE_GC_FLAGS_SCHEDULE_IDLE, 'idle task'],
];
const flagNames = (f: number) =>
  GC_FLAGS.filter(([bit]) => (f & bit) !== 0)
    .map(([, n]) => n)
    .join('+') || 'none';

/** One request's steps, ms. */
interface Steps {
  readonly total: number;
  /** Request written → CovenantSigner.sign called: TLS, HTTP parse, fastify, schema. */
  readonly before: number;
  /** Node RPCs (getrawtransaction, getblockheader) inside the decision. */
  readonly rpc: number;
  /** Pkcs11Custody.sign. */
  readonly custody: number;
  /** AuditLog.append until durable (MAC, synced write, anchor). */
  readonly audit: number;
  /** The rest of the decision: validation and verification CPU, awaits between steps. */
  readonly decideOther: number;
  /** sign resolved → answer read by the load generator: serialise, reply, TLS. */
  readonly after: number;
  /** Collections that started inside the request: their summed duration (ms) and kinds. */
  readonly gcMs: number;
  readonly gcKinds: readonly string[];
}

const within = (spans: readonly number[][], a: number, b: number) =>
  spans.filter((s) => s[0]! >= a && s[0]! <= b).reduce((t, s) => t + (s[1]! - s[0]!), 0);

/**
 * @param spans the phase's requests, [start, end] epoch ms, in order
 * @param offset decisions the signer made before the phase (one per earlier request)
 */
export function tailReport(
  trace: TailTrace,
  spans: ReadonlyArray<readonly [number, number]>,
  offset: number,
): string {
  const out: string[] = [];
  if (trace.decide.length < offset + spans.length)
    return `tail trace: ${trace.decide.length} decisions recorded, ${offset + spans.length} expected`;
  const steps: Steps[] = spans.map(([cs, ce], i) => {
    const [ds, de] = trace.decide[offset + i]!;
    const gcs = trace.gc.filter((g) => g[0]! >= cs && g[0]! <= ce);
    const rpc = within(trace.rpc, ds!, de!);
    const custody = within(trace.custody, ds!, de!);
    const audit = within(trace.audit, ds!, de!);
    return {
      total: ce - cs,
      before: ds! - cs,
      rpc,
      custody,
      audit,
      decideOther: de! - ds! - rpc - custody - audit,
      after: ce - de!,
      gcMs: gcs.reduce((t, g) => t + g[1]!, 0),
      gcKinds: gcs.map((g) => kindName(g[2]!)),
    };
  });
  const skew = Math.min(...steps.map((s) => Math.min(s.before, s.after)));
  out.push(
    `  clocks: the smallest step before or after a decision is ${skew.toFixed(3)} ms (negative: the two processes' clocks disagree by about that)`,
  );

  const byTotal = [...steps].sort((a, b) => a.total - b.total);
  const n = byTotal.length;
  const group = (name: string, from: number, to: number) => {
    const g = byTotal.slice(Math.floor(n * from), Math.floor(n * to));
    if (g.length === 0) return;
    const mean = (f: (s: Steps) => number) =>
      (g.reduce((t, s) => t + f(s), 0) / g.length).toFixed(2).padStart(6);
    const withKind = (k: string) => g.filter((s) => s.gcKinds.includes(k)).length;
    out.push(
      `  ${name.padEnd(16)} ${String(g.length).padStart(4)} | ${mean((s) => s.total)} | ${mean((s) => s.before)} ${mean((s) => s.rpc)} ${mean((s) => s.decideOther)} ${mean((s) => s.custody)} ${mean((s) => s.audit)} ${mean((s) => s.after)} | ${mean((s) => s.gcMs)} | ${withKind('scavenge')} / ${withKind('mark-compact')} / ${withKind('incremental')}`,
    );
  };
  out.push(
    '  requests (mean ms)       n |  total | before    rpc  valid custody  audit  after |     gc | with scavenge / mark-compact / incremental',
  );
  group('p45–p55', 0.45, 0.55);
  group('p90–p98', 0.9, 0.98);
  group('slowest 2–1 %', 0.98, 0.99);
  group('slowest 1 %', 0.99, 1);
  const worst = byTotal.slice(-10).reverse();
  out.push('  the 10 slowest: total = before + rpc + valid + custody + audit + after; gc');
  for (const s of worst) {
    const f = (v: number) => v.toFixed(2);
    out.push(
      `    ${f(s.total)} = ${f(s.before)} + ${f(s.rpc)} + ${f(s.decideOther)} + ${f(s.custody)} + ${f(s.audit)} + ${f(s.after)}; ${s.gcKinds.length ? `${f(s.gcMs)} ms ${s.gcKinds.join(', ')}` : 'none'}`,
    );
  }

  // Collections in the phase: inside requests, or between them (an idle-time or memory-reducer GC).
  const [p0, pEnd] = [spans[0]![0], spans.at(-1)![1]];
  const phaseGcs = trace.gc.filter((g) => g[0]! >= p0 && g[0]! <= pEnd);
  for (const [k, name] of GC_KINDS) {
    const gs = phaseGcs.filter((g) => g[2] === k);
    if (gs.length === 0) continue;
    const inside = gs.filter((g) => spans.some(([a, b]) => g[0]! >= a && g[0]! <= b)).length;
    const d = gs.map((g) => g[1]!).sort((a, b) => a - b);
    out.push(
      `  ${name}: ${gs.length} in ${n} requests (${((gs.length * 1000) / n).toFixed(1)} per 1,000), ${inside} inside a request; pause p50 ${percentile(d, 50).toFixed(2)} ms, max ${d.at(-1)!.toFixed(2)} ms; flags ${[...new Set(gs.map((g) => flagNames(g[3]!)))].join(', ')}`,
    );
  }
  // Allocation: the used heap's growth from one decision's start to the next, when no collection
  // fell between them (one request's whole path, HTTP included).
  const grow: number[] = [];
  for (let i = offset; i + 1 < offset + n; i++) {
    const [a, , ha] = trace.decide[i]!;
    const [b, , hb] = trace.decide[i + 1]!;
    if (trace.gc.some((g) => g[0]! >= a! && g[0]! <= b!)) continue;
    grow.push(hb! - ha!);
  }
  grow.sort((a, b) => a - b);
  out.push(
    `  heap allocated a request (used heap, decision to decision, ${grow.length} pairs with no GC between): p50 ${(percentile(grow, 50) / 1024).toFixed(1)} KB, p10 ${(percentile(grow, 10) / 1024).toFixed(1)}, p90 ${(percentile(grow, 90) / 1024).toFixed(1)}`,
  );
  return out.join('\n');
}
