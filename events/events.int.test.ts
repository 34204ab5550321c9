import { randomBytes } from 'node:crypto';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedBroker } from '../test/infra/rabbitmq.ts';
import { consumeEvents, DEAD_LETTER_REASON_HEADER, openConsumerChannel } from './consumer.ts';
import { connectBroker, EventPublisher } from './publisher.ts';
import type { BtcInfoEvent, StakingEvent } from './schemas.ts';
import { declareTopology, deleteTopology, type TopologyNames, topologyNames } from './topology.ts';

/** The contract against a real RabbitMQ: uniquely named objects per run, deleted afterwards. */
let broker: { url: string; destroy(): Promise<void> };
let names: TopologyNames;
let conn: ChannelModel;
let admin: ConfirmChannel;

beforeAll(async () => {
  broker = await sharedBroker();
  names = topologyNames(`test-${randomBytes(4).toString('hex')}.`);
  conn = await connectBroker({ url: broker.url });
  admin = await openConsumerChannel(conn);
});
afterAll(async () => {
  await deleteTopology(admin, names).catch(() => undefined);
  await conn?.close().catch(() => undefined);
  await broker?.destroy();
});

function info(sequence: number, height: number): BtcInfoEvent {
  return {
    event_type: 6,
    event_id: `btc-info:${height}`,
    sequence,
    height,
    confirmed_tvl: 1000 * height,
    unconfirmed_tvl: 1000 * height + 1,
  };
}

