import type { Worker } from 'node:worker_threads';
import type { pino } from 'pino';
import type { BrokerOptions, EventKind } from '../events/index.ts';
import { startTsWorker } from '../runtime/index.ts';
import { backoffMs } from './backoff.ts';
import type { IndexerStore } from './store.ts';

/**
 * Moves events from the store's outbox to RabbitMQ, on a thread of its own (relay.worker.ts): the
 * oldest first, in batches on one confirm channel, deleting a batch from the outbox only after the
 * broker confirmed all of it. On any failure (broker down, channel closed, nack) the publisher is
 * dropped and the same batch is sent again after a back-off, so events are delivered at least once
 * and in outbox order. The thread reads the outbox's committed records itself; this thread keeps
 * the deletes (the store's one writer) and the metrics. Publishing is amqplib's framing and the
 * events' validation, tens of µs of CPU an event: off the thread that decides and commits.
 */
export interface RelayOptions {
  readonly store: IndexerStore;
  readonly broker: BrokerOptions;
  readonly batchSize?: number;
  /** Longest back-off between reconnects, milliseconds (default 5000). */
  readonly maxBackoffMs?: number;
  readonly log: pino.Logger;
  readonly hooks?: {
    /** A batch the broker confirmed, counted by kind. */
    onPublished?(byKind: ReadonlyArray<readonly [EventKind, number]>): void;
    onError?(err: unknown): void;
    onConnected?(connected: boolean): void;
  };
}

const DEFAULT_MAX_BACKOFF_MS = 5_000;

export interface RelayThreadData {
  readonly path: string;
  readonly broker: BrokerOptions;
  readonly batchSize: number;
  readonly maxBackoffMs: number;
  /** The sequence to publish from: the oldest event the broker has not confirmed. */
  readonly from: number;
}

export type ToRelayThread = { readonly op: 'wake' } | { readonly op: 'stop' };

export type FromRelayThread =
  | { readonly op: 'connected'; readonly connected: boolean; readonly afterFailures: number }
  | {
      readonly op: 'published';
      readonly through: number;
      readonly byKind: ReadonlyArray<readonly [EventKind, number]>;
    }
  | { readonly op: 'ready' }
  | { readonly op: 'idle' }
  | { readonly op: 'failed'; readonly message: string; readonly failures: number }
  | { readonly op: 'stopped' };

export class OutboxRelay {
  readonly #o: RelayOptions;
  #worker: Worker | undefined;
  #connected = false;
  #running = false;
  #stopped: (() => void) | undefined;
  #ready: (() => void) | undefined;
  #failures = 0;
  #restart: ReturnType<typeof setTimeout> | undefined;

  constructor(o: RelayOptions) {
    this.#o = o;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Starts the thread; resolves once it has loaded and opened the outbox (or has failed, then it
   * is started again later), not when the broker answers: the service's start-up includes the
   * thread's, as it does the fetch thread's, and the broker may be down.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await new Promise<void>((resolve) => {
      this.#ready = resolve;
      this.#spawn();
    });
  }

  /** New events are in the outbox. */
  wake(): void {
    this.#worker?.postMessage({ op: 'wake' } satisfies ToRelayThread);
  }

  #spawn(): void {
    const { store } = this.#o;
    const w = startTsWorker(new URL('./relay.worker.ts', import.meta.url), {
      workerData: {
        path: store.path,
        broker: this.#o.broker,
        batchSize: this.#o.batchSize ?? 500,
        maxBackoffMs: this.#o.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
        from: store.outboxFirst(),
      } satisfies RelayThreadData,
    });
    this.#worker = w;
    w.on('message', (m: FromRelayThread) => this.#receive(m));
    w.on('error', (e) => this.#gone(w, e));
    w.on('exit', (code) => this.#gone(w, new Error(`the relay thread exited with code ${code}`)));
  }

  #receive(m: FromRelayThread): void {
    const { store, log, hooks } = this.#o;
    switch (m.op) {
      case 'published':
        store.deleteOutboxThrough(m.through);
        hooks?.onPublished?.(m.byKind);
        return;
      case 'ready':
        this.#ready?.();
        this.#ready = undefined;
        return;
      case 'idle':
        // Nothing left to send: the confirmed events' records go now, not with the next block.
        try {
          store.persistOutboxDeletes();
        } catch (err) {
          hooks?.onError?.(err);
        }
        return;
      case 'connected':
        this.#connected = m.connected;
        hooks?.onConnected?.(m.connected);
        if (m.connected && m.afterFailures > 0) {
          log.info({ afterFailures: m.afterFailures }, 'event broker reconnected');
        }
        return;
      case 'failed':
        hooks?.onError?.(new Error(m.message));
        if (m.failures === 1 || m.failures % 20 === 0) {
          log.warn({ err: m.message, failures: m.failures }, 'event relay failed; retrying');
        }
        return;
      case 'stopped':
        this.#stopped?.();
        return;
    }
  }

  /** The thread ended: expected after stop; otherwise it is started again after a back-off. */
  #gone(w: Worker, err: Error): void {
    if (this.#worker !== w) return;
    this.#worker = undefined;
    if (this.#connected) {
      this.#connected = false;
      this.#o.hooks?.onConnected?.(false);
    }
    this.#stopped?.();
    this.#ready?.();
    this.#ready = undefined;
    if (!this.#running) return;
    this.#failures++;
    this.#o.hooks?.onError?.(err);
    this.#o.log.warn({ err: err.message, failures: this.#failures }, 'event relay thread failed; restarting');
    const backoff = backoffMs(this.#failures, this.#o.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
    this.#restart = setTimeout(() => {
      this.#restart = undefined;
      if (this.#running) this.#spawn();
    }, backoff);
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

  /** Stops after the batch in flight (a publish the broker does not answer is cut after 2 s); closes the connection. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#restart);
    const w = this.#worker;
    if (!w) return;
    const stopped = new Promise<void>((resolve) => {
      this.#stopped = resolve;
    });
    w.postMessage({ op: 'stop' } satisfies ToRelayThread);
    // The thread closes its publisher 2 s after the stop at the latest; a connect under way may
    // take longer (its timeout): the thread is ended then.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => {
      timer = setTimeout(r, 5_000);
    });
    await Promise.race([stopped, late]);
    clearTimeout(timer);
    // Confirms the thread posted before it stopped are applied before the store closes.
    await new Promise((r) => setImmediate(r));
    await w.terminate();
  }
}
