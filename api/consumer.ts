import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import { isCodedError } from '../common/index.ts';
import { type Database, isTransientDbError, recordDeadLetter } from '../db/index.ts';
import {
  connectBroker,
  consumeEvents,
  consumeReferenceQueue,
  declareReferenceQueue,
  delayQueueOf,
  type EventConsumer,
  type EventKind,
  kindOf,
  openConsumerChannel,
  parseReferenceBody,
  type QueueType,
  REFERENCE_KINDS,
  type ReferenceKind,
  type ReferenceMessage,
  type ReferenceNames,
  referenceEventId,
  type StakingEvent,
  type TopologyNames,
} from '../events/index.ts';
import { type ApplicableEvent, type ApplyOutcome, applyEvent } from './apply.ts';
import type { ApiMetrics } from './metrics.ts';

export interface ConsumerOptions {
  readonly url: string;
  readonly names: TopologyNames;
  readonly queueType: QueueType;
  /**
   * Unacknowledged messages per consumer. 1 keeps per-delegation order safe when several
   * instances consume the same queue (a message can only wait for one delivered before it, never
   * in a cycle); a lone consumer can take more.
   */
  readonly prefetch: number;
  /** Attempts for an event that does not fit the state, before it is dead-lettered. */
  readonly maxAttempts: number;
  readonly retryDelayMs: number;
  readonly db: Database;
  readonly logger: Logger;
  readonly metrics: ApiMetrics;
  /** Reconnect backoff ceiling, milliseconds (default 10000). */
  readonly maxReconnectDelayMs?: number;
  /** `ordered` (default) or `reference`: staking-queue-client's per-kind queues. */
  readonly topology?: 'ordered' | 'reference';
  /** The reference topology's names; required with `topology: 'reference'`. */
  readonly referenceNames?: ReferenceNames;
  /** Reference topology: how long a retried message waits in `<q>_delay`, milliseconds. */
  readonly requeueDelayMs?: number;
}

export interface ConsumerStatus {
  readonly connected: boolean;
  /** Messages handled (applied, duplicate, superseded or stale). */
  readonly processed: number;
  readonly lastEventAt: string | null;
  readonly lastError: string | null;
  /**
   * The ordered queue as the broker saw it at the last look: events waiting (not yet delivered
   * to a consumer), its active consumers (RabbitMQ counts only the single active one), and
   * messages waiting in the dead-letter queue. Absent while the broker is unreachable.
   */
  readonly queue?: {
    readonly eventsBehind: number;
    readonly consumers: number;
    readonly deadLetters: number;
  };
}

