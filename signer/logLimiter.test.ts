import { describe, expect, it } from 'vitest';
import { ClientRateLimiter, LogLimiter } from './logLimiter.ts';

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

describe('ClientRateLimiter', () => {
  it('lets max requests a window through per key, then says how many seconds until the window closes', () => {
    let t = 10_000;
    const l = new ClientRateLimiter({ max: 3, windowMs: 60_000, now: () => t });
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([undefined, undefined, undefined]);
    expect(l.take('a')).toBe(60);
    expect(l.take('b')).toBeUndefined(); // another client has its own allowance
    t += 59_001;
    expect(l.take('a')).toBe(1); // rounded up: never "retry after 0"
    expect(l.take('a')).toBe(1);
    t += 999;
    // The window opened by the first request has closed: a new one opens with this request.
    expect([l.take('a'), l.take('a'), l.take('a'), l.take('a')]).toEqual([
      undefined,
      undefined,
      undefined,
      60,
    ]);
    t += 30_500;
    expect(l.take('a')).toBe(30);
  });

  it('refuses at once when max is 0 and a refused request does not extend the window', () => {
    let t = 0;
    const l = new ClientRateLimiter({ max: 0, windowMs: 1000, now: () => t });
    expect(l.take('a')).toBe(1);
    t = 999;
    expect(l.take('a')).toBe(1);
    t = 1000;
    expect(l.take('a')).toBe(1);
  });
});
