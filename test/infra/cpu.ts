import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * User + system CPU seconds a process has used so far, from /proc/<pid>/stat (Linux), or one of its
 * threads with `tid` (the main thread's tid is the pid). Benchmarks print it beside wall time: on
 * two cores, where the CPU went says more about a target than the rate alone.
 *
 * A process's figure counts its ended threads too, in clock ticks of 1/100 s: right over seconds,
 * ±10–20 ms over any span. A thread's is exact where the kernel keeps scheduler statistics
 * (/proc/<pid>/task/<tid>/schedstat, its time on a CPU in nanoseconds), else ticks as well; a
 * process's own exact total is `process.cpuUsage()`.
 */
export function cpuSecondsOf(pid: number, tid?: number): number {
  if (tid !== undefined) return threadSecondsOf(`/proc/${pid}/task/${tid}`);
  return ticksOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** One thread's name (its `comm`: `node` unless the thread named itself) and CPU seconds so far. */
export interface ThreadCpu {
  readonly name: string;
  readonly seconds: number;
}

/**
 * CPU seconds of every live thread of a process, by tid (/proc/<pid>/task; exact as
 * `cpuSecondsOf` with a tid). A pipeline of threads on enough cores runs no faster than its
 * busiest thread, so benchmarks judge that thread's CPU per unit of work beside the process's
 * total. A thread that ends between the listing and the read is left out.
 */
export function threadCpuOf(pid: number): Map<number, ThreadCpu> {
  const out = new Map<number, ThreadCpu>();
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    const dir = `/proc/${pid}/task/${entry}`;
    try {
      const name = readFileSync(`${dir}/comm`, 'utf8').trimEnd();
      out.set(Number(entry), { name, seconds: threadSecondsOf(dir) });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/**
 * The pid of the process listening on TCP `port` (e.g. the broker a benchmark publishes to), if
 * this user may see it: the socket's inode from /proc/net/tcp{,6}, then the process holding it.
 * Found by its port, not by its command name: `beam.smp` is also every short-lived rabbitmqctl and
 * every test's private broker, which may end while a benchmark reads its CPU.
 */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      if (Number.parseInt(f[1]!.split(':').pop()!, 16) === port) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    for (const fd of fds) {
      try {
        const link = readlinkSync(`/proc/${entry}/fd/${fd}`);
        if (link.startsWith('socket:[') && inodes.has(link.slice(8, -1))) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/**
 * Seconds a thread has spent runnable but waiting for a CPU so far (the second field of
 * /proc/<pid>/task/<tid>/schedstat; the main thread's tid is the pid), or undefined where the kernel
 * keeps no scheduler statistics. On two shared cores a request can be slow because its process
 * waited for a CPU, not because it worked: benchmarks print this beside latency to tell the two apart.
 */
export function runQueueWaitSecondsOf(pid: number, tid: number = pid): number | undefined {
  return schedstatSecondsOf(pid, tid)?.waiting;
}

/**
 * A thread's seconds on a CPU and waiting for one so far, from one read of its schedstat (the main
 * thread's tid is the pid), or undefined where the kernel keeps no scheduler statistics: for a
 * benchmark that reads both around every request.
 */
export function schedstatSecondsOf(
  pid: number,
  tid: number = pid,
): { readonly onCpu: number; readonly waiting: number } | undefined {
  const s = schedstatOf(`/proc/${pid}/task/${tid}`);
  return s && { onCpu: s.onCpu / 1e9, waiting: s.waiting / 1e9 };
}

/** A thread's scheduler statistics in nanoseconds, from its /proc/<pid>/task/<tid> directory; undefined without them. */
function schedstatOf(dir: string): { readonly onCpu: number; readonly waiting: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`${dir}/schedstat`, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  // "<ns on CPU> <ns waiting for a CPU> <time slices>"
  const [onCpu, waiting] = text.split(' ', 2).map(Number);
  return Number.isFinite(onCpu) && Number.isFinite(waiting)
    ? { onCpu: onCpu!, waiting: waiting! }
    : undefined;
}

// Kernels without CONFIG_SCHEDSTATS have no schedstat file (or, on some, zeros in it): ticks then.
let schedstat = true;

/** A thread's CPU seconds from its /proc/<pid>/task/<tid> directory. */
function threadSecondsOf(dir: string): number {
  if (schedstat) {
    const ns = schedstatOf(dir)?.onCpu;
    if (ns !== undefined && ns > 0) return ns / 1e9;
    // Confirm it is the kernel, not a thread that has just ended, before switching for good.
    if (!hasSchedstat()) schedstat = false;
  }
  return ticksOf(readFileSync(`${dir}/stat`, 'utf8'));
}

function hasSchedstat(): boolean {
  try {
    return (schedstatOf('/proc/thread-self')?.onCpu ?? 0) > 0;
  } catch {
    return false;
  }
}

/** utime + stime of a stat line, in seconds (clock ticks of 1/100 s, Linux's USER_HZ). */
function ticksOf(stat: string): number {
  // Fields after the parenthesised command name, which may itself hold spaces.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