describe('publisher and consumer against RabbitMQ', () => {
  it('declares durable queues with a dead-letter exchange and publishes persistent, confirmed messages', async () => {
    const pub = await EventPublisher.open({ url: broker.url, names, referenceQueues: true });
    try {
      await pub.publish([info(1, 100)]);
      const q = await admin.checkQueue(names.queue);
      expect(q.messageCount).toBe(1);
      const ref = await admin.checkQueue(names.referenceQueues['btc-info']);
      expect(ref.messageCount).toBe(1);
      // A quorum queue with a single active consumer refuses basic.get; the reference queue holds
      // the same message.
      const msg = await admin.get(names.referenceQueues['btc-info'], { noAck: false });
      expect(msg ? msg.properties.deliveryMode : undefined).toBe(2);
      expect(msg ? msg.properties.messageId : undefined).toBe('btc-info:100');
      expect(msg ? msg.properties.contentType : undefined).toBe('application/json');
      if (msg) admin.ack(msg);
      await admin.purgeQueue(names.queue);
    } finally {
      await pub.close();
    }
  });

  it('refuses to publish an invalid event and sends nothing', async () => {
    const pub = await EventPublisher.open({ url: broker.url, names });
    try {
      const bad = { ...info(2, 101), confirmed_tvl: -5 };
      await expect(pub.publish([info(3, 102), bad as StakingEvent])).rejects.toMatchObject({
        code: 'EVENTS_INVALID',
      });
      expect((await admin.checkQueue(names.queue)).messageCount).toBe(0);
    } finally {
      await pub.close();
    }
  });

  it('delivers events in publish order, validated, with manual ack', async () => {
    const pub = await EventPublisher.open({ url: broker.url, names });
    const ch = await openConsumerChannel(conn);
    const seen: number[] = [];
    const n = 300;
    const done = new Promise<void>((resolve) => {
      void consumeEvents(
        ch,
        async (e) => {
          // A slow handler must not let later messages overtake.
          if (e.sequence % 50 === 0) await new Promise((r) => setTimeout(r, 20));
          seen.push(e.sequence);
          if (seen.length === n) resolve();
        },
        { names, prefetch: 50 },
      );
    });
    try {
      const events = Array.from({ length: n }, (_, i) => info(i + 1, 1000 + i));
      for (let i = 0; i < n; i += 100) await pub.publish(events.slice(i, i + 100));
      await done;
      expect(seen).toEqual(events.map((e) => e.sequence));
      await new Promise((r) => setTimeout(r, 100));
      expect((await admin.checkQueue(names.queue)).messageCount).toBe(0);
    } finally {
      await ch.close();
      await pub.close();
    }
  });

  it('dead-letters a malformed message with its reason and goes on with the next', async () => {
    // A raw publish that bypasses the publisher's validation, as a buggy producer would.
    const raw = await conn.createConfirmChannel();
    raw.publish(names.exchange, 'active', Buffer.from('{"event_type":1,"staking_value":"lots"}'), {
      persistent: true,
    });
    raw.publish(names.exchange, 'btc-info', Buffer.from('not json'), { persistent: true });
    raw.publish(names.exchange, 'btc-info', Buffer.from(JSON.stringify(info(7, 200))), { persistent: true });
    await raw.waitForConfirms();
    await raw.close();

    const ch = await openConsumerChannel(conn);
    const reasons: string[] = [];
    const got: StakingEvent[] = [];
    const c = await consumeEvents(
      ch,
      async (e) => {
        got.push(e);
      },
      { names, onDeadLetter: (r) => reasons.push(r) },
    );
    for (let i = 0; i < 50 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
    await c.cancel();
    await ch.close();
    expect(got.map((e) => e.event_id)).toEqual(['btc-info:200']);
    expect(reasons).toHaveLength(2);
    const dead1 = await admin.get(names.deadLetterQueue, { noAck: true });
    const dead2 = await admin.get(names.deadLetterQueue, { noAck: true });
    const deadReasons = [dead1, dead2].map((m) =>
      m ? String(m.properties.headers?.[DEAD_LETTER_REASON_HEADER]) : '',
    );
    expect(deadReasons[0]).toMatch(/^EVENTS_INVALID: active event: /);
    expect(deadReasons[1]).toMatch(/^EVENTS_NOT_JSON/);
  });

  it('retries a failing handler in place, then dead-letters the message with the error', async () => {
    const pub = await EventPublisher.open({ url: broker.url, names });
    const ch = await openConsumerChannel(conn);
    const calls: number[] = [];
    const c = await consumeEvents(
      ch,
      async (e) => {
        calls.push(e.sequence);
        if (e.sequence === 10) throw new Error('database down');
      },
      { names, maxAttempts: 3, retryDelayMs: 10 },
    );
    try {
      await pub.publish([info(10, 300), info(11, 301)]);
      for (let i = 0; i < 100 && calls.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
      await c.idle();
      expect(calls).toEqual([10, 10, 10, 11]);
      const dead = await admin.get(names.deadLetterQueue, { noAck: true });
      expect(dead && String(dead.properties.headers?.[DEAD_LETTER_REASON_HEADER])).toBe(
        'handler failed 3 times: database down',
      );
    } finally {
      await c.cancel();
      await ch.close();
      await pub.close();
    }
  });

  it('rejects a publish when the broker cannot route it (topology deleted under it)', async () => {
    const other = topologyNames(`test-${randomBytes(4).toString('hex')}.`);
    const pub = await EventPublisher.open({ url: broker.url, names: other });
    try {
      await admin.deleteQueue(other.queue);
      await expect(pub.publish([info(20, 400)])).rejects.toMatchObject({ code: 'EVENTS_PUBLISH_FAILED' });
    } finally {
      await pub.close();
      await deleteTopology(admin, other).catch(() => undefined);
    }
  });

  it('names the host and never the password when the broker is unreachable', async () => {
    const err = await EventPublisher.open({ url: 'amqp://guest:s3cret@127.0.0.1:1' }).catch((e) => e);
    expect(err.code).toBe('EVENTS_BROKER_UNREACHABLE');
    expect(err.message).toContain('127.0.0.1:1');
    expect(err.message).not.toContain('s3cret');
  });

  it('delivers the ordered queue to one consumer at a time, and fails over when it goes', async () => {
    const pub = await EventPublisher.open({ url: broker.url, names });
    const got: Array<{ who: string; height: number }> = [];
    const consumer = async (who: string) => {
      const c = await connectBroker({ url: broker.url });
      const ch = await openConsumerChannel(c);
      const sub = await consumeEvents(
        ch,
        async (e) => {
          if (e.event_type === 6) got.push({ who, height: e.height });
        },
        { names, prefetch: 10 },
      );
      return { conn: c, sub };
    };
    const a = await consumer('a');
    const b = await consumer('b');
    try {
      await pub.publish([500, 501, 502].map((h, i) => info(30 + i, h)));
      await waitUntil(() => got.length === 3);
      expect(new Set(got.map((g) => g.who)).size).toBe(1);
      const first = got[0]!.who;
      // The active consumer's connection drops (as in a crash): the other one takes over.
      await (first === 'a' ? a : b).conn.close();
      await pub.publish([503, 504].map((h, i) => info(40 + i, h)));
      // The handler saw an event before its ack left, so the crash can leave the last ones
      // unacknowledged: the broker then gives them again, to the other consumer (at-least-once; the
      // API absorbs them by event id). Nothing is lost, and the new consumer gets them in order.
      await waitUntil(() => got.some((g) => g.height === 504));
      const after = got.slice(3);
      expect(after.every((g) => g.who !== first)).toBe(true);
      expect(after.map((g) => g.height)).toEqual([...after.map((g) => g.height)].sort((x, y) => x - y));
      expect(after.slice(-2).map((g) => g.height)).toEqual([503, 504]);
      expect(after.slice(0, -2).every((g) => g.height >= 500 && g.height <= 502)).toBe(true);
      expect([...new Set(got.map((g) => g.height))]).toEqual([500, 501, 502, 503, 504]);
    } finally {
      for (const x of [a, b]) {
        await x.sub.cancel().catch(() => undefined);
        await x.conn.close().catch(() => undefined);
      }
      await pub.close();
    }
  });

  it('names the upgrade when the ordered queue was declared without single-active-consumer', async () => {
    const old = topologyNames(`test-${randomBytes(4).toString('hex')}.`);
    const c = await connectBroker({ url: broker.url });
    c.on('error', () => undefined);
    try {
      const ch = await c.createChannel();
      ch.on('error', () => undefined);
      // The declaration of the versions before it.
      await ch.assertQueue(old.queue, {
        durable: true,
        arguments: { 'x-queue-type': 'classic', 'x-dead-letter-exchange': old.deadLetterExchange },
      });
      const ch2 = await c.createChannel();
      ch2.on('error', () => undefined);
      const err = await declareTopology(ch2, { names: old, queueType: 'classic' }).catch((e) => e);
      expect(err.code).toBe('EVENTS_QUEUE_OUTDATED');
      expect(err.message).toContain(old.queue);
      // After the documented re-creation, the declaration passes.
      const ch3 = await c.createChannel();
      await ch3.deleteQueue(old.queue);
      await declareTopology(ch3, { names: old, queueType: 'classic' });
      await deleteTopology(ch3, old);
    } finally {
      await c.close().catch(() => undefined);
    }
  });
});

async function waitUntil(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
