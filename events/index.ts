export {
  type ConsumeOptions,
  consumeEvents,
  DEAD_LETTER_REASON_HEADER,
  type EventConsumer,
  openConsumerChannel,
} from './consumer.ts';
export { EVENTS_ERRORS, type EventsErrorCode } from './errors.ts';
export { type BrokerOptions, connectBroker, EventPublisher } from './publisher.ts';
export {
  consumeReferenceQueue,
  declareReferenceQueue,
  declareReferenceTopology,
  delayQueueOf,
  deleteReferenceTopology,
  dlxRoutingKeyOf,
  PROCESSING_ATTEMPTS_HEADER,
  parseReferenceBody,
  processingAttempts,
  publishReference,
  REFERENCE_EVENT_TYPE,
  REFERENCE_FIELDS,
  REFERENCE_KINDS,
  type ReferenceConsumeOptions,
  type ReferenceKind,
  type ReferenceMessage,
  type ReferenceNames,
  referenceEventId,
  referenceNames,
  toReferenceBody,
} from './reference.ts';
export {
  type ActiveStakingEvent,
  type BtcInfoEvent,
  type ConfirmedInfoEvent,
  EVENT_KINDS,
  EVENT_SCHEMAS,
  EVENT_TYPE_OF_KIND,
  type EventKind,
  type EventOfKind,
  type ExpiredStakingEvent,
  eventIdOf,
  kindOfEventType,
  type StakingEvent,
  type UnbondingStakingEvent,
  type UnsequencedEvent,
  type WithdrawStakingEvent,
} from './schemas.ts';
export {
  declareTopology,
  deleteTopology,
  type QueueType,
  type TopologyNames,
  type TopologyOptions,
  topologyNames,
} from './topology.ts';
export { assertStakingEvent, isStakingEvent, kindOf, parseEventBody } from './validate.ts';
