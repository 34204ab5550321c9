import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIndexerConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'indexer-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(text: string): string {
  const f = join(dir, `c${Math.random().toString(16).slice(2)}.toml`);
  writeFileSync(f, text);
  return f;
}
const minimal = `
[bitcoind]
url = "http://127.0.0.1:8332"
cookie_file = "/var/lib/bitcoind/.cookie"
[params]
file = "/etc/indexer/global-params.json"
[store]
path = "/var/lib/indexer/store"
[rabbitmq]
url = "amqp://indexer@127.0.0.1:5672/staking"
`;

describe('indexer configuration', () => {
  it('fills every default', () => {
    const c = loadIndexerConfig(file(minimal), {});
    expect(c.bitcoind).toMatchObject({
      poll_interval_ms: 5000,
      fetch_batch_blocks: 16,
      fetch_concurrency: 8,
      fetch_via: 'auto',
      timeout_ms: 30000,
    });
    expect(c.store.commit_max_blocks).toBe(200);
    expect(c.rabbitmq).toMatchObject({
      prefix: '',
      queue_type: 'quorum',
      reference_queues: false,
      topology: 'ordered',
      confirmed_info_events: false,
      heartbeat_s: 10,
      batch_size: 500,
    });
    expect(c.ops).toEqual({ host: '127.0.0.1', port: 2114 });
    expect(c.log.level).toBe('info');
  });

  it('refuses a password in bitcoind.url, as every service sharing the [bitcoind] table does', () => {
    expect(() =>
      loadIndexerConfig(file(minimal), { INDEXER__BITCOIND__URL: 'http://u:hunter2@127.0.0.1:8332' }),
    ).toThrow(/bitcoind\.url must not contain a user or password.*bitcoind\.password_file/);
  });

  it('takes INDEXER__SECTION__KEY overrides from the environment', () => {
    const c = loadIndexerConfig(file(minimal), {
      INDEXER__BITCOIND__POLL_INTERVAL_MS: '250',
      INDEXER__RABBITMQ__PREFIX: 'staging.',
      INDEXER__RABBITMQ__REFERENCE_QUEUES: 'true',
      INDEXER__BITCOIND__FETCH_VIA: 'rpc',
    });
    expect(c.bitcoind.fetch_via).toBe('rpc');
    expect(c.bitcoind.poll_interval_ms).toBe(250);
    expect(c.rabbitmq.prefix).toBe('staging.');
    expect(c.rabbitmq.reference_queues).toBe(true);
  });

  it.each([
    ['an unknown key (a typo)', `${minimal}\n[ops]\nprot = 1\n`, /ops.prot is not a known option/],
    ['a missing section', minimal.replace(/\[store\][^[]*/, ''), /store/],
    ['a non-AMQP broker url', minimal.replace('amqp://', 'http://'), /rabbitmq.url/],
    ['an unknown queue type', `${minimal}queue_type = "stream"\n`, /queue_type/],
    ['an unknown fetch interface', minimal.replace('[params]', 'fetch_via = "zmq"\n[params]'), /fetch_via/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => loadIndexerConfig(file(text), {})).toThrow(message);
  });
});
