import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { CodedError } from '../common/index.ts';
import { consumeSerially, type EventConsumer } from './consumer.ts';
import type { EventsErrorCode } from './errors.ts';
import { EVENT_TYPE_OF_KIND } from './schemas.ts';
import type { QueueType } from './topology.ts';

/**
 * The reference topology, as babylonchain/staking-queue-client declares it
 * (client/rabbitmq_client.go and client/schema.go at 8c69691): one durable queue per event kind,
 * a per-queue `<q>_delay` queue bound to the direct exchange `common_dlx` with `<q>_routing_key`,
 * which dead-letters back to its queue through the default exchange. Messages are `text/plain`
 * JSON without our `event_id`/`sequence`, published to the default exchange (routing key = queue
 * name). Declaring the queues with exactly the reference's arguments is what lets a reference
 * service and ours share a broker: RabbitMQ refuses any other arguments with 406.
 */
export const REFERENCE_KINDS = [
  'active',
  'unbonding',
  'withdraw',
  'expired',
  'stats',
  'btc-info',
  'confirmed-info',
] as const;
export type ReferenceKind = (typeof REFERENCE_KINDS)[number];

/** Ours, plus the reference's stats event (5), which this system never sends. */
export const REFERENCE_EVENT_TYPE: Readonly<Record<ReferenceKind, number>> = Object.freeze({
  ...EVENT_TYPE_OF_KIND,
  stats: 5,
});

const QUEUE_OF_KIND: Record<ReferenceKind, string> = {
  active: 'active_staking_queue',
  unbonding: 'unbonding_staking_queue',
  withdraw: 'withdraw_staking_queue',
  expired: 'expired_staking_queue',
  stats: 'staking_stats_queue',
  'btc-info': 'btc_info_queue',
  'confirmed-info': 'confirmed_info_queue',
};

/** The header the reference counts redeliveries in (an AMQP int32). */
export const PROCESSING_ATTEMPTS_HEADER = 'x-processing-attempts';

export interface ReferenceNames {
  /** `common_dlx` (prefixed): where a queue's dead letters go, on their way to `<q>_delay`. */
  readonly deadLetterExchange: string;
  readonly queues: Readonly<Record<ReferenceKind, string>>;
}

/**
 * The reference's names. The reference has no prefix; ours applies it to every name, `common_dlx`
 * included, so that test runs and deployments sharing a vhost never share a dead-letter route.
 */
export function referenceNames(prefix = ''): ReferenceNames {
  return Object.freeze({
    deadLetterExchange: `${prefix}common_dlx`,
    queues: Object.freeze(
      Object.fromEntries(REFERENCE_KINDS.map((k) => [k, `${prefix}${QUEUE_OF_KIND[k]}`])) as Record<
        ReferenceKind,
        string
      >,
    ),
  });
}

export const delayQueueOf = (queue: string) => `${queue}_delay`;
export const dlxRoutingKeyOf = (queue: string) => `${queue}_routing_key`;

/**
 * Declares one queue with its delay queue and binding, with the reference's exact arguments, in
 * the reference's order (exchange, delay queue, queue, binding).
 * @throws {CodedError} EVENTS_QUEUE_OUTDATED when a queue exists with other arguments (406)
 */
export async function declareReferenceQueue(
  ch: Channel,
  names: Pick<ReferenceNames, 'deadLetterExchange'>,
  queue: string,
  queueType: QueueType = 'quorum',
): Promise<void> {
  const dlx = names.deadLetterExchange;
  await ch.assertExchange(dlx, 'direct', { durable: true, arguments: { 'x-queue-type': queueType } });
  try {
    await ch.assertQueue(delayQueueOf(queue), {
      durable: true,
      arguments: {
        'x-queue-type': queueType,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': queue,
      },
    });
    await ch.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-queue-type': queueType,
        'x-dead-letter-exchange': dlx,
        'x-dead-letter-routing-key': dlxRoutingKeyOf(queue),
      },
    });
  } catch (e) {
    if ((e as { code?: unknown }).code === 406) {
      throw new CodedError<EventsErrorCode>(
        'EVENTS_QUEUE_OUTDATED',
        `the queue ${queue} (or its delay queue) exists with other arguments than the reference topology declares (another queue_type, or declared by an older version's reference_queues without the reference's dead-letter settings): drain and delete it, and its delay queue, and let this version declare it (events/README.md)`,
        { cause: e },
      );
    }
    throw e;
  }
  await ch.bindQueue(delayQueueOf(queue), dlx, dlxRoutingKeyOf(queue));
}

