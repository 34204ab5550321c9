import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { CodedError } from '../common/index.ts';
import type { EventsErrorCode } from './errors.ts';
import {
  EVENT_KINDS,
  EVENT_SCHEMAS,
  EVENT_TYPE_OF_KIND,
  type EventKind,
  eventIdOf,
  kindOfEventType,
  type StakingEvent,
} from './schemas.ts';

// Strict: no coercion, no defaults, unknown fields refused (not stripped), first error only
// (allErrors off: fastify's advice against DoS by pathological input).
const ajv = new Ajv({ strict: true, allErrors: false, coerceTypes: false, useDefaults: false });
const validators = new Map<EventKind, ValidateFunction>(
  EVENT_KINDS.map((k) => [k, ajv.compile(EVENT_SCHEMAS[k])]),
);

function describe(e: ErrorObject | undefined): string {
  if (!e) return 'invalid';
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : '(message)';
  if (e.keyword === 'additionalProperties')
    return `${String(e.params.additionalProperty)} is not a field of the contract`;
  return `${where} ${e.message ?? 'is invalid'}`;
}

/**
 * Checks a message against the schema of the kind its event_type names, and that its event_id is
 * the one its fields imply. Returns the typed event.
 * @throws {CodedError} EVENTS_UNKNOWN_KIND, EVENTS_INVALID
 */
export function assertStakingEvent(value: unknown): StakingEvent {
  const kind =
    typeof value === 'object' && value !== null
      ? kindOfEventType((value as { event_type?: unknown }).event_type)
      : undefined;
  if (!kind) {
    throw new CodedError<EventsErrorCode>(
      'EVENTS_UNKNOWN_KIND',
      `message has no event_type the contract defines (${Object.values(EVENT_TYPE_OF_KIND).join(', ')})`,
    );
  }
  const validate = validators.get(kind)!;
  if (!validate(value)) {
    throw new CodedError<EventsErrorCode>(
      'EVENTS_INVALID',
      `${kind} event: ${describe(validate.errors?.[0])}`,
      {
        details: { kind },
      },
    );
  }
  const event = value as StakingEvent;
  const expected = eventIdOf(event);
  if (event.event_id !== expected) {
    throw new CodedError<EventsErrorCode>(
      'EVENTS_INVALID',
      `${kind} event: event_id ${JSON.stringify(event.event_id)} is not the one its fields imply (${expected})`,
      { details: { kind } },
    );
  }
  return event;
}

/** Whether a value is a valid event of the contract. Never throws. */
export function isStakingEvent(value: unknown): value is StakingEvent {
  try {
    assertStakingEvent(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decodes a message body (UTF-8 JSON) and validates it.
 * @throws {CodedError} EVENTS_NOT_JSON, EVENTS_UNKNOWN_KIND, EVENTS_INVALID
 */
export function parseEventBody(body: Uint8Array): StakingEvent {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (cause) {
    throw new CodedError<EventsErrorCode>('EVENTS_NOT_JSON', 'message body is not UTF-8 JSON', { cause });
  }
  return assertStakingEvent(value);
}

/** The kind of a validated event. */
export function kindOf(e: StakingEvent): EventKind {
  return kindOfEventType(e.event_type)!;
}
