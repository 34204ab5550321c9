import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EVENTS_ERRORS } from './errors.ts';
import {
  type ActiveStakingEvent,
  type BtcInfoEvent,
  type ConfirmedInfoEvent,
  EVENT_KINDS,
  EVENT_TYPE_OF_KIND,
  type ExpiredStakingEvent,
  eventIdOf,
  type StakingEvent,
  type UnbondingStakingEvent,
  type WithdrawStakingEvent,
} from './schemas.ts';
import { assertStakingEvent, isStakingEvent, kindOf, parseEventBody } from './validate.ts';

const H = 'ab'.repeat(32);
const H2 = 'cd'.repeat(32);
const K = '4f'.repeat(32);

const examples: Record<string, StakingEvent> = {
  active: {
    event_type: 1,
    event_id: `${H}:active`,
    sequence: 1,
    staking_tx_hash_hex: H,
    staker_pk_hex: K,
    finality_provider_pk_hex: K,
    staking_value: 100_000,
    staking_start_height: 120,
    staking_start_timestamp: 1_700_000_000,
    staking_timelock: 1000,
    staking_output_index: 0,
    staking_tx_hex: '0200',
    is_overflow: false,
  },
  unbonding: {
    event_type: 2,
    event_id: `${H}:unbonding`,
    sequence: 2,
    staking_tx_hash_hex: H,
    unbonding_start_height: 130,
    unbonding_start_timestamp: 1_700_000_600,
    unbonding_timelock: 3,
    unbonding_output_index: 0,
    unbonding_tx_hex: '0200',
    unbonding_tx_hash_hex: H2,
  },
  withdraw: {
    event_type: 3,
    event_id: `${H}:withdraw`,
    sequence: 3,
    staking_tx_hash_hex: H,
    withdraw_tx_hash_hex: H2,
    withdraw_tx_btc_height: 140,
    withdraw_from: 'unbonding',
  },
  expired: {
    event_type: 4,
    event_id: `${H}:expired:unbonding`,
    sequence: 4,
    staking_tx_hash_hex: H,
    tx_type: 'unbonding',
    expire_height: 133,
  },
  'btc-info': {
    event_type: 6,
    event_id: 'btc-info:141',
    sequence: 5,
    height: 141,
    confirmed_tvl: 100_000,
    unconfirmed_tvl: 200_000,
  },
  'confirmed-info': {
    event_type: 7,
    event_id: 'confirmed-info:140',
    sequence: 6,
    height: 140,
    tvl: 100_000,
  },
};

describe('event schemas', () => {
  it.each(EVENT_KINDS)('accepts a well-formed %s event and names its kind', (kind) => {
    const e = examples[kind]!;
    expect(assertStakingEvent(e)).toBe(e);
    expect(kindOf(e)).toBe(kind);
    expect(eventIdOf(e)).toBe(e.event_id);
    expect(parseEventBody(Buffer.from(JSON.stringify(e)))).toEqual(e);
  });

  it.each(EVENT_KINDS)('refuses a %s event with an unknown field (not stripped)', (kind) => {
    expect(() => assertStakingEvent({ ...examples[kind], extra: 1 })).toThrow(/extra is not a field/);
  });

  it.each(EVENT_KINDS)('refuses a %s event with a missing field', (kind) => {
    const e: Record<string, unknown> = { ...examples[kind] };
    delete e.sequence;
    expect(isStakingEvent(e)).toBe(false);
  });

  const bad: Array<[string, string, Record<string, unknown>]> = [
    ['an amount as a string', 'active', { staking_value: '100000' }],
    ['a fractional amount', 'active', { staking_value: 1.5 }],
    ['a negative amount', 'btc-info', { confirmed_tvl: -1 }],
    ['an amount beyond 2^53', 'btc-info', { unconfirmed_tvl: 2 ** 53 }],
    [
      'an uppercase hash',
      'withdraw',
      { staking_tx_hash_hex: H.toUpperCase(), event_id: `${H.toUpperCase()}:withdraw` },
    ],
    ['a short key', 'active', { staker_pk_hex: 'ab' }],
    ['an odd-length tx hex', 'unbonding', { unbonding_tx_hex: '020' }],
    ['an unbonding output index other than 0', 'unbonding', { unbonding_output_index: 1 }],
    ['a timelock beyond uint16', 'active', { staking_timelock: 65_536 }],
    ['an unknown expiry type', 'expired', { tx_type: 'withdrawn' }],
    ['a sequence of 0', 'btc-info', { sequence: 0 }],
    ['is_overflow as a number', 'active', { is_overflow: 0 }],
    ['an event_id of another tx', 'active', { event_id: `${H2}:active` }],
    ['an event_id of another kind', 'unbonding', { event_id: `${H}:active` }],
    ['a btc-info id of another height', 'btc-info', { event_id: 'btc-info:140' }],
  ];
  it.each(bad)('refuses %s', (_what, kind, change) => {
    expect(() => assertStakingEvent({ ...examples[kind], ...change })).toThrow(
      expect.objectContaining({ code: 'EVENTS_INVALID' }),
    );
  });

  it('refuses an unknown event_type (the reference stats event 5 is not the indexer’s)', () => {
    expect(() => assertStakingEvent({ ...examples.active, event_type: 5 })).toThrow(
      expect.objectContaining({ code: 'EVENTS_UNKNOWN_KIND' }),
    );
    expect(() => assertStakingEvent(null)).toThrow(expect.objectContaining({ code: 'EVENTS_UNKNOWN_KIND' }));
  });

  it('refuses a body that is not UTF-8 JSON', () => {
    expect(() => parseEventBody(Buffer.from('{"event_type":'))).toThrow(
      expect.objectContaining({ code: 'EVENTS_NOT_JSON' }),
    );
    expect(() => parseEventBody(Uint8Array.of(0xff, 0xfe))).toThrow(
      expect.objectContaining({ code: 'EVENTS_NOT_JSON' }),
    );
  });
});

