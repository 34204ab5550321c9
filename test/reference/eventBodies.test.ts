import { describe, expect, it } from 'vitest';
import {
  activeEvent,
  btcInfoEvent,
  expiredEvent,
  makeStake,
  unbondingEvent,
  withdrawEvent,
} from '../../api/testkit.ts';
import {
  delayQueueOf,
  dlxRoutingKeyOf,
  kindOf,
  parseReferenceBody,
  referenceEventId,
  referenceNames,
  toReferenceBody,
} from '../../events/index.ts';

/**
 * Reference bodies and names against babylonchain/staking-queue-client at 8c69691
 * (client/schema.go: queue names, structs; client/rabbitmq_client.go: `_delay`, `_routing_key`,
 * `common_dlx`).
 */
const s = makeStake('ref-unit');
const events = [
  activeEvent(s, { sequence: 1 }),
  unbondingEvent(s.txid, { sequence: 2 }),
  expiredEvent(s.txid, 'unbonding', { sequence: 3 }),
  withdrawEvent(s.txid, 'unbonding', { sequence: 4 }),
  btcInfoEvent(150, 1, 2, 5),
];

describe('reference bodies', () => {
  it('carry no field of ours, and the id derived from them is our event_id', () => {
    for (const e of events) {
      const kind = kindOf(e);
      const body = toReferenceBody(kind, e as unknown as Record<string, unknown>);
      const json = JSON.parse(body);
      for (const ours of [
        'event_id',
        'sequence',
        'expire_height',
        'withdraw_tx_hash_hex',
        'withdraw_tx_btc_height',
        'withdraw_from',
      ]) {
        expect(json, `${kind}: ${ours}`).not.toHaveProperty(ours);
      }
      expect(referenceEventId(kind, parseReferenceBody(kind, Buffer.from(body)))).toBe(e.event_id);
    }
    expect(Object.keys(JSON.parse(toReferenceBody('withdraw', events[3] as never)))).toEqual([
      'event_type',
      'staking_tx_hash_hex',
    ]);
  });

  it('are read tolerantly (unknown fields, upper-case hex) but strictly for the queue’s own fields', () => {
    const body = (o: object) => Buffer.from(JSON.stringify(o));
    const hash = 'AB'.repeat(32);
    expect(
      parseReferenceBody('withdraw', body({ event_type: 3, staking_tx_hash_hex: hash, schema_version: 1 })),
    ).toEqual({ event_type: 3, staking_tx_hash_hex: 'ab'.repeat(32) });
    const err = (kind: Parameters<typeof parseReferenceBody>[0], b: Buffer) => {
      try {
        parseReferenceBody(kind, b);
      } catch (e) {
        return (e as { code: string }).code;
      }
      return 'accepted';
    };
    expect(err('withdraw', body({ event_type: 2, staking_tx_hash_hex: hash }))).toBe('EVENTS_INVALID');
    expect(err('withdraw', body({ event_type: 3 }))).toBe('EVENTS_INVALID');
    expect(err('expired', body({ event_type: 4, staking_tx_hash_hex: hash, tx_type: 'other' }))).toBe(
      'EVENTS_INVALID',
    );
    expect(err('btc-info', body({ event_type: 6, height: -1, confirmed_tvl: 0, unconfirmed_tvl: 0 }))).toBe(
      'EVENTS_INVALID',
    );
    expect(err('confirmed-info', Buffer.from('not json'))).toBe('EVENTS_NOT_JSON');
    expect(err('confirmed-info', body({ event_type: 7, height: 5, tvl: 9 }))).toBe('accepted');
  });
});

describe('reference names', () => {
  it('are the reference’s, each prefixed, common_dlx included', () => {
    const n = referenceNames('p.');
    expect(n.deadLetterExchange).toBe('p.common_dlx');
    expect(Object.values(n.queues)).toEqual([
      'p.active_staking_queue',
      'p.unbonding_staking_queue',
      'p.withdraw_staking_queue',
      'p.expired_staking_queue',
      'p.staking_stats_queue',
      'p.btc_info_queue',
      'p.confirmed_info_queue',
    ]);
    expect(delayQueueOf('btc_info_queue')).toBe('btc_info_queue_delay');
    expect(dlxRoutingKeyOf('btc_info_queue')).toBe('btc_info_queue_routing_key');
  });
});
