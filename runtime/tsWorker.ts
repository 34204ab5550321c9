import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread running a TypeScript module. The services run under tsx, whose loader
 * hooks do not reach a worker on Node 20; the worker registers them first, then imports `module`.
 *
 * The thread first names itself after its module (`fetchThread.worker.ts` → `fetchThread`, cut to
 * Linux's 15 bytes), so `top -H`, `ps -L`, `perf` and the benchmarks tell a service's threads
 * apart; Node leaves every thread named `node`. Linux only (a thread may rename itself through
 * /proc/thread-self/comm); elsewhere, or if /proc is not mounted, the name stays.
 */
export function startTsWorker(module: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const name = threadNameOf(module);
  const boot = `try { require('node:fs').writeFileSync('/proc/thread-self/comm', ${JSON.stringify(name)}); } catch {}
import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(module.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/** The thread name of a worker module: its file name without `.worker.ts` or `.ts`, at most 15 bytes. */
export function threadNameOf(module: URL): string {
  const file = decodeURIComponent(module.pathname.split('/').pop() ?? '');
  const base = file.replace(/(\.worker)?\.[cm]?[tj]s$/, '');
  // comm holds 15 bytes; keep ASCII so a cut never splits a character.
  return base.replace(/[^\x20-\x7e]/g, '_').slice(0, 15) || 'worker';
}
