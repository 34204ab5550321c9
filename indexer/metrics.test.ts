import { describe, expect, it } from 'vitest';
import { EVENT_TYPE_OF_KIND, type StakingEvent, type UnsequencedEvent } from '../events/index.ts';
import { type BlockResult, type BlockStats, emptyStats } from './blockResult.ts';
import { countByKind, createIndexerMetrics, recordBlocks, recordPublished } from './metrics.ts';

function block(height: number, stats: Partial<BlockStats>, events: UnsequencedEvent[] = []) {
  const s: BlockStats = { ...emptyStats(), txCount: 10, decoded: 2, ...stats };
  const result: BlockResult = { writes: [], events, stats: s, tvl: 0 };
  return { height, result };
}

function expired(txid: string, type: 'active' | 'unbonding', h: number): UnsequencedEvent {
  return {
    event_type: EVENT_TYPE_OF_KIND.expired,
    event_id: `${txid}:expired:${type}`,
    staking_tx_hash_hex: txid,
    tx_type: type,
    expire_height: h,
  };
}

async function value(
  m: ReturnType<typeof createIndexerMetrics>,
  series: string,
): Promise<number | undefined> {
  const text = await m.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('recordBlocks: one commit’s blocks summed into the metrics', () => {
  it('counters are the sums over the blocks, last-found heights the last block with such a tx', async () => {
    const m = createIndexerMetrics();
    const tx = 'ab'.repeat(32);
    recordBlocks(m, [
      block(100, { staking: { active: 2, overflow: 1 }, withdrawFromStaking: 1 }),
      block(101, {
        txCount: 5,
        decoded: 1,
        unbonding: 1,
        failures: 1,
        rejections: [
          { txType: 'confirmed_staking_transaction', reason: 'STAKING_VALUE_OUT_OF_RANGE', txid: tx },
        ],
      }),
      block(102, { staking: { active: 1, overflow: 0 }, withdrawFromUnbonding: 2 }, [
        expired(tx, 'active', 102),
        expired('cd'.repeat(32), 'active', 102),
        expired(tx, 'unbonding', 102),
      ]),
      block(103, {
        rejections: [
          { txType: 'confirmed_staking_transaction', reason: 'STAKING_VALUE_OUT_OF_RANGE', txid: tx },
          { txType: 'confirmed_staking_transaction', reason: 'STAKING_TIME_OUT_OF_RANGE', txid: tx },
        ],
      }),
    ]);
    recordBlocks(m, [block(104, { unbonding: 2 })]);
    const want: Record<string, number | undefined> = {
      indexer_blocks_processed_total: 5,
      si_last_processed_btc_height: 104,
      'indexer_txs_seen_total{decoded="yes"}': 9,
      'indexer_txs_seen_total{decoded="no"}': 36,
      'si_total_staking_txs{tx_type="active"}': 3,
      'si_total_staking_txs{tx_type="overflow"}': 1,
      si_total_unbonding_txs: 3,
      si_total_withdraw_txs_from_staking: 1,
      si_total_withdraw_txs_from_unbonding: 2,
      si_failed_processing_staking_txs_counter: 1,
      si_last_found_staking_tx_height: 102,
      si_last_found_unbonding_tx_height: 104,
      si_last_found_withdraw_tx_from_staking_height: 100,
      si_last_found_withdraw_tx_from_unbonding_height: 102,
      'indexer_expired_total{tx_type="active"}': 2,
      'indexer_expired_total{tx_type="unbonding"}': 1,
      'si_invalid_txs_counter{tx_type="confirmed_staking_transaction"}': 3,
      'indexer_invalid_txs_by_reason_total{tx_type="confirmed_staking_transaction",reason="STAKING_VALUE_OUT_OF_RANGE"}': 2,
      'indexer_invalid_txs_by_reason_total{tx_type="confirmed_staking_transaction",reason="STAKING_TIME_OUT_OF_RANGE"}': 1,
    };
    const got: Record<string, number | undefined> = {};
    for (const series of Object.keys(want)) got[series] = await value(m, series);
    expect(got).toEqual(want);
  });

  it('an empty commit changes nothing', async () => {
    const m = createIndexerMetrics();
    recordBlocks(m, []);
    expect(await value(m, 'indexer_blocks_processed_total')).toBe(0);
    expect(await value(m, 'si_last_processed_btc_height')).toBe(0);
  });
});

describe('recordPublished: events the broker confirmed, counted by kind', () => {
  it('adds each batch to the kinds it holds, and nothing to the others', async () => {
    const m = createIndexerMetrics();
    const ev = (txid: string, type: 'active' | 'unbonding', seq: number) =>
      ({ ...expired(txid, type, 200), sequence: seq }) as StakingEvent;
    const info = (seq: number) =>
      ({
        event_type: EVENT_TYPE_OF_KIND['btc-info'],
        event_id: `btc-info:${seq}`,
        sequence: seq,
      }) as unknown as StakingEvent;
    recordPublished(
      m,
      countByKind([ev('ab'.repeat(32), 'active', 1), info(2), ev('cd'.repeat(32), 'unbonding', 3)]),
    );
    recordPublished(m, countByKind([info(4)]));
    recordPublished(m, countByKind([]));
    const text = await m.registry.metrics();
    const count = (kind: string) => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`indexer_events_published_total{kind="${kind}"} `));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    expect(count('expired')).toBe(2);
    expect(count('btc-info')).toBe(2);
    expect(count('active') ?? 0).toBe(0);
  });
});