describe('events/README.md', () => {
  const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));

  it('shows one valid example of every kind', () => {
    const kinds = blocks.filter((b) => 'event_type' in b).map((b) => kindOf(assertStakingEvent(b)));
    expect(new Set(kinds)).toEqual(new Set(EVENT_KINDS));
  });

  it.each(Object.keys(EVENTS_ERRORS))('documents error code %s', (code) => {
    expect(code.startsWith('EVENTS_')).toBe(true);
    expect(readme).toContain(`\`${code}\``);
  });
});

describe('the event types are the schemas’ (derived, not kept beside them)', () => {
  it('each kind has exactly the fields, types and optionality of the contract', () => {
    expectTypeOf<ActiveStakingEvent>().toEqualTypeOf<{
      readonly event_type: 1;
      readonly event_id: string;
      readonly sequence: number;
      readonly staking_tx_hash_hex: string;
      readonly staker_pk_hex: string;
      readonly finality_provider_pk_hex: string;
      readonly staking_value: number;
      readonly staking_start_height: number;
      readonly staking_start_timestamp: number;
      readonly staking_timelock: number;
      readonly staking_output_index: number;
      readonly staking_tx_hex: string;
      readonly is_overflow: boolean;
    }>();
    expectTypeOf<UnbondingStakingEvent>().toEqualTypeOf<{
      readonly event_type: 2;
      readonly event_id: string;
      readonly sequence: number;
      readonly staking_tx_hash_hex: string;
      readonly unbonding_start_height: number;
      readonly unbonding_start_timestamp: number;
      readonly unbonding_timelock: number;
      readonly unbonding_output_index: 0;
      readonly unbonding_tx_hex: string;
      readonly unbonding_tx_hash_hex: string;
    }>();
    expectTypeOf<WithdrawStakingEvent>().toEqualTypeOf<{
      readonly event_type: 3;
      readonly event_id: string;
      readonly sequence: number;
      readonly staking_tx_hash_hex: string;
      readonly withdraw_tx_hash_hex: string;
      readonly withdraw_tx_btc_height: number;
      readonly withdraw_from: 'staking' | 'unbonding';
    }>();
    expectTypeOf<ExpiredStakingEvent>().toEqualTypeOf<{
      readonly event_type: 4;
      readonly event_id: string;
      readonly sequence: number;
      readonly staking_tx_hash_hex: string;
      readonly tx_type: 'active' | 'unbonding';
      readonly expire_height: number;
    }>();
    expectTypeOf<BtcInfoEvent>().toEqualTypeOf<{
      readonly event_type: 6;
      readonly event_id: string;
      readonly sequence: number;
      readonly height: number;
      readonly confirmed_tvl: number;
      readonly unconfirmed_tvl: number;
    }>();
    expectTypeOf<ConfirmedInfoEvent>().toEqualTypeOf<{
      readonly event_type: 7;
      readonly event_id: string;
      readonly sequence: number;
      readonly height: number;
      readonly tvl: number;
    }>();
    // The numbers themselves are the reference's (staking-queue-client), checked at run time too.
    expect(EVENT_TYPE_OF_KIND).toEqual({
      active: 1,
      unbonding: 2,
      withdraw: 3,
      expired: 4,
      'btc-info': 6,
      'confirmed-info': 7,
    });
  });
});
