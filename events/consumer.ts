import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { isCodedError } from '../common/index.ts';
import type { StakingEvent } from './schemas.ts';
import { declareTopology, type QueueType, type TopologyNames, topologyNames } from './topology.ts';
import { parseEventBody } from './validate.ts';

/** Header carrying why a message was dead-lettered by the consumer helper. */
export const DEAD_LETTER_REASON_HEADER = 'x-dead-letter-reason';

export interface ConsumeOptions {
  /** Queue to consume; default the ordered queue of `names`. */
  readonly queue?: string;
  readonly names?: TopologyNames;
  readonly queueType?: QueueType;
  /** Unacknowledged messages the broker may push ahead (default 100). */
  readonly prefetch?: number;
  /** Attempts of the handler for one message before it is dead-lettered (default 5). */
  readonly maxAttempts?: number;
  /** Wait between attempts, milliseconds (default 1000). */
  readonly retryDelayMs?: number;
  /** Called when a message is dead-lettered (for logs and metrics). */
  readonly onDeadLetter?: (reason: string, body: Buffer) => void;
}

export interface EventConsumer {
  /** Stops consuming after the message in hand; messages not yet acknowledged go back to the queue. */
  cancel(): Promise<void>;
  /** Resolves when the message in hand (if any) is done. */
  idle(): Promise<void>;
}

/**
 * Consumes `queue` one message at a time, in delivery order: a message is handled only once the one
 * before it is done, so a slow handler never lets a later message overtake an earlier one. After
 * `cancel`, nothing more is handled; `isCancelled` tells a failing handler to leave its message
 * unacknowledged (the broker gives it to the next consumer) instead of retrying it. Both topologies
 * consume this way.
 */
export async function consumeSerially(
  channel: Channel,
  queue: string,
  handle: (msg: ConsumeMessage, isCancelled: () => boolean) => Promise<void>,
): Promise<EventConsumer> {
  let cancelled = false;
  let chain: Promise<void> = Promise.resolve();
  const isCancelled = () => cancelled;
  const { consumerTag } = await channel.consume(
    queue,
    (msg) => {
      // A null message means the queue was deleted or the consumer cancelled by the broker.
      if (!msg) return;
      chain = chain.then(() => (cancelled ? undefined : handle(msg, isCancelled))).catch(() => undefined);
    },
    { noAck: false },
  );
  return {
    async cancel() {
      cancelled = true;
      await channel.cancel(consumerTag).catch(() => undefined);
      await chain;
    },
    idle: () => chain,
  };
}

/**
 * Consumes the contract's events on `channel` (a confirm channel, so that dead-lettering is
 * confirmed before the original is acknowledged). Each message is validated on receipt; an
 * invalid one goes to the dead-letter exchange with its reason in `x-dead-letter-reason`. Valid
 * events reach `handler` one at a time, in queue order (a slow handler does not let a later
 * message overtake an earlier one). Acknowledgement is manual and comes after the handler
 * resolves; a handler that throws is retried in place (order kept) `maxAttempts` times, then the
 * message is dead-lettered with the error's message as reason. Delivery is at-least-once: the
 * handler must be idempotent by `event_id`.
 */
export async function consumeEvents(
  channel: ConfirmChannel,
  handler: (event: StakingEvent, message: ConsumeMessage) => Promise<void>,
  opts: ConsumeOptions = {},
): Promise<EventConsumer> {
  const names = await declareTopology(channel, {
    names: opts.names ?? topologyNames(),
    ...(opts.queueType ? { queueType: opts.queueType } : {}),
  });
  const queue = opts.queue ?? names.queue;
  const maxAttempts = opts.maxAttempts ?? 5;
  const retryDelayMs = opts.retryDelayMs ?? 1_000;
  await channel.prefetch(opts.prefetch ?? 100);

  const deadLetter = async (msg: ConsumeMessage, reason: string) => {
    opts.onDeadLetter?.(reason, msg.content);
    await new Promise<void>((resolve, reject) => {
      channel.publish(
        names.deadLetterExchange,
        msg.fields.routingKey,
        msg.content,
        {
          ...msg.properties,
          persistent: true,
          headers: {
            ...(msg.properties.headers ?? {}),
            [DEAD_LETTER_REASON_HEADER]: reason.slice(0, 1000),
            'x-original-queue': queue,
            'x-original-routing-key': msg.fields.routingKey,
          },
        },
        (err: unknown) => (err ? reject(err) : resolve()),
      );
    });
    channel.ack(msg);
  };

  const handle = async (msg: ConsumeMessage, isCancelled: () => boolean) => {
    let event: StakingEvent;
    try {
      event = parseEventBody(msg.content);
    } catch (e) {
      const reason = isCodedError(e) ? `${e.code}: ${e.message}` : String(e);
      await deadLetter(msg, reason);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await handler(event, msg);
        channel.ack(msg);
        return;
      } catch (e) {
        if (isCancelled()) return; // unacked: the broker redelivers it to the next consumer
        if (attempt >= maxAttempts) {
          await deadLetter(msg, `handler failed ${attempt} times: ${(e as Error)?.message ?? String(e)}`);
          return;
        }
        await new Promise((r) => setTimeout(r, retryDelayMs));
      }
    }
  };

  return consumeSerially(channel, queue, handle);
}

/** Opens a confirm channel on a connection, for consumeEvents. */
export async function openConsumerChannel(conn: ChannelModel): Promise<ConfirmChannel> {
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => undefined);
  return ch;
}
