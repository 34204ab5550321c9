import type { SchemaType } from '../common/index.ts';

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
    case EVENT_TYPE_OF_KIND.active:
      return `${e.staking_tx_hash_hex}:active`;
    case EVENT_TYPE_OF_KIND.unbonding:
      return `${e.staking_tx_hash_hex}:unbonding`;
    case EVENT_TYPE_OF_KIND.withdraw:
      return `${e.staking_tx_hash_hex}:withdraw`;
    case EVENT_TYPE_OF_KIND.expired:
      return `${e.staking_tx_hash_hex}:expired:${e.tx_type}`;
    case EVENT_TYPE_OF_KIND['btc-info']:
      return `btc-info:${e.height}`;
    case EVENT_TYPE_OF_KIND['confirmed-info']:
      return `confirmed-info:${e.height}`;
  }
}

// ---- JSON schemas (ajv, strict, additionalProperties false); the event types are derived from them ----

const hash = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const xOnlyKey = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
/** Up to a block's 4,000,000 bytes, as hex. */
const txHex = { type: 'string', minLength: 2, maxLength: 8_000_000, pattern: '^(?:[0-9a-f]{2})+$' } as const;
const height = { type: 'integer', minimum: 0, maximum: 4_294_967_295 } as const;
const sat = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const timelock = { type: 'integer', minimum: 0, maximum: 65_535 } as const;
const timestamp = { type: 'integer', minimum: 0, maximum: 4_294_967_295 } as const;
/** Position in the indexer's outbox; strictly increasing in publish order for one indexer store. */
const sequence = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;

/**
 * The schema of one kind: its own fields plus the envelope every message carries, `event_type`
 * (the kind's number), `event_id` (stable: `<staking_tx_hash_hex>:<kind>`, expired
 * `…:expired:<tx_type>`, btc-info `btc-info:<height>`) and `sequence`.
 */
function eventSchema<K extends EventKind, const P extends Record<string, object>>(
  kind: K,
  idPattern: string,
  properties: P,
) {
  const required = ['event_type', 'event_id', 'sequence', ...Object.keys(properties)];
  return {
    $id: `staking-event-${kind}`,
    type: 'object',
    additionalProperties: false,
    required: required as readonly ('event_type' | 'event_id' | 'sequence' | keyof P)[],
    properties: {
      event_type: { const: EVENT_TYPE_OF_KIND[kind] },
      event_id: { type: 'string', maxLength: 100, pattern: idPattern },
      sequence,
      ...properties,
    },
  } as const;
}

const SCHEMAS = {
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
    /** Which output was spent: the staking output (timelock path) or the unbonding output. */
    withdraw_from: { enum: ['staking', 'unbonding'] },
  }),
  expired: eventSchema('expired', '^[0-9a-f]{64}:expired:(?:active|unbonding)$', {
    staking_tx_hash_hex: hash,
    tx_type: { enum: ['active', 'unbonding'] },
    /** start height + timelock: the confirmed height at which this expiry was emitted. */
    expire_height: height,
  }),
  /** The node's tip (unconfirmed) height and the TVLs. */
  'btc-info': eventSchema('btc-info', '^btc-info:[0-9]{1,10}$', {
    height,
    confirmed_tvl: sat,
    unconfirmed_tvl: sat,
  }),
  /**
   * A block became confirmed (the reference's ConfirmedInfoEvent, staking-indexer
   * `ExtraEventEnabled`): its height and the confirmed TVL after it. Only sent when the indexer's
   * `rabbitmq.confirmed_info_events` is on.
   */
  'confirmed-info': eventSchema('confirmed-info', '^confirmed-info:[0-9]{1,10}$', { height, tvl: sat }),
};

/** One JSON schema per kind. */
export const EVENT_SCHEMAS: Readonly<typeof SCHEMAS> = Object.freeze(SCHEMAS);

export type ActiveStakingEvent = SchemaType<typeof SCHEMAS.active>;
export type UnbondingStakingEvent = SchemaType<typeof SCHEMAS.unbonding>;
export type WithdrawStakingEvent = SchemaType<typeof SCHEMAS.withdraw>;
export type ExpiredStakingEvent = SchemaType<typeof SCHEMAS.expired>;
export type BtcInfoEvent = SchemaType<(typeof SCHEMAS)['btc-info']>;
export type ConfirmedInfoEvent = SchemaType<(typeof SCHEMAS)['confirmed-info']>;
