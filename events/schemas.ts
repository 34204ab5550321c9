import type { SchemaObject } from 'ajv';

/**
 * The queue contract between the indexer and its consumers (the API). Field names follow the
 * reference staking-queue-client phase-1 events (backend-services.md §2.2); what we add is additive:
 * `event_id` and `sequence` on every message, `expire_height` on expired, and the withdraw tx's
 * hash, height and path on withdraw. Amounts are integer satoshis, heights are integers, hashes
 * are lowercase hex in Bitcoin display order, transactions are full hex with witness.
 */
export const EVENT_KINDS = [
  'active',
  'unbonding',
  'withdraw',
  'expired',
  'btc-info',
  'confirmed-info',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** The reference's numeric event_type per kind (4 and 6 as in staking-queue-client). */
export const EVENT_TYPE_OF_KIND = Object.freeze({
  active: 1,
  unbonding: 2,
  withdraw: 3,
  expired: 4,
  'btc-info': 6,
  'confirmed-info': 7,
} as const satisfies Record<EventKind, number>);

interface Envelope {
  /** Stable id: `<staking_tx_hash_hex>:<kind>` (expired: `…:expired:<tx_type>`; btc-info: `btc-info:<height>`). */
  readonly event_id: string;
  /** Position in the indexer's outbox; strictly increasing in publish order for one indexer store. */
  readonly sequence: number;
}

export interface ActiveStakingEvent extends Envelope {
  readonly event_type: 1;
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
}

export interface UnbondingStakingEvent extends Envelope {
  readonly event_type: 2;
  readonly staking_tx_hash_hex: string;
  readonly unbonding_start_height: number;
  readonly unbonding_start_timestamp: number;
  readonly unbonding_timelock: number;
  readonly unbonding_output_index: number;
  readonly unbonding_tx_hex: string;
  readonly unbonding_tx_hash_hex: string;
}

export interface WithdrawStakingEvent extends Envelope {
  readonly event_type: 3;
  readonly staking_tx_hash_hex: string;
  readonly withdraw_tx_hash_hex: string;
  readonly withdraw_tx_btc_height: number;
  /** Which output was spent: the staking output (timelock path) or the unbonding output. */
  readonly withdraw_from: 'staking' | 'unbonding';
}

export interface ExpiredStakingEvent extends Envelope {
  readonly event_type: 4;
  readonly staking_tx_hash_hex: string;
  readonly tx_type: 'active' | 'unbonding';
  /** start height + timelock: the confirmed height at which this expiry was emitted. */
  readonly expire_height: number;
}

export interface BtcInfoEvent extends Envelope {
  readonly event_type: 6;
  /** The node's tip (unconfirmed) height. */
  readonly height: number;
  readonly confirmed_tvl: number;
  readonly unconfirmed_tvl: number;
}

/**
 * A block became confirmed (the reference's ConfirmedInfoEvent, staking-indexer `ExtraEventEnabled`):
 * its height and the confirmed TVL after it. Only sent when the indexer's
 * `rabbitmq.confirmed_info_events` is on.
 */
export interface ConfirmedInfoEvent extends Envelope {
  readonly event_type: 7;
  readonly height: number;
  readonly tvl: number;
}

export type StakingEvent =
  | ActiveStakingEvent
  | UnbondingStakingEvent
  | WithdrawStakingEvent
  | ExpiredStakingEvent
  | BtcInfoEvent
  | ConfirmedInfoEvent;

/** An event before the outbox gives it a sequence number. */
export type UnsequencedEvent = StakingEvent extends unknown
  ? DistributiveOmit<StakingEvent, 'sequence'>
  : never;
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface EventOfKind {
  active: ActiveStakingEvent;
  unbonding: UnbondingStakingEvent;
  withdraw: WithdrawStakingEvent;
  expired: ExpiredStakingEvent;
  'btc-info': BtcInfoEvent;
  'confirmed-info': ConfirmedInfoEvent;
}

const KIND_OF_TYPE = new Map<number, EventKind>(
  Object.entries(EVENT_TYPE_OF_KIND).map(([k, t]) => [t, k as EventKind]),
);

/** The kind of an event, from its event_type; undefined for a type the contract does not define. */
export function kindOfEventType(eventType: unknown): EventKind | undefined {
  return typeof eventType === 'number' ? KIND_OF_TYPE.get(eventType) : undefined;
}

/** The stable id an event must carry (DESIGN: transaction hash + kind; btc-info: height). */
export function eventIdOf(e: DistributiveOmit<StakingEvent, 'event_id' | 'sequence'>): string {
  switch (e.event_type) {
    case 1:
      return `${e.staking_tx_hash_hex}:active`;
    case 2:
      return `${e.staking_tx_hash_hex}:unbonding`;
    case 3:
      return `${e.staking_tx_hash_hex}:withdraw`;
    case 4:
      return `${e.staking_tx_hash_hex}:expired:${e.tx_type}`;
    case 6:
      return `btc-info:${e.height}`;
    case 7:
      return `confirmed-info:${e.height}`;
  }
}

// ---- JSON schemas (ajv, strict, additionalProperties false) ----

const hash = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const xOnlyKey = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
/** Up to a block's 4,000,000 bytes, as hex. */
const txHex = { type: 'string', minLength: 2, maxLength: 8_000_000, pattern: '^(?:[0-9a-f]{2})+$' } as const;
const height = { type: 'integer', minimum: 0, maximum: 4_294_967_295 } as const;
const sat = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const timelock = { type: 'integer', minimum: 0, maximum: 65_535 } as const;
const timestamp = { type: 'integer', minimum: 0, maximum: 4_294_967_295 } as const;
const sequence = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;

function eventSchema(kind: EventKind, idPattern: string, properties: Record<string, unknown>): SchemaObject {
  return {
    $id: `staking-event-${kind}`,
    type: 'object',
    additionalProperties: false,
    required: ['event_type', 'event_id', 'sequence', ...Object.keys(properties)],
    properties: {
      event_type: { const: EVENT_TYPE_OF_KIND[kind] },
      event_id: { type: 'string', maxLength: 100, pattern: idPattern },
      sequence,
      ...properties,
    },
  };
}

/** One JSON schema per kind. */
export const EVENT_SCHEMAS: Readonly<Record<EventKind, SchemaObject>> = Object.freeze({
  active: eventSchema('active', '^[0-9a-f]{64}:active$', {
    staking_tx_hash_hex: hash,
    staker_pk_hex: xOnlyKey,
    finality_provider_pk_hex: xOnlyKey,
    staking_value: sat,
    staking_start_height: height,
    staking_start_timestamp: timestamp,
    staking_timelock: timelock,
    staking_output_index: { type: 'integer', minimum: 0, maximum: 4_294_967_295 },
    staking_tx_hex: txHex,
    is_overflow: { type: 'boolean' },
  }),
  unbonding: eventSchema('unbonding', '^[0-9a-f]{64}:unbonding$', {
    staking_tx_hash_hex: hash,
    unbonding_start_height: height,
    unbonding_start_timestamp: timestamp,
    unbonding_timelock: timelock,
    unbonding_output_index: { const: 0 },
    unbonding_tx_hex: txHex,
    unbonding_tx_hash_hex: hash,
  }),
  withdraw: eventSchema('withdraw', '^[0-9a-f]{64}:withdraw$', {
    staking_tx_hash_hex: hash,
    withdraw_tx_hash_hex: hash,
    withdraw_tx_btc_height: height,
    withdraw_from: { enum: ['staking', 'unbonding'] },
  }),
  expired: eventSchema('expired', '^[0-9a-f]{64}:expired:(?:active|unbonding)$', {
    staking_tx_hash_hex: hash,
    tx_type: { enum: ['active', 'unbonding'] },
    expire_height: height,
  }),
  'btc-info': eventSchema('btc-info', '^btc-info:[0-9]{1,10}$', {
    height,
    confirmed_tvl: sat,
    unconfirmed_tvl: sat,
  }),
  'confirmed-info': eventSchema('confirmed-info', '^confirmed-info:[0-9]{1,10}$', { height, tvl: sat }),
});
