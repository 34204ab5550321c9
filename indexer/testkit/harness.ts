import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { pino } from 'pino';
import type { RegtestNode } from '../../bitcoind/index.ts';
import {
  connectBroker,
  consumeEvents,
  deleteTopology,
  EVENT_TYPE_OF_KIND,
  type EventConsumer,
  openConsumerChannel,
  type StakingEvent,
  type TopologyNames,
  topologyNames,
} from '../../events/index.ts';
import { INDEXER_CONFIG_SCHEMA, type IndexerConfig } from '../config.ts';
import type { FetchVia } from '../fetchThread.ts';

/** The config's fetch defaults, which the indexers under test use (and the bench asks the node with). */
export const DEFAULT_FETCH = {
  batch: INDEXER_CONFIG_SCHEMA.properties.bitcoind.properties.fetch_batch_blocks.default,
  concurrency: INDEXER_CONFIG_SCHEMA.properties.bitcoind.properties.fetch_concurrency.default,
};

/** Everything an indexer under test needs, in its own temporary directory and queue prefix. */
export interface TestSetup {
  readonly dir: string;
  readonly prefix: string;
  readonly names: TopologyNames;
  readonly config: IndexerConfig;
  readonly configFile: string;
}

export async function testSetup(
  node: RegtestNode,
  brokerUrl: string,
  paramsDoc: unknown,
  over: {
    pollMs?: number;
    commitMaxBlocks?: number;
    fetchBatch?: number;
    fetchVia?: FetchVia;
    progressMs?: number;
    topology?: 'ordered' | 'reference';
    confirmedInfoEvents?: boolean;
  } = {},
): Promise<TestSetup> {
  const dir = await mkdtemp(join(tmpdir(), 'indexer-test-'));
  const prefix = `t${randomBytes(4).toString('hex')}.`;
  const paramsFile = join(dir, 'global-params.json');
  await writeFile(paramsFile, JSON.stringify(paramsDoc));
  const config: IndexerConfig = {
    bitcoind: {
      url: node.rpcUrl,
      cookie_file: node.cookieFile,
      timeout_ms: 30_000,
      poll_interval_ms: over.pollMs ?? 100,
      fetch_batch_blocks: over.fetchBatch ?? DEFAULT_FETCH.batch,
      fetch_concurrency: DEFAULT_FETCH.concurrency,
      fetch_via: over.fetchVia ?? 'auto',
    },
    params: { file: paramsFile },
    store: { path: join(dir, 'store'), commit_max_blocks: over.commitMaxBlocks ?? 200 },
    rabbitmq: {
      url: brokerUrl,
      prefix,
      queue_type: 'classic',
      reference_queues: false,
      topology: over.topology ?? 'ordered',
      confirmed_info_events: over.confirmedInfoEvents ?? false,
      heartbeat_s: 5,
      batch_size: 500,
    },
    ops: { host: '127.0.0.1', port: 0 },
    log: { level: 'warn', progress_interval_ms: over.progressMs ?? 10_000 },
  };
  const configFile = join(dir, 'indexer.toml');
  await writeFile(configFile, toToml(config));
  return { dir, prefix, names: topologyNames(prefix), config, configFile };
}

function toToml(c: IndexerConfig): string {
  const lines: string[] = [];
  for (const [section, table] of Object.entries(c)) {
    lines.push(`[${section}]`);
    for (const [k, v] of Object.entries(table as Record<string, unknown>))
      lines.push(`${k} = ${JSON.stringify(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

export const quietLogger = () => pino({ level: 'silent' });

/** A logger that keeps every info-or-above line as parsed JSON, for tests that read the logs. */
export function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    {
      write(chunk: string) {
        lines.push(JSON.parse(chunk) as Record<string, unknown>);
      },
    },
  );
  return { logger, lines };
}

/** Consumes a test's ordered queue and keeps every event, in arrival order. */
export class EventCollector {
  readonly events: StakingEvent[];
  readonly #conn: ChannelModel;
  readonly #ch: ConfirmChannel;
  readonly #consumer: EventConsumer;
  readonly names: TopologyNames;

  private constructor(
    conn: ChannelModel,
    ch: ConfirmChannel,
    consumer: EventConsumer,
    names: TopologyNames,
    events: StakingEvent[],
  ) {
    this.events = events;
    this.#conn = conn;
    this.#ch = ch;
    this.#consumer = consumer;
    this.names = names;
  }

  static async start(brokerUrl: string, names: TopologyNames): Promise<EventCollector> {
    const conn = await connectBroker({ url: brokerUrl });
    conn.on('error', () => undefined);
    const ch = await openConsumerChannel(conn);
    const events: StakingEvent[] = [];
    const consumer = await consumeEvents(
      ch,
      async (e) => {
        events.push(e);
      },
      { names, queueType: 'classic', prefetch: 500 },
    );
    return new EventCollector(conn, ch, consumer, names, events);
  }

  /** Events other than btc-info, without their sequence, first delivery only (by event_id). */
  view(): Array<Omit<StakingEvent, 'sequence'>> {
    const seen = new Set<string>();
    const out: Array<Omit<StakingEvent, 'sequence'>> = [];
    for (const e of this.events) {
      if (e.event_type === EVENT_TYPE_OF_KIND['btc-info'] || seen.has(e.event_id)) continue;
      seen.add(e.event_id);
      const { sequence: _s, ...rest } = e;
      out.push(rest);
    }
    return out;
  }

  ids(): string[] {
    return this.view().map((e) => e.event_id);
  }

  async waitFor(
    pred: (events: readonly StakingEvent[]) => boolean,
    timeoutMs = 30_000,
    what = 'events',
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.events)) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.ids())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for a btc-info at or above `height` (everything confirmed below it has been delivered before it). */
  async waitForTip(height: number, timeoutMs = 30_000): Promise<void> {
    await this.waitFor(
      (es) => es.some((e) => e.event_type === EVENT_TYPE_OF_KIND['btc-info'] && e.height >= height),
      timeoutMs,
      `btc-info at ${height}`,
    );
  }

  async close(deleteQueues = true): Promise<void> {
    await this.#consumer.cancel();
    if (deleteQueues) await deleteTopology(this.#ch, this.names).catch(() => undefined);
    await this.#ch.close().catch(() => undefined);
    await this.#conn.close().catch(() => undefined);
  }
}
