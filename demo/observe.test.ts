import { describe, expect, it } from 'vitest';
import { parseMetrics, sumOf } from './observe.ts';

const TEXT = `# HELP si_invalid_txs_counter Invalid txs
# TYPE si_invalid_txs_counter counter
si_invalid_txs_counter{tx_type="confirmed_staking_transaction"} 2
si_invalid_txs_counter{tx_type="unconfirmed_staking_transaction"} 1
si_last_processed_btc_height 132
indexer_invalid_txs_by_reason_total{tx_type="confirmed_staking_transaction",reason="A \\"quoted\\" reason"} 3
`;

describe('parseMetrics and sumOf', () => {
  it('reads samples with and without labels, skipping comments', () => {
    const m = parseMetrics(TEXT);
    expect(m).toHaveLength(4);
    expect(sumOf(m, 'si_last_processed_btc_height')).toBe(132);
    expect(m[3]!.labels).toEqual({ tx_type: 'confirmed_staking_transaction', reason: 'A "quoted" reason' });
  });

  it('sums the samples whose labels match, and gives 0 for an absent metric', () => {
    const m = parseMetrics(TEXT);
    expect(sumOf(m, 'si_invalid_txs_counter')).toBe(3);
    expect(sumOf(m, 'si_invalid_txs_counter', { tx_type: 'unconfirmed_staking_transaction' })).toBe(1);
    expect(sumOf(m, 'si_invalid_txs_counter', { tx_type: 'nope' })).toBe(0);
    expect(sumOf(m, 'no_such_metric')).toBe(0);
  });
});