/** The id a reference body implies, when it parses (a dead letter is found by it). */
function referenceIdOf(kind: ReferenceKind, body: Buffer): string | undefined {
  try {
    return referenceEventId(kind, parseReferenceBody(kind, body));
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Consumes the indexer's ordered queue and applies each event in its own transaction (apply.ts).
 * A database outage is not the event's fault: the event is held and retried with backoff until
 * the database answers (nothing is dead-lettered, nothing overtakes it). An event that does not
 * fit the state is retried `maxAttempts` times by the events/ helper, then dead-lettered with its
 * reason, and the dead letter is recorded in `dead_letters` too. A lost broker connection is
 * re-established with backoff.
 */
export class EventConsumerService {
  readonly #o: ConsumerOptions;
  #conn: ChannelModel | undefined;
  #ch: ConfirmChannel | undefined;
  #consumer: EventConsumer | undefined;
  #stopping = false;
  #processed = 0;
  #lastEventAt: Date | undefined;
  #lastError: string | undefined;
  #reconnect: Promise<void> | undefined;
  #queue: ConsumerStatus['queue'];
  readonly #pendingRecords = new Set<Promise<unknown>>();

  constructor(opts: ConsumerOptions) {
    this.#o = opts;
  }

  get status(): ConsumerStatus {
    return {
      connected: this.#consumer !== undefined,
      processed: this.#processed,
      lastEventAt: this.#lastEventAt?.toISOString() ?? null,
      lastError: this.#lastError ?? null,
      ...(this.#queue ? { queue: this.#queue } : {}),
    };
  }

  /**
   * Asks the broker how far behind the ordered queue is, and sets the lag gauges. Called before a
   * scrape and a readiness answer rather than on a timer, so an idle replica asks nothing. A
   * channel of its own: a failed passive declare closes the channel it was made on, and must
   * never close the one events arrive on.
   */
  async refreshLag(): Promise<void> {
    const conn = this.#conn;
    const m = this.#o.metrics;
    if (!conn) {
      this.#queue = undefined;
      return;
    }
    let ch: Awaited<ReturnType<ChannelModel['createChannel']>> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    // A broker that stopped answering must not stall a scrape or a readiness probe: heartbeats
    // notice it only after a few seconds.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error('the broker did not answer in time'));
      }, 2_000);
    });
    try {
      const opening = conn.createChannel();
      // Opened after the deadline: closed at once rather than left open.
      opening.then(
        (c) => {
          if (timedOut) void c.close().catch(() => undefined);
        },
        () => undefined,
      );
      ch = await Promise.race([opening, timeout]);
      ch.on('error', () => undefined);
      let q: { messageCount: number; consumerCount: number };
      let deadLetters: number;
      if (this.#o.topology === 'reference' && this.#o.referenceNames) {
        // Every queue and its delay queue is behind; consumers are the fewest on any queue (a
        // queue nobody consumes is the one to see). Dead letters are in the database there.
        q = { messageCount: 0, consumerCount: Number.POSITIVE_INFINITY };
        for (const name of Object.values(this.#o.referenceNames.queues)) {
          const [main, delay] = await Promise.race([
            Promise.all([ch.checkQueue(name), ch.checkQueue(delayQueueOf(name))]),
            timeout,
          ]);
          q.messageCount += main.messageCount + delay.messageCount;
          q.consumerCount = Math.min(q.consumerCount, main.consumerCount);
        }
        deadLetters = 0;
      } else {
        q = await Promise.race([ch.checkQueue(this.#o.names.queue), timeout]);
        deadLetters = (await Promise.race([ch.checkQueue(this.#o.names.deadLetterQueue), timeout]))
          .messageCount;
      }
      const dlq = { messageCount: deadLetters };
      this.#queue = {
        eventsBehind: q.messageCount,
        consumers: q.consumerCount,
        deadLetters: dlq.messageCount,
      };
      m.eventsBehind.set(q.messageCount);
      m.queueConsumers.set(q.consumerCount);
      m.deadLetterQueueDepth.set(dlq.messageCount);
    } catch {
      this.#queue = undefined;
    } finally {
      clearTimeout(timer);
      void ch?.close().catch(() => undefined);
    }
  }

  /**
   * Connects and starts consuming. With `background`, a broker that cannot be reached now is
   * retried with backoff (the API serves meanwhile; readiness shows the consumer detached) and
   * this resolves false; without it, the error is thrown.
   * @throws {CodedError} EVENTS_BROKER_UNREACHABLE
   */
  async start(opts: { background?: boolean } = {}): Promise<boolean> {
    try {
      await this.#connect();
      return true;
    } catch (e) {
      if (!opts.background) throw e;
      this.#lastError = (e as Error).message;
      this.#o.logger.error(
        { err: (e as Error).message },
        'cannot reach the broker; retrying in the background',
      );
      this.#reconnect ??= this.#reconnectLoop().finally(() => {
        this.#reconnect = undefined;
      });
      return false;
    }
  }

  async #connect(): Promise<void> {
    const o = this.#o;
    const conn = await connectBroker({ url: o.url, names: o.names, queueType: o.queueType });
    conn.on('error', () => undefined);
    try {
      const ch = await openConsumerChannel(conn);
      this.#consumer =
        o.topology === 'reference'
          ? await this.#consumeReference(ch)
          : await consumeEvents(ch, (e) => this.#handle(e), {
              names: o.names,
              queueType: o.queueType,
              prefetch: o.prefetch,
              maxAttempts: o.maxAttempts,
              retryDelayMs: o.retryDelayMs,
              onDeadLetter: (reason, body) => this.#recordDeadLetter(reason, body),
            });
      this.#conn = conn;
      this.#ch = ch;
      if (this.#stopping) {
        await this.stop();
        return;
      }
    } catch (e) {
      await conn.close().catch(() => undefined);
      throw e;
    }
    o.metrics.consumerConnected.set(1);
    conn.on('close', () => {
      this.#consumer = undefined;
      this.#conn = undefined;
      o.metrics.consumerConnected.set(0);
      if (!this.#stopping) {
        o.logger.warn('broker connection lost; reconnecting');
        this.#reconnect ??= this.#reconnectLoop().finally(() => {
          this.#reconnect = undefined;
        });
      }
    });
  }

  async #reconnectLoop(): Promise<void> {
    let delay = 250;
    while (!this.#stopping) {
      await sleep(delay);
      if (this.#stopping) return;
      try {
        await this.#connect();
        this.#o.logger.info('broker connection re-established');
        return;
      } catch (e) {
        this.#lastError = (e as Error).message;
        delay = Math.min(delay * 2, this.#o.maxReconnectDelayMs ?? 10_000);
      }
    }
  }

  /**
   * Consumes every reference queue on one channel, as the reference API does (one consumer per
   * queue; the retry goes through `<q>_delay` with `x-processing-attempts`). There is no order
   * across queues, so an unbonding can come before its active: it fails with
   * API_EVENT_OUT_OF_ORDER, waits `requeueDelayMs` in the delay queue and is tried again, until
   * `maxAttempts` deliveries; then it is recorded in `dead_letters` and acknowledged.
   */
  async #consumeReference(ch: Awaited<ReturnType<typeof openConsumerChannel>>): Promise<EventConsumer> {
    const o = this.#o;
    const names = o.referenceNames;
    if (!names) throw new Error('the reference topology needs its names');
    for (const kind of REFERENCE_KINDS)
      await declareReferenceQueue(ch, names, names.queues[kind], o.queueType);
    const consumers: EventConsumer[] = [];
    for (const kind of REFERENCE_KINDS) {
      consumers.push(
        await consumeReferenceQueue(ch, kind, names.queues[kind], (m) => this.#handleReference(kind, m), {
          // `queue.max_attempts` counts deliveries; the reference's bound lets through two more.
          maxRetryAttempts: o.maxAttempts - 2,
          requeueDelayMs: o.requeueDelayMs ?? 5_000,
          prefetch: o.prefetch,
          onUnprocessable: (reason, body, queue) =>
            this.#recordReferenceDeadLetter(reason, body, referenceIdOf(kind, body), queue),
          onRequeued: (reason, attempts, queue) =>
            o.logger.info({ queue, attempts, reason }, 'event re-queued through its delay queue'),
        }),
      );
    }
    return {
      async cancel() {
        await Promise.all(consumers.map((c) => c.cancel()));
      },
      async idle() {
        await Promise.all(consumers.map((c) => c.idle()));
      },
    };
  }

  async #handleReference(kind: ReferenceKind, m: ReferenceMessage): Promise<void> {
    const event_id = referenceEventId(kind, m);
    // The API keeps its statistics in the same transaction as each active and unbonding event,
    // so a reference API's self-addressed stats events would count twice; confirmed info carries
    // nothing btc-info does not (its tvl is btc-info's confirmed_tvl). Both are acknowledged.
    if (kind === 'stats' || kind === 'confirmed-info') {
      this.#o.metrics.events.inc({ kind, outcome: 'ignored' });
      this.#o.logger.debug({ eventId: event_id }, 'reference event acknowledged, not needed');
      return;
    }
    // No sequence in the reference: 0 keeps btc-info "latest by height" and marks the id's origin.
    await this.#handle({ ...m, event_id, sequence: 0 } as unknown as ApplicableEvent);
  }

  async #handle(e: ApplicableEvent): Promise<void> {
    const o = this.#o;
    const kind: EventKind = kindOf(e as StakingEvent);
    const t0 = performance.now();
    let delay = 100;
    let attempt = 0;
    for (;;) {
      attempt++;
      let outcome: ApplyOutcome;
      try {
        outcome = await applyEvent(o.db, e);
      } catch (err) {
        if (!this.#stopping && isTransientDbError(err)) {
          // Not the event's fault: hold it (order kept) until the database is back.
          o.metrics.dbUp.set(0);
          if (attempt === 1 || attempt % 20 === 0) {
            o.logger.warn(
              { eventId: e.event_id, err: (err as Error).message },
              'database unavailable; holding the event',
            );
          }
          await sleep(delay);
          delay = Math.min(delay * 2, 5_000);
          continue;
        }
        const reason = isCodedError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
        this.#lastError = reason;
        o.metrics.eventFailures.inc({ kind });
        o.logger.warn({ eventId: e.event_id, sequence: e.sequence, reason }, 'event not applied; will retry');
        throw isCodedError(err) ? new Error(reason, { cause: err }) : err;
      }
      o.metrics.dbUp.set(1);
      o.metrics.events.inc({ kind, outcome });
      o.metrics.eventDuration.observe({ kind }, (performance.now() - t0) / 1000);
      this.#processed++;
      this.#lastEventAt = new Date();
      o.metrics.lastEventTime.set(this.#lastEventAt.getTime() / 1000);
      if (outcome === 'superseded') o.logger.info({ eventId: e.event_id }, 'event superseded by a later one');
      o.logger.debug({ eventId: e.event_id, sequence: e.sequence, outcome }, 'event processed');
      return;
    }
  }

  /**
   * The reference topology has no dead-letter queue: the row is the only copy, so the message is
   * acknowledged only once it is written (a failure leaves it unacknowledged, redelivered later).
   */
  async #recordReferenceDeadLetter(
    reason: string,
    body: Buffer,
    eventId: string | undefined,
    queue: string,
  ): Promise<void> {
    const o = this.#o;
    o.metrics.deadLetters.inc();
    o.logger.error({ eventId, reason, queue }, 'event dead-lettered');
    await recordDeadLetter(o.db, { eventId, reason, body: body.toString('utf8'), routingKey: queue });
  }

  #recordDeadLetter(reason: string, body: Buffer): void {
    const o = this.#o;
    let eventId: string | undefined;
    try {
      const v = JSON.parse(body.toString('utf8')) as { event_id?: unknown };
      if (typeof v.event_id === 'string') eventId = v.event_id.slice(0, 200);
    } catch {
      // Not JSON: recorded with its reason all the same.
    }
    o.metrics.deadLetters.inc();
    o.logger.error({ eventId, reason }, 'event dead-lettered');
    const p = recordDeadLetter(o.db, { eventId, reason, body: body.toString('utf8') })
      .catch((err: unknown) => {
        o.logger.error(
          { err: (err as Error).message, eventId },
          'could not record the dead letter in the database',
        );
      })
      .finally(() => this.#pendingRecords.delete(p));
    this.#pendingRecords.add(p);
  }

  /** Stops after the event in hand; unacknowledged messages go back to the queue. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#consumer?.cancel().catch(() => undefined);
    await Promise.allSettled([...this.#pendingRecords]);
    await this.#ch?.close().catch(() => undefined);
    await this.#conn?.close().catch(() => undefined);
    this.#consumer = undefined;
    this.#o.metrics.consumerConnected.set(0);
  }
}
