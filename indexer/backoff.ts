/**
 * How long the relay waits after its `failures`-th failure in a row, whether a publish failed (on
 * its thread) or the thread itself did (relay.ts): 100 ms × 2^failures, at most `maxMs`.
 */
export function backoffMs(failures: number, maxMs: number): number {
  return Math.min(maxMs, 100 * 2 ** Math.min(failures, 10));
}
