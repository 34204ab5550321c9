/**
 * A worker thread for tests: opens an `OutboxReader` on the store at `workerData` and answers each
 * `[first, limit]` message with the sequences of `batch(first, limit)`, as the relay's thread reads.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OutboxReader } from '../store.ts';

const reader = OutboxReader.open(workerData as string);
parentPort!.on('message', ([first, limit]: [number, number]) => {
  parentPort!.postMessage(reader.batch(first, limit).map((e) => e.sequence));
});
