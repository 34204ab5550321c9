import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseGlobalParams } from '../params/index.ts';
import { testKey, testParamsDoc } from '../test/keys.ts';
import { OutboxRelay } from './relay.ts';
import { IndexerStore } from './store.ts';

/**
 * The relay's thread without a broker (nothing listens on the port it is given): it runs at a
 * lower priority than the threads that decide, reports each failure to the main thread, and is
 * gone after `stop`. Publishing itself is the integration tests' (indexer, crash, brokerFault).
 */
const params = parseGlobalParams(
  testParamsDoc(['r-cov-a', 'r-cov-b'].map(testKey), { activation_height: 100 }),
);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** This process's threads by nice value (/proc/self/task/<tid>/stat, field 19). */
function nices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}
const lowered = () => [...nices().values()].filter((n) => n === 10).length;

async function until(what: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('OutboxRelay', () => {
  it('publishes from a thread below the deciding threads’ priority, reports its failures, and ends it at stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'indexer-relay-'));
    dirs.push(dir);
    const store = IndexerStore.open(dir, params);
    const errors: unknown[] = [];
    const connected: boolean[] = [];
    const relay = new OutboxRelay({
      store,
      broker: { url: 'amqp://guest:guest@127.0.0.1:1', connectTimeoutMs: 500 },
      maxBackoffMs: 100,
      log: pino({ level: 'silent' }),
      hooks: { onError: (e) => errors.push(e), onConnected: (c) => connected.push(c) },
    });
    const before = lowered();
    await relay.start();
    try {
      await until(() => lowered() === before + 1);
      await until(() => errors.length >= 2);
      expect(String(errors[0])).toMatch(/cannot connect to the broker at 127\.0\.0\.1:1/);
      expect(relay.connected).toBe(false);
      expect(connected).toEqual([]);
    } finally {
      await relay.stop();
      await store.close();
    }
    await until(() => lowered() === before);
  });
});
