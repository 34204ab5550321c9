import type { pino } from 'pino';
import { type BrokerOptions, EventPublisher, type StakingEvent } from '../events/index.ts';
import type { IndexerStore } from './store.ts';

/**
 * Moves events from the store's outbox to RabbitMQ: the oldest first, in batches on one confirm
 * channel, deleting a batch from the outbox only after the broker confirmed all of it. On any
 * failure (broker down, channel closed, nack) the publisher is dropped and the same batch is sent
 * again after a back-off, so events are delivered at least once and in outbox order.
 */
export interface RelayOptions {
  readonly store: IndexerStore;
  readonly broker: BrokerOptions;
  readonly batchSize?: number;
  /** Longest back-off between reconnects, milliseconds (default 5000). */
  readonly maxBackoffMs?: number;
  readonly log: pino.Logger;
  readonly hooks?: {
    onPublished?(events: readonly StakingEvent[]): void;
    onError?(err: unknown): void;
    onConnected?(connected: boolean): void;
  };
}

export class OutboxRelay {
  readonly #o: RelayOptions;
  #publisher: EventPublisher | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #pendingWake = false;
  #failures = 0;

  constructor(o: RelayOptions) {
    this.#o = o;
  }

  get connected(): boolean {
    return this.#publisher !== undefined && !this.#publisher.closed;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New events are in the outbox. */
  wake(): void {
    this.#pendingWake = true;
    this.#wake?.();
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#pendingWake) {
      this.#pendingWake = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
    this.#pendingWake = false;
  }

  async #run(): Promise<void> {
    const { store, log } = this.#o;
    const batchSize = this.#o.batchSize ?? 500;
    while (this.#running) {
      try {
        if (!this.connected) {
          await this.#publisher?.close().catch(() => undefined);
          this.#publisher = await EventPublisher.open(this.#o.broker);
          this.#o.hooks?.onConnected?.(true);
          this.#publisher.onClose(() => this.#o.hooks?.onConnected?.(false));
          if (this.#failures > 0) log.info({ afterFailures: this.#failures }, 'event broker reconnected');
          this.#failures = 0;
        }
        const batch = store.outboxBatch(batchSize);
        if (batch.length === 0) {
          // Nothing left to send: the confirmed events' records go now, not with the next block.
          store.persistOutboxDeletes();
          await this.#sleep(1_000);
          continue;
        }
        await this.#publisher!.publish(batch);
        store.deleteOutboxThrough(batch[batch.length - 1]!.sequence);
        this.#o.hooks?.onPublished?.(batch);
      } catch (err) {
        this.#failures++;
        this.#o.hooks?.onError?.(err);
        if (this.#failures === 1 || this.#failures % 20 === 0) {
          log.warn({ err: (err as Error).message, failures: this.#failures }, 'event relay failed; retrying');
        }
        await this.#publisher?.close().catch(() => undefined);
        this.#publisher = undefined;
        if (!this.#running) break;
        const backoff = Math.min(this.#o.maxBackoffMs ?? 5_000, 100 * 2 ** Math.min(this.#failures, 10));
        this.#pendingWake = false;
        await this.#sleep(backoff);
      }
    }
  }

  /** Waits until the outbox is empty (or `timeoutMs` passes); true when empty. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#o.store.outboxDepth() > 0 && Date.now() < deadline) {
      this.wake();
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.#o.store.outboxDepth() === 0;
  }

  /** Stops after the batch in flight; closes the connection. */
  async stop(): Promise<void> {
    this.#running = false;
    this.wake();
    // A publish waiting on a silent broker would wait for the heartbeat: close under it instead
    // (its batch stays in the outbox and goes out at the next start).
    const grace = new Promise((r) => setTimeout(r, 2_000));
    if ((await Promise.race([this.#loop?.then(() => 'done'), grace])) !== 'done') {
      await this.#publisher?.close().catch(() => undefined);
      await this.#loop;
    }
    await this.#publisher?.close().catch(() => undefined);
    this.#publisher = undefined;
  }
}
