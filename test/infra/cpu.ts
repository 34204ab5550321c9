import { readFileSync } from 'node:fs';

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
