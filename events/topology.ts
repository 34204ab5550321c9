import type { Channel } from 'amqplib';
import { CodedError } from '../common/index.ts';
import type { EventsErrorCode } from './errors.ts';
import { declareReferenceQueue, delayQueueOf } from './reference.ts';
import { EVENT_KINDS, type EventKind } from './schemas.ts';

/**
 * The names of the RabbitMQ objects of the contract. `prefix` lets several deployments (or test
 * runs) share one vhost without sharing queues.
 */
export interface TopologyNames {
  /** Topic exchange the indexer publishes to; routing key = the event kind. */
  readonly exchange: string;
  /** The ordered queue: every event, in chain order (bound with `#`). */
  readonly queue: string;
  /** Fanout exchange receiving dead letters. */
  readonly deadLetterExchange: string;
  /** Where messages that failed validation or kept failing wait, each with its reason. */
  readonly deadLetterQueue: string;
  /** Per-kind queues named as the reference's (`active_staking_queue`, …), when enabled. */
  readonly referenceQueues: Readonly<Record<EventKind, string>>;
  /** The reference's `common_dlx` (prefixed), which those queues dead-letter to. */
  readonly referenceDeadLetterExchange: string;
}

const REFERENCE_QUEUE: Record<EventKind, string> = {
  active: 'active_staking_queue',
  unbonding: 'unbonding_staking_queue',
  withdraw: 'withdraw_staking_queue',
  expired: 'expired_staking_queue',
  'btc-info': 'btc_info_queue',
  'confirmed-info': 'confirmed_info_queue',
};

/** The names for a prefix (default none): `staking_events`, `staking_events.dlx`, … */
export function topologyNames(prefix = ''): TopologyNames {
  return Object.freeze({
    exchange: `${prefix}staking_events`,
    queue: `${prefix}staking_events`,
    deadLetterExchange: `${prefix}staking_events.dlx`,
    deadLetterQueue: `${prefix}staking_events.dead`,
    referenceDeadLetterExchange: `${prefix}common_dlx`,
    referenceQueues: Object.freeze(
      Object.fromEntries(EVENT_KINDS.map((k) => [k, `${prefix}${REFERENCE_QUEUE[k]}`])) as Record<
        EventKind,
        string
      >,
    ),
  });
}

export type QueueType = 'quorum' | 'classic';

export interface TopologyOptions {
  readonly names?: TopologyNames;
  /** `quorum` (the reference's default; replicated, fsynced before confirm) or `classic`. */
  readonly queueType?: QueueType;
  /**
   * Also declare the reference's per-kind queues, each bound to its kind, with the reference's
   * arguments, delay queues and `common_dlx`. They carry the same messages (our JSON: reference
   * consumers ignore the added fields), but order across kinds is only kept in the ordered queue.
   * Off by default: a queue nobody consumes only grows.
   */
  readonly referenceQueues?: boolean;
}

/**
 * Declares the whole topology, idempotently: the durable topic exchange, the ordered durable
 * queue bound to every kind, and the dead-letter exchange and queue the queues dead-letter to.
 * Publisher and consumer both call it, so whichever starts first creates it.
 */
export async function declareTopology(ch: Channel, opts: TopologyOptions = {}): Promise<TopologyNames> {
  const names = opts.names ?? topologyNames();
  const queueType = opts.queueType ?? 'quorum';
  await ch.assertExchange(names.exchange, 'topic', { durable: true, autoDelete: false });
  await ch.assertExchange(names.deadLetterExchange, 'fanout', { durable: true, autoDelete: false });
  const queueArgs = { 'x-queue-type': queueType, 'x-dead-letter-exchange': names.deadLetterExchange };
  await ch.assertQueue(names.deadLetterQueue, { durable: true, arguments: { 'x-queue-type': queueType } });
  await ch.bindQueue(names.deadLetterQueue, names.deadLetterExchange, '');
  // One active consumer at a time keeps chain order with several API replicas attached: the
  // broker fails over to a waiting one when the active one goes. Only the ordered queue: the
  // reference queues are the reference consumers' to declare as they expect.
  try {
    await ch.assertQueue(names.queue, {
      durable: true,
      arguments: { ...queueArgs, 'x-single-active-consumer': true },
    });
  } catch (e) {
    if ((e as { code?: unknown }).code === 406) {
      throw new CodedError<EventsErrorCode>(
        'EVENTS_QUEUE_OUTDATED',
        `the queue ${names.queue} exists with other arguments than this version declares (it predates x-single-active-consumer, or its type differs): drain and re-create it (events/README.md, "Upgrading a queue")`,
        { cause: e },
      );
    }
    throw e;
  }
  await ch.bindQueue(names.queue, names.exchange, '#');
  if (opts.referenceQueues) {
    // Declared exactly as staking-queue-client declares them (with `<q>_delay` and `common_dlx`),
    // so a reference consumer attaching to them finds what it would declare, not a 406.
    const ref = { deadLetterExchange: names.referenceDeadLetterExchange };
    for (const kind of EVENT_KINDS) {
      const q = names.referenceQueues[kind];
      await declareReferenceQueue(ch, ref, q, queueType);
      await ch.bindQueue(q, names.exchange, kind);
    }
  }
  return names;
}

/** Deletes every object of the topology (tests, decommissioning). Messages in them are lost. */
export async function deleteTopology(ch: Channel, names: TopologyNames): Promise<void> {
  const ref = Object.values(names.referenceQueues);
  for (const q of [names.queue, names.deadLetterQueue, ...ref, ...ref.map(delayQueueOf)]) {
    await ch.deleteQueue(q);
  }
  await ch.deleteExchange(names.exchange);
  await ch.deleteExchange(names.deadLetterExchange);
  await ch.deleteExchange(names.referenceDeadLetterExchange);
}
