import type { GetMessage } from 'amqplib';
import { isCodedError } from '../common/index.ts';
import { type Database, listDeadLetters, markDeadLettersReplayed } from '../db/index.ts';
import {
  connectBroker,
  DEAD_LETTER_REASON_HEADER,
  declareReferenceQueue,
  declareTopology,
  kindOf,
  parseEventBody,
  parseReferenceBody,
  publishReference,
  type QueueType,
  type ReferenceKind,
  type ReferenceNames,
  referenceEventId,
  type TopologyNames,
} from '../events/index.ts';

export interface ReplayOptions {
  readonly url: string;
  readonly names: TopologyNames;
  readonly queueType: QueueType;
  /** Records replays in `dead_letters` when given. */
  readonly db?: Database;
  /** List what would be replayed and leave every message where it is. */
  readonly dryRun?: boolean;
  /** Replay at most this many (default all that are in the queue when it starts). */
  readonly limit?: number;
  readonly log?: (line: string) => void;
}

export interface ReplayResult {
  /** Event ids sent back to the consumer queue, in dead-letter order. */
  readonly replayed: readonly string[];
  /** Messages left in the dead-letter queue: they are not valid events (a replay would only dead-letter them again). */
  readonly kept: number;
}

/**
 * Moves the dead-letter queue's valid events back to the queue they were dead-lettered from
 * (header `x-original-queue`, else the ordered queue), oldest first, each publish confirmed before
 * its dead letter is acknowledged: a crash mid-way can duplicate an event (absorbed: consumers are
 * idempotent) but never lose one. Messages that are not valid events stay in the dead-letter queue.
 * Run it after fixing what made the events fail; an event that still does not fit is dead-lettered
 * again with its reason.
 * @throws {CodedError} EVENTS_BROKER_UNREACHABLE
 */
export async function replayDeadLetters(o: ReplayOptions): Promise<ReplayResult> {
  const log = o.log ?? (() => undefined);
  const conn = await connectBroker({ url: o.url, names: o.names, queueType: o.queueType });
  conn.on('error', () => undefined);
  const replayed: string[] = [];
  const keep: GetMessage[] = [];
  try {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    await declareTopology(ch, { names: o.names, queueType: o.queueType });
    const { messageCount } = await ch.checkQueue(o.names.deadLetterQueue);
    const todo = Math.min(messageCount, o.limit ?? messageCount);
    for (let i = 0; i < todo; i++) {
      const msg = await ch.get(o.names.deadLetterQueue, { noAck: false });
      if (!msg) break;
      const reason = String(msg.properties.headers?.[DEAD_LETTER_REASON_HEADER] ?? '(no reason)');
      let eventId: string;
      let kind: string;
      try {
        const e = parseEventBody(msg.content);
        eventId = e.event_id;
        kind = kindOf(e);
      } catch (e) {
        log(`kept (not a valid event: ${isCodedError(e) ? e.code : 'invalid'}): ${reason}`);
        keep.push(msg);
        continue;
      }
      if (o.dryRun) {
        log(`would replay ${eventId}: ${reason}`);
        keep.push(msg);
        continue;
      }
      const headers = { ...(msg.properties.headers ?? {}) };
      const target =
        typeof headers['x-original-queue'] === 'string' ? headers['x-original-queue'] : o.names.queue;
      for (const h of [DEAD_LETTER_REASON_HEADER, 'x-original-queue', 'x-original-routing-key', 'x-death'])
        delete headers[h];
      headers['x-replayed-at'] = new Date().toISOString();
      await new Promise<void>((resolve, reject) => {
        ch.sendToQueue(
          target,
          msg.content,
          {
            persistent: true,
            contentType: 'application/json',
            messageId: eventId,
            type: kind,
            headers,
          },
          (err: unknown) => (err ? reject(err) : resolve()),
        );
      });
      ch.ack(msg);
      replayed.push(eventId);
      log(`replayed ${eventId} (was: ${reason})`);
    }
    for (const m of keep) ch.nack(m, false, true);
    await ch.close().catch(() => undefined);
  } finally {
    await conn.close().catch(() => undefined);
  }
  if (o.db && replayed.length > 0) await markDeadLettersReplayed(o.db, replayed);
  return { replayed, kept: keep.length };
}

export interface ReferenceReplayOptions {
  readonly url: string;
  readonly names: ReferenceNames;
  readonly queueType: QueueType;
  readonly db: Database;
  readonly dryRun?: boolean;
  readonly limit?: number;
  readonly log?: (line: string) => void;
}

/**
 * The reference topology keeps no dead-letter queue: a message given up is only in `dead_letters`
 * (as the reference API's `unprocessable_messages`). This sends each one not yet replayed back to
 * the queue it was given up on, the reference way (attempts 0, confirmed), then marks it replayed,
 * as the reference API's `--replay`. A row whose queue is not a reference queue of these names, or
 * whose body is not that queue's reference JSON, is kept.
 * @throws {CodedError} EVENTS_BROKER_UNREACHABLE, EVENTS_QUEUE_OUTDATED
 */
export async function replayReferenceDeadLetters(o: ReferenceReplayOptions): Promise<ReplayResult> {
  const log = o.log ?? (() => undefined);
  const kindOfQueue = new Map(Object.entries(o.names.queues).map(([k, q]) => [q, k as ReferenceKind]));
  const rows = (await listDeadLetters(o.db, { limit: o.limit ?? 1000 })).filter((d) => d.routingKey !== null);
  const conn = await connectBroker({ url: o.url });
  conn.on('error', () => undefined);
  const replayed: string[] = [];
  let kept = 0;
  try {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    for (const d of rows) {
      const kind = kindOfQueue.get(d.routingKey!);
      let eventId: string | undefined;
      try {
        if (kind) eventId = referenceEventId(kind, parseReferenceBody(kind, Buffer.from(d.body, 'utf8')));
      } catch {
        eventId = undefined;
      }
      if (!kind || eventId === undefined || eventId !== d.eventId) {
        log(`kept dead letter ${d.id} (not a reference event of ${d.routingKey}): ${d.reason}`);
        kept++;
        continue;
      }
      if (o.dryRun) {
        log(`would replay ${eventId} to ${d.routingKey}: ${d.reason}`);
        kept++;
        continue;
      }
      await declareReferenceQueue(ch, o.names, d.routingKey!, o.queueType);
      await publishReference(ch, d.routingKey!, d.body, { attempts: 0 });
      await markDeadLettersReplayed(o.db, [eventId]);
      replayed.push(eventId);
      log(`replayed ${eventId} to ${d.routingKey} (was: ${d.reason})`);
    }
    await ch.close().catch(() => undefined);
  } finally {
    await conn.close().catch(() => undefined);
  }
  return { replayed, kept };
}