/** Declares every reference queue (publishers declare all of them, as the reference indexer does). */
export async function declareReferenceTopology(
  ch: Channel,
  names: ReferenceNames,
  queueType: QueueType = 'quorum',
  kinds: readonly ReferenceKind[] = REFERENCE_KINDS,
): Promise<void> {
  for (const k of kinds) await declareReferenceQueue(ch, names, names.queues[k], queueType);
}

/** Deletes the queues and the dead-letter exchange (tests, decommissioning). */
export async function deleteReferenceTopology(ch: Channel, names: ReferenceNames): Promise<void> {
  for (const q of Object.values(names.queues)) {
    await ch.deleteQueue(q);
    await ch.deleteQueue(delayQueueOf(q));
  }
  await ch.deleteExchange(names.deadLetterExchange);
}

type FieldType = 'string' | 'uint' | 'int' | 'bool';
/** The reference's fields per kind (client/schema.go at 8c69691), in its order. */
export const REFERENCE_FIELDS: Readonly<Record<ReferenceKind, ReadonlyArray<readonly [string, FieldType]>>> =
  {
    active: [
      ['event_type', 'uint'],
      ['staking_tx_hash_hex', 'string'],
      ['staker_pk_hex', 'string'],
      ['finality_provider_pk_hex', 'string'],
      ['staking_value', 'uint'],
      ['staking_start_height', 'uint'],
      ['staking_start_timestamp', 'int'],
      ['staking_timelock', 'uint'],
      ['staking_output_index', 'uint'],
      ['staking_tx_hex', 'string'],
      ['is_overflow', 'bool'],
    ],
    unbonding: [
      ['event_type', 'uint'],
      ['staking_tx_hash_hex', 'string'],
      ['unbonding_start_height', 'uint'],
      ['unbonding_start_timestamp', 'int'],
      ['unbonding_timelock', 'uint'],
      ['unbonding_output_index', 'uint'],
      ['unbonding_tx_hex', 'string'],
      ['unbonding_tx_hash_hex', 'string'],
    ],
    withdraw: [
      ['event_type', 'uint'],
      ['staking_tx_hash_hex', 'string'],
    ],
    expired: [
      ['event_type', 'uint'],
      ['staking_tx_hash_hex', 'string'],
      ['tx_type', 'string'],
    ],
    stats: [
      ['event_type', 'uint'],
      ['staking_tx_hash_hex', 'string'],
      ['staker_pk_hex', 'string'],
      ['finality_provider_pk_hex', 'string'],
      ['staking_value', 'uint'],
      ['state', 'string'],
    ],
    'btc-info': [
      ['event_type', 'uint'],
      ['height', 'uint'],
      ['confirmed_tvl', 'uint'],
      ['unconfirmed_tvl', 'uint'],
    ],
    'confirmed-info': [
      ['event_type', 'uint'],
      ['height', 'uint'],
      ['tvl', 'uint'],
    ],
  };

export type ReferenceMessage = Readonly<Record<string, string | number | boolean>>;

/**
 * The reference body of an event: the reference's fields only, in its order. Our additions
 * (`event_id`, `sequence`, `expire_height`, the withdraw's tx hash, height and path) are dropped,
 * so a consumer decoding strictly finds nothing it does not know.
 */
