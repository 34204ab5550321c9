/** A worker for tsWorker.test.ts: posts its own thread's name (Linux's comm) back. */
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

parentPort!.postMessage(readFileSync('/proc/thread-self/comm', 'utf8').trim());
