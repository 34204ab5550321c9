import { readdirSync, readFileSync } from 'node:fs';

/**
 * User + system CPU seconds a process has used so far, from /proc/<pid>/stat (Linux; clock ticks
 * of 1/100 s), or one of its threads with `tid` (/proc/<pid>/task/<tid>/stat; the main thread's
 * tid is the pid). Benchmarks print it beside wall time: on two cores, where the CPU went says
 * more about a target than the rate alone.
 */
export function cpuSecondsOf(pid: number, tid?: number): number {
  const stat = readFileSync(
    tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`,
    'utf8',
  );
  // Fields after the parenthesised command name, which may itself hold spaces.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** One thread's name (its `comm`, e.g. `node`, `V8 DefaultWorke`, a worker's name) and CPU seconds so far. */
export interface ThreadCpu {
  readonly name: string;
  readonly seconds: number;
}

/**
 * CPU seconds of every live thread of a process, by tid (/proc/<pid>/task). A pipeline of threads
 * on enough cores runs no faster than its busiest thread, so benchmarks judge that thread's CPU
 * per unit of work beside the process's total. A thread that ends between the listing and the
 * read is left out.
 */
export function threadCpuOf(pid: number): Map<number, ThreadCpu> {
  const out = new Map<number, ThreadCpu>();
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(entry), { name, seconds: (Number(f[11]) + Number(f[12])) / 100 });
  }
  return out;
}

/** The pid of the first process whose command name is exactly `name` (e.g. RabbitMQ's `beam.smp`), if any. */
export function pidOfCommand(name: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
