import { type ChannelModel, type ConfirmChannel, connect, type Message } from 'amqplib';
import { CodedError } from '../common/index.ts';
import type { EventsErrorCode } from './errors.ts';
import {
  declareReferenceTopology,
  type ReferenceNames,
  referenceNames,
  toReferenceBody,
} from './reference.ts';
import type { StakingEvent } from './schemas.ts';
import { declareTopology, type QueueType, type TopologyNames, topologyNames } from './topology.ts';
import { assertStakingEvent, kindOf } from './validate.ts';

export interface BrokerOptions {
  /** `amqp://user:password@host:port/vhost`. Never logged: use common/redactUrlPassword to show it. */
  readonly url: string;
  readonly names?: TopologyNames;
  readonly queueType?: QueueType;
  readonly referenceQueues?: boolean;
  /**
   * `ordered` (default): our exchange and ordered queue. `reference`: staking-queue-client's
   * per-kind queues with `common_dlx` and `<q>_delay`, reference JSON bodies (reference.ts).
   */
  readonly topology?: 'ordered' | 'reference';
  /** The reference topology's names (default `referenceNames()`), with `topology: 'reference'`. */
  readonly referenceNames?: ReferenceNames;
  /** AMQP heartbeat, seconds (default 10): how soon a silent broker is noticed. */
  readonly heartbeatSeconds?: number;
  /** TCP connect timeout, milliseconds (default 5000). */
  readonly connectTimeoutMs?: number;
}

/**
 * Opens a connection (with heartbeat and connect timeout).
 * @throws {CodedError} EVENTS_BROKER_UNREACHABLE (the message names host and errno, never credentials)
 */
export async function connectBroker(opts: BrokerOptions): Promise<ChannelModel> {
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch (cause) {
    throw new CodedError<EventsErrorCode>('EVENTS_BROKER_UNREACHABLE', 'the AMQP url is not a valid URL', {
      cause,
    });
  }
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(opts.heartbeatSeconds ?? 10));
  try {
    return await connect(u.toString(), { timeout: opts.connectTimeoutMs ?? 5_000 });
  } catch (cause) {
    const errno = (cause as { code?: unknown }).code;
    throw new CodedError<EventsErrorCode>(
      'EVENTS_BROKER_UNREACHABLE',
      `cannot connect to the broker at ${u.host}${typeof errno === 'string' ? ` (${errno})` : ''}`,
      { cause },
    );
  }
}

/**
 * Publishes events with publisher confirms: each message is validated against its schema first,
 * sent persistent and `mandatory` to the contract's exchange (routing key = kind, messageId =
 * event_id), and `publish` resolves only when the broker has confirmed every one of them; a nack,
 * an unroutable return or a closed channel rejects it, and the caller publishes again (the
 * consumers are idempotent by event_id). Messages of one `publish` call, and of successive calls,
 * reach the queue in the order given.
 */
export class EventPublisher {
  readonly names: TopologyNames;
  readonly #conn: ChannelModel;
  readonly #ch: ConfirmChannel;
  readonly #returned = new Set<string>();
  #closed = false;
  #closeReason: Error | undefined;
  readonly #closeListeners: Array<(err: Error | undefined) => void> = [];

  /** Set when publishing the reference topology. */
  readonly #reference: ReferenceNames | undefined;