export function toReferenceBody(kind: ReferenceKind, e: Readonly<Record<string, unknown>>): string {
  const out: Record<string, unknown> = {};
  for (const [f] of REFERENCE_FIELDS[kind]) {
    if (!(f in e)) throw new CodedError<EventsErrorCode>('EVENTS_INVALID', `${kind} event lacks ${f}`);
    out[f] = e[f];
  }
  return JSON.stringify(out);
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * Reads a reference body received on the queue of `kind`, as a tolerant reader: unknown fields
 * (a later `schema_version`, for one) are ignored, hex of any case is lowered. Every reference
 * field must be there with its type, and `event_type` must be the queue's.
 * @throws {CodedError} EVENTS_NOT_JSON, EVENTS_INVALID
 */
export function parseReferenceBody(kind: ReferenceKind, body: Uint8Array): ReferenceMessage {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (cause) {
    throw new CodedError<EventsErrorCode>('EVENTS_NOT_JSON', 'the message body is not UTF-8 JSON', { cause });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CodedError<EventsErrorCode>('EVENTS_INVALID', 'the message is not a JSON object');
  }
  const o = v as Record<string, unknown>;
  const out: Record<string, string | number | boolean> = {};
  for (const [f, t] of REFERENCE_FIELDS[kind]) {
    const x = o[f];
    const ok =
      t === 'string'
        ? typeof x === 'string'
        : t === 'bool'
          ? typeof x === 'boolean'
          : Number.isSafeInteger(x) && (t === 'int' || (x as number) >= 0);
    if (!ok)
      throw new CodedError<EventsErrorCode>('EVENTS_INVALID', `${kind}: ${f} is missing or not a ${t}`);
    out[f] = f.endsWith('_hex') ? (x as string).toLowerCase() : (x as string | number | boolean);
  }
  if (out.event_type !== REFERENCE_EVENT_TYPE[kind]) {
    throw new CodedError<EventsErrorCode>(
      'EVENTS_INVALID',
      `event_type ${String(out.event_type)} on the ${kind} queue (expected ${REFERENCE_EVENT_TYPE[kind]})`,
    );
  }
  if ('staking_tx_hash_hex' in out && !HEX64.test(out.staking_tx_hash_hex as string)) {
    throw new CodedError<EventsErrorCode>(
      'EVENTS_INVALID',
      `${kind}: staking_tx_hash_hex is not 32-byte hex`,
    );
  }
  if (kind === 'expired' && out.tx_type !== 'active' && out.tx_type !== 'unbonding') {
    throw new CodedError<EventsErrorCode>('EVENTS_INVALID', `expired: tx_type ${String(out.tx_type)}`);
  }
  if (kind === 'stats' && out.state !== 'active' && out.state !== 'unbonded') {
    throw new CodedError<EventsErrorCode>('EVENTS_INVALID', `stats: state ${String(out.state)}`);
  }
  return out;
}

/**
 * The idempotency key a reference message implies, as the reference consumers key their work
 * (staking tx hash and kind; the API's `stats_lock` adds the state): the same ids our ordered
 * topology carries in `event_id`, so one database can be fed by either topology.
 */
export function referenceEventId(kind: ReferenceKind, m: ReferenceMessage): string {
  switch (kind) {
    case 'expired':
      return `${m.staking_tx_hash_hex}:expired:${m.tx_type}`;
    case 'stats':
      return `${m.staking_tx_hash_hex}:stats:${m.state}`;
    case 'btc-info':
      return `btc-info:${m.height}`;
    case 'confirmed-info':
      return `confirmed-info:${m.height}`;
    default:
      return `${m.staking_tx_hash_hex}:${kind}`;
  }
}

/**
 * Publishes one reference body as staking-queue-client's `sendMessageWithAttempts` does:
 * persistent, `text/plain`, default exchange, routing key = queue, `mandatory`, with the attempts
 * header as an int32 (the reference's Go consumer asserts that type) and an optional expiration.
 * Resolves on the broker's confirm.
 */
export function publishReference(
  ch: ConfirmChannel,
  queue: string,
  body: string | Buffer,
  opts: { attempts?: number; expirationMs?: number; messageId?: string } = {},
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    ch.publish(
      '',
      queue,
      typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
      {
        persistent: true,
        mandatory: true,
        contentType: 'text/plain',
        headers: { [PROCESSING_ATTEMPTS_HEADER]: { '!': 'int32', value: opts.attempts ?? 0 } },
        ...(opts.expirationMs !== undefined && opts.expirationMs > 0
          ? { expiration: String(opts.expirationMs) }
          : {}),
        ...(opts.messageId ? { messageId: opts.messageId } : {}),
      },
      (err: unknown) => (err ? reject(err) : resolve()),
    );
  });
}

