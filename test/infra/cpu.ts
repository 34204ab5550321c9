import { readFileSync } from 'node:fs';

/**
 * User + system CPU seconds another process has used so far, from /proc/<pid>/stat (Linux; clock
 * ticks of 1/100 s). Benchmarks print it beside wall time: on two cores, where the CPU went says
 * more about a target than the rate alone.
 */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name, which may itself hold spaces.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
