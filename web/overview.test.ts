import { describe, expect, it } from 'vitest';
import { parseGlobalParams } from '../params/index.ts';
import { capState, statusText } from './overview.ts';
import { state } from './state.ts';
import { PARAMS, PARAMS_JSON } from './testkit.ts';

const BTC = 100_000_000;

describe('statusText: each section says what it lacks', () => {
  it('loading, failed with nothing shown, failed with older figures shown, and fine', () => {
    expect(statusText({ kind: 'loading' }, 'finality providers', false)).toBe('Loading finality providers…');
    expect(
      statusText({ kind: 'error', message: 'The staking API refused: down (X).' }, 'system figures', false),
    ).toBe(
      'System figures could not be loaded: The staking API refused: down (X); the page retries every 10 s.',
    );
    const at = new Date(2026, 0, 1, 9, 5, 7);
    expect(
      statusText(
        { kind: 'error', message: 'The staking API cannot be reached; the page retries on its own.', at },
        'finality providers',
        true,
      ),
    ).toBe(
      'Showing finality providers from 09:05:07: the latest read failed (The staking API cannot be reached); the page retries every 10 s.',
    );
    expect(statusText({ kind: 'ok', at }, 'finality providers', true)).toBeUndefined();
  });
});

describe('capState: the cap of the version a stake broadcast now would be judged by', () => {
  const btc = (tip: number, unconfirmedSat: number) => ({
    network: 'regtest' as const,
    tip_height: tip,
    confirmed_tvl: 0,
    unconfirmed_tvl: unconfirmedSat,
  });

  it('is full at the cap, counting unconfirmed stakes, and not below it', () => {
    state.params = PARAMS;
    state.btc = btc(120, 10 * BTC);
    expect(capState()).toEqual({
      by: 'value',
      stakedSat: 1_000_000_000n,
      capSat: 1_000_000_000n,
      full: true,
    });
    state.btc = btc(120, 10 * BTC - 1);
    expect(capState()?.full).toBe(false);
    // Version 1 (cap 20 BTC) judges a stake confirmed from its activation at 130: tip 129.
    state.btc = btc(129, 21 * BTC);
    expect(capState()).toMatchObject({ capSat: 2_000_000_000n, full: true });
    state.btc = btc(128, 9 * BTC);
    expect(capState()).toMatchObject({ capSat: 1_000_000_000n, full: false });
  });

  it('by height: open through the cap height itself, full from the block after', () => {
    const raw = JSON.parse(JSON.stringify(PARAMS_JSON)) as { versions: Array<Record<string, unknown>> };
    raw.versions[0] = { ...raw.versions[0], staking_cap: 0, cap_height: 125 };
    state.params = parseGlobalParams(raw);
    // A stake broadcast at tip 124 confirms at 125 at the earliest: still inside the cap.
    state.btc = btc(124, 0);
    expect(capState()).toEqual({ by: 'height', capHeight: 125, blocksLeft: 1, full: false });
    state.btc = btc(125, 0);
    expect(capState()).toMatchObject({ by: 'height', full: true });
  });

  it('has none before the indexer reports a tip or before staking starts', () => {
    state.params = PARAMS;
    state.btc = { ...btc(0, 0), tip_height: null };
    expect(capState()).toBeUndefined();
    state.btc = btc(100, 0);
    expect(capState()).toBeUndefined();
  });
});
