/**
 * The outbox relay's thread (see relay.ts): reads committed events from the store's outbox, from
 * the sequence the main thread gives it on, publishes them in order in batches on one confirm
 * channel, and tells the main thread the last sequence of each batch the broker confirmed, which
 * alone deletes them. On any failure (broker down, channel closed, nack) the publisher is dropped
 * and the same batch is read and sent again after a back-off: at least once, in outbox order.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { EventPublisher } from '../events/index.ts';
import { backoffMs } from './backoff.ts';
import { countByKind } from './metrics.ts';
import type { FromRelayThread, RelayThreadData, ToRelayThread } from './relay.ts';
import { OutboxReader } from './store.ts';

const { path, broker, batchSize, maxBackoffMs, from } = workerData as RelayThreadData;
const port = parentPort!;
const post = (m: FromRelayThread) => port.postMessage(m);

let next = from;
let running = true;
let publisher: EventPublisher | undefined;
let failures = 0;
let wake: (() => void) | undefined;
let pendingWake = false;

port.on('message', (m: ToRelayThread) => {
  if (m.op === 'stop') {
    running = false;
    // A publish waiting on a silent broker would wait for the heartbeat: close under it instead
    // (its batch stays in the outbox and goes out at the next start).
    setTimeout(() => void publisher?.close().catch(() => undefined), 2_000).unref();
  }
  pendingWake = true;
  wake?.();
});

async function sleep(ms: number): Promise<void> {
  if (pendingWake) {
    pendingWake = false;
    return;
  }
  await new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      resolve();
    }
    wake = done;
  });
  wake = undefined;
  pendingWake = false;
}

/**
 * Deciding and committing come first. Where the main and fetch threads need every core (an initial
 * sync on two, the broker on the same host), a relay at the same priority takes a core from them,
 * and gives the broker its work during the sync; a lower one publishes in their gaps, as the relay
 * did on the main thread. With a core to spare it changes nothing. Linux (a thread's own nice
 * value, which needs no privilege to raise); elsewhere the priority stays.
 */
function yieldToDeciding(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, RELAY_NICE);
  } catch {
    // Not Linux: the default priority.
  }
}
const RELAY_NICE = 10;
yieldToDeciding();

const connected = () => publisher !== undefined && !publisher.closed;
const reader = OutboxReader.open(path);
// Loaded and reading: the rest of the service's start need not wait for the broker.
post({ op: 'ready' });
try {
  while (running) {
    try {
      if (!connected()) {
        await publisher?.close().catch(() => undefined);
        publisher = await EventPublisher.open(broker);
        post({ op: 'connected', connected: true, afterFailures: failures });
        publisher.onClose(() => post({ op: 'connected', connected: false, afterFailures: 0 }));
        failures = 0;
      }
      const batch = reader.batch(next, batchSize);
      if (batch.length === 0) {
        post({ op: 'idle' });
        await sleep(1_000);
        continue;
      }
      await publisher!.publish(batch);
      next = batch[batch.length - 1]!.sequence + 1;
      post({ op: 'published', through: next - 1, byKind: countByKind(batch) });
    } catch (err) {
      failures++;
      post({ op: 'failed', message: (err as Error).message, failures });
      await publisher?.close().catch(() => undefined);
      publisher = undefined;
      if (!running) break;
      const backoff = backoffMs(failures, maxBackoffMs);
      pendingWake = false;
      await sleep(backoff);
    }
  }
} finally {
  await publisher?.close().catch(() => undefined);
  await reader.close().catch(() => undefined);
  post({ op: 'stopped' });
}
