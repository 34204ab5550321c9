import { afterEach, describe, expect, it } from 'vitest';
import { takeSighup } from './cli.ts';

describe('takeSighup', () => {
  const before = process.listeners('SIGHUP');
  afterEach(() => {
    for (const l of process.listeners('SIGHUP')) if (!before.includes(l)) process.off('SIGHUP', l);
  });

  it('keeps a SIGHUP that came before the service was up, and reloads once it is handed over', () => {
    const sighup = takeSighup();
    process.emit('SIGHUP', 'SIGHUP');
    process.emit('SIGHUP', 'SIGHUP');
    let reloads = 0;
    sighup.reloadWith(() => {
      reloads++;
    });
    expect(reloads).toBe(1);
    process.emit('SIGHUP', 'SIGHUP');
    expect(reloads).toBe(2);
  });

  it('reloads nothing at hand-over when no SIGHUP came', () => {
    const sighup = takeSighup();
    let reloads = 0;
    sighup.reloadWith(() => {
      reloads++;
    });
    expect(reloads).toBe(0);
  });
});