  private constructor(
    conn: ChannelModel,
    ch: ConfirmChannel,
    names: TopologyNames,
    reference: ReferenceNames | undefined,
  ) {
    this.#conn = conn;
    this.#ch = ch;
    this.names = names;
    this.#reference = reference;
    ch.on('return', (msg: Message) => {
      this.#returned.add(String(msg.properties.messageId));
    });
    const onClose = (err?: Error) => {
      if (this.#closed) return;
      this.#closed = true;
      this.#closeReason = err;
      for (const l of this.#closeListeners) l(err);
    };
    // Errors are followed by close; listening to 'error' keeps them from being thrown.
    ch.on('error', (err: Error) => {
      this.#closeReason ??= err;
    });
    conn.on('error', (err: Error) => {
      this.#closeReason ??= err;
    });
    ch.on('close', () => onClose(this.#closeReason));
    conn.on('close', (err?: Error) => onClose(err ?? this.#closeReason));
  }

  /**
   * Connects, opens a confirm channel and declares the topology.
   * @throws {CodedError} EVENTS_BROKER_UNREACHABLE
   */
  static async open(opts: BrokerOptions): Promise<EventPublisher> {
    const conn = await connectBroker(opts);
    try {
      conn.on('error', () => undefined);
      const ch = await conn.createConfirmChannel();
      if (opts.topology === 'reference') {
        const ref = opts.referenceNames ?? referenceNames();
        await declareReferenceTopology(ch, ref, opts.queueType ?? 'quorum');
        return new EventPublisher(conn, ch, opts.names ?? topologyNames(), ref);
      }
      const names = await declareTopology(ch, {
        names: opts.names ?? topologyNames(),
        ...(opts.queueType ? { queueType: opts.queueType } : {}),
        ...(opts.referenceQueues !== undefined ? { referenceQueues: opts.referenceQueues } : {}),
      });
      return new EventPublisher(conn, ch, names, undefined);
    } catch (cause) {
      await conn.close().catch(() => undefined);
      if (cause instanceof CodedError) throw cause;
      throw new CodedError<EventsErrorCode>(
        'EVENTS_BROKER_UNREACHABLE',
        `the broker refused the topology: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Called once when the channel or connection closes (broker gone, heartbeat missed, close()). */
  onClose(listener: (err: Error | undefined) => void): void {
    if (this.#closed) listener(this.#closeReason);
    else this.#closeListeners.push(listener);
  }

  /**
   * Validates and publishes `events` in order, resolving when all are confirmed.
   * @throws {CodedError} EVENTS_INVALID / EVENTS_UNKNOWN_KIND (nothing was sent), EVENTS_PUBLISH_FAILED
   */
  async publish(events: readonly StakingEvent[]): Promise<void> {
    const bodies = events.map((e) => {
      assertStakingEvent(e);
      const kind = kindOf(e);
      const body = this.#reference
        ? Buffer.from(toReferenceBody(kind, e as unknown as Record<string, unknown>), 'utf8')
        : Buffer.from(JSON.stringify(e), 'utf8');
      return { e, kind, body };
    });
    const ref = this.#reference;
    if (this.#closed) throw this.#failed('the channel is closed');
    // One callback for every message of the batch, counting the broker's answers, rather than a
    // promise and a closure a message. It settles once every message is answered; the first
    // failure is the one reported.
    const answered = new Promise<unknown>((resolve) => {
      let left = bodies.length;
      let failure: unknown;
      const onAnswer = (err: unknown) => {
        if (err && failure === undefined) failure = err;
        if (--left === 0) resolve(failure);
      };
      if (left === 0) resolve(undefined);
      for (const { e, kind, body } of bodies) {
        this.#returned.delete(e.event_id);
        try {
          // The reference way: default exchange, routing key = the kind's queue, text/plain,
          // the attempts header at 0. messageId stays so that a returned message is known.
          if (ref) {
            this.#ch.publish(
              '',
              ref.queues[kind],
              body,
              {
                persistent: true,
                mandatory: true,
                contentType: 'text/plain',
                messageId: e.event_id,
                headers: { 'x-processing-attempts': { '!': 'int32', value: 0 } },
              },
              onAnswer,
            );
          } else {
            this.#ch.publish(
              this.names.exchange,
              kind,
              body,
              {
                persistent: true,
                mandatory: true,
                contentType: 'application/json',
                contentEncoding: 'utf-8',
                messageId: e.event_id,
                type: kind,
                timestamp: Math.floor(Date.now() / 1000),
                headers: { 'x-sequence': e.sequence },
              },
              onAnswer,
            );
          }
        } catch (err) {
          onAnswer(err ?? new Error('publish threw'));
        }
      }
    });
    const failure = await answered;
    if (failure !== undefined)
      throw this.#failed((failure as { message?: string } | null)?.message ?? 'not confirmed', failure);
    const returned = bodies.filter(({ e }) => this.#returned.has(e.event_id));
    if (returned.length > 0) {
      throw this.#failed(`${returned.length} message(s) were unroutable (is the queue declared?)`);
    }
  }

  #failed(why: string, cause?: unknown): CodedError<EventsErrorCode> {
    return new CodedError<EventsErrorCode>('EVENTS_PUBLISH_FAILED', `publish not confirmed: ${why}`, {
      cause,
    });
  }

  /** Closes the channel and the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#ch.close().catch(() => undefined);
    await this.#conn.close().catch(() => undefined);
  }
}
