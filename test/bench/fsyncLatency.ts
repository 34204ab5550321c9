import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * This disk's cost of one durable append: a small write then fdatasync, as the signer's audit log
 * does per batch, `n` times in a scratch file in `dir`. Printed beside a service's latency, it is
 * the floor no durable answer can go under.
 */
export async function fsyncLatencyMs(dir: string, n = 300): Promise<number[]> {
  const file = join(dir, `fsync-probe-${process.pid}`);
  const fh = await open(file, 'a', 0o600);
  const line = Buffer.from(`${'x'.repeat(400)}\n`);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await fh.write(line);
      await fh.datasync();
      out.push(performance.now() - t);
    }
  } finally {
    await fh.close();
    await rm(file, { force: true });
  }
  return out.sort((a, b) => a - b);
}

/** The p-th percentile of an ascending list (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
