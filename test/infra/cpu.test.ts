import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  cpuSecondsOf,
  pidListeningOn,
  runQueueWaitSecondsOf,
  schedstatSecondsOf,
  threadCpuOf,
} from './cpu.ts';

/** Spins this thread until it has used `seconds` of CPU (process.cpuUsage, microseconds). */
function spin(seconds: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1e6 >= seconds) return;
  }
}

describe('cpu', () => {
  it("measures a thread's CPU below a clock tick of 10 ms, so a short window is not ±1 tick", () => {
    const before = cpuSecondsOf(process.pid, process.pid);
    spin(0.003);
    const used = cpuSecondsOf(process.pid, process.pid) - before;
    // Ticks would give 0 or 0.01 here.
    expect(used).toBeGreaterThanOrEqual(0.0025);
    expect(used).toBeLessThan(0.008);
  });

  it('measures the time a thread waited for a CPU: two spinners on one CPU each wait about half the time', async () => {
    // taskset (util-linux) puts both on CPU 0; each then runs about half of the wall time.
    const spinners = [0, 1].map(() =>
      spawn('taskset', ['-c', '0', process.execPath, '-e', 'for (;;);'], { stdio: 'ignore' }),
    );
    try {
      const pid = spinners[0]!.pid!;
      await new Promise((r) => setTimeout(r, 300));
      const before = runQueueWaitSecondsOf(pid);
      const both0 = schedstatSecondsOf(pid)!;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 600));
      const waited = runQueueWaitSecondsOf(pid)! - before!;
      const both1 = schedstatSecondsOf(pid)!;
      const wall = (performance.now() - t0) / 1000;
      // Alone on CPU 0 each waits half the time; another test's process there makes it more.
      expect(waited).toBeGreaterThan(wall * 0.25);
      expect(waited).toBeLessThan(wall * 0.9);
      // One read gives both: a spinner is always either on CPU 0 or waiting for it.
      const onCpu = both1.onCpu - both0.onCpu;
      expect(onCpu).toBeGreaterThan(wall * 0.1);
      expect(onCpu + both1.waiting - both0.waiting).toBeGreaterThan(wall * 0.8);
      expect(onCpu + both1.waiting - both0.waiting).toBeLessThan(wall * 1.2);
    } finally {
      for (const s of spinners) s.kill('SIGKILL');
    }
    expect(runQueueWaitSecondsOf(2 ** 22 + 1)).toBeUndefined(); // no such process
  });

  it('lists every thread with its name and exact CPU', () => {
    const main = threadCpuOf(process.pid).get(process.pid);
    expect(main?.name.length).toBeGreaterThan(0);
    const s = main!.seconds;
    expect(Math.abs(s * 100 - Math.round(s * 100))).toBeGreaterThan(0);
  });

  it('finds the process listening on a port, and none where nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      expect(pidListeningOn(port)).toBe(process.pid);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(pidListeningOn(1)).toBeUndefined();
  });
});
