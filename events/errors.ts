/**
 * Every error events/ can raise. Documented in events/README.md (a test checks).
 */
export const EVENTS_ERRORS = {
  EVENTS_INVALID:
    'A message does not match the schema of its kind, or its event_id is not the one its fields imply.',
  EVENTS_NOT_JSON: 'A received message body is not UTF-8 JSON.',
  EVENTS_UNKNOWN_KIND: 'A message names an event kind the contract does not define.',
  EVENTS_PUBLISH_FAILED:
    'The broker did not confirm a publish (negative acknowledgement, unroutable message, or the channel closed first).',
  EVENTS_BROKER_UNREACHABLE: 'The RabbitMQ broker cannot be reached or refused the connection.',
  EVENTS_QUEUE_OUTDATED:
    'The ordered queue exists with other arguments than this version declares (before single-active-consumer), or a reference queue exists with other arguments than the reference topology declares: re-create it as the README says.',
} as const;

export type EventsErrorCode = keyof typeof EVENTS_ERRORS;
