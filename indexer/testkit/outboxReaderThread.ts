/**
 * A worker thread for tests: opens an `OutboxReader` on the store at `workerData` and answers each
 * `[first, limit]` message with the sequences of `batch(first, limit)`, as the relay's thread reads,
 * and `'close'` by closing the reader (answered with `'closed'`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OutboxReader } from '../store.ts';

const reader = OutboxReader.open(workerData as string);
parentPort!.on('message', async (m: [number, number] | 'close') => {
  if (m === 'close') {
    await reader.close();
    parentPort!.postMessage('closed');
    return;
  }
  parentPort!.postMessage(reader.batch(m[0], m[1]).map((e) => e.sequence));
});
