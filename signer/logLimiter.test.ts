import { describe, expect, it } from 'vitest';
import { LogLimiter } from './logLimiter.ts';

describe('LogLimiter', () => {
  it('writes at most max lines an interval, then one summary with the number suppressed', () => {
    let t = 0;
    const summaries: number[] = [];
    const l = new LogLimiter({
      max: 3,
      intervalMs: 1000,
      summary: (n) => summaries.push(n),
      now: () => t,
      timer: false,
    });
    const first = Array.from({ length: 10 }, () => l.allow());
    expect(first.filter(Boolean)).toHaveLength(3);
    expect(summaries).toEqual([]);
    t = 1000;
    expect(l.allow()).toBe(true); // a new interval: the summary of the last one comes first
    expect(summaries).toEqual([7]);
    expect([l.allow(), l.allow(), l.allow()]).toEqual([true, true, false]);
    l.close();
    expect(summaries).toEqual([7, 1]);
  });

  it('writes no summary when nothing was suppressed', () => {
    const summaries: number[] = [];
    const l = new LogLimiter({ max: 5, intervalMs: 1000, summary: (n) => summaries.push(n), timer: false });
    l.allow();
    l.close();
    expect(summaries).toEqual([]);
  });
});
