import { describe, expect, it } from 'vitest';
import { ProgressMeter, syncState } from './progress.ts';

describe('ProgressMeter', () => {
  it('reports at most once per interval, with rates over the blocks since the last report', () => {
    let now = 0;
    const m = new ProgressMeter({ intervalMs: 10_000, startHeight: 101, now: () => now });
    now = 4_000;
    expect(m.record({ blocks: 100, txs: 1_000, height: 200, tip: 1_105, depth: 6 })).toBeUndefined();
    now = 10_000;
    const p = m.record({ blocks: 100, txs: 3_000, height: 300, tip: 1_105, depth: 6 });
    expect(p).toEqual({
      height: 300,
      tip: 1_105,
      target: 1_100,
      behind: 800,
      blocksPerSecond: 20,
      txsPerSecond: 400,
      etaSeconds: 40,
      progress: 0.2,
    });
    now = 15_000;
    expect(m.record({ blocks: 50, txs: 50, height: 350, tip: 1_105, depth: 6 })).toBeUndefined();
    now = 20_000;
    expect(m.record({ blocks: 50, txs: 50, height: 400, tip: 1_105, depth: 6 })?.blocksPerSecond).toBe(10);
  });

  it('says nothing once the target is reached', () => {
    let now = 0;
    const m = new ProgressMeter({ intervalMs: 1, startHeight: 1, now: () => now });
    now = 5_000;
    expect(m.record({ blocks: 10, txs: 10, height: 95, tip: 100, depth: 6 })).toBeUndefined();
  });
});

describe('syncState', () => {
  const at = (nodeTip: number | undefined, last: number | undefined, stopped = false) =>
    syncState({ stopped, nodeTip, last, startHeight: 101, depth: 6 });
  it('is following within the confirmation window, and one new block more', () => {
    expect(at(1_005, 1_000)).toBe('following'); // caught up: tip − depth + 1 processed
    expect(at(1_006, 1_000)).toBe('following'); // a block arrived since the last poll
    expect(at(1_007, 1_000)).toBe('syncing');
    expect(at(106, undefined)).toBe('following'); // nothing confirmed past the start height yet
    expect(at(107, undefined)).toBe('syncing');
  });
  it('is starting before the first poll, stopped after a fatal error', () => {
    expect(at(undefined, 1_000)).toBe('starting');
    expect(at(5_000, 1_000, true)).toBe('stopped');
  });
});