/** The attempts header of a delivery (0 when absent or not a number), as the reference reads it. */
export function processingAttempts(msg: ConsumeMessage): number {
  const a = msg.properties.headers?.[PROCESSING_ATTEMPTS_HEADER];
  return typeof a === 'number' && Number.isSafeInteger(a) && a >= 0 ? a : 0;
}

export interface ReferenceConsumeOptions {
  /**
   * The reference's `msg_max_retry_attempts` (default 10): a delivery that fails with a larger
   * `x-processing-attempts` is given up, so a message is delivered at most this + 2 times.
   */
  readonly maxRetryAttempts?: number;
  /** Per-message TTL in `<q>_delay` (the reference's `requeue_delay_time`), milliseconds. */
  readonly requeueDelayMs?: number;
  readonly prefetch?: number;
  /** A message given up: malformed, or failing after `maxRetryAttempts` retries. It is acknowledged after. */
  readonly onUnprocessable?: (reason: string, body: Buffer, queue: string) => Promise<void> | void;
  readonly onRequeued?: (reason: string, attempts: number, queue: string) => void;
}

/**
 * Consumes one reference queue the way the reference API does (internal/queue/queue.go): manual
 * ack; a failing handler's message is published to `<q>_delay` with `x-processing-attempts` + 1
 * and the delay as its expiration, then the original is acknowledged, so it comes back to the
 * tail of its queue later; when a delivery past `maxRetryAttempts` fails it is handed to
 * `onUnprocessable` and acknowledged. One message at a time per queue (the reference runs one goroutine per queue).
 */
export async function consumeReferenceQueue(
  ch: ConfirmChannel,
  kind: ReferenceKind,
  queue: string,
  handler: (m: ReferenceMessage, msg: ConsumeMessage) => Promise<void>,
  opts: ReferenceConsumeOptions = {},
): Promise<EventConsumer> {
  const maxRetry = opts.maxRetryAttempts ?? 10;
  const delayMs = opts.requeueDelayMs ?? 5_000;
  const handle = async (msg: ConsumeMessage, isCancelled: () => boolean) => {
    let m: ReferenceMessage;
    try {
      m = parseReferenceBody(kind, msg.content);
    } catch (e) {
      // A malformed body never becomes valid: retrying it would only delay the verdict.
      await opts.onUnprocessable?.(
        `${(e as CodedError<string>).code ?? 'ERROR'}: ${(e as Error).message}`,
        msg.content,
        queue,
      );
      ch.ack(msg);
      return;
    }
    try {
      await handler(m, msg);
      ch.ack(msg);
    } catch (e) {
      if (isCancelled()) return; // unacked: redelivered to the next consumer
      const reason = (e as Error)?.message ?? String(e);
      const attempts = processingAttempts(msg);
      // `>` as the reference's `attempts > msg_max_retry_attempts`.
      if (attempts > maxRetry) {
        await opts.onUnprocessable?.(`failed on delivery ${attempts + 1}: ${reason}`, msg.content, queue);
        ch.ack(msg);
        return;
      }
      await publishReference(ch, delayQueueOf(queue), msg.content, {
        attempts: attempts + 1,
        expirationMs: delayMs,
      });
      ch.ack(msg);
      opts.onRequeued?.(reason, attempts + 1, queue);
    }
  };
  await ch.prefetch(opts.prefetch ?? 1);
  return consumeSerially(ch, queue, handle);
}
