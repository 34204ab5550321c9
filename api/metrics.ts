import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The API's Prometheus metrics, on their own registry (tests run several instances per process). */
export function createApiMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    // The reference's name and labels, so its dashboards keep working.
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by route pattern and status',
      labelNames: ['endpoint', 'status'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    events: new Counter({
      name: 'api_events_total',
      help: 'Events processed, by kind and outcome (applied, duplicate, superseded, stale; ignored: reference stats and confirmed info)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    eventDuration: new Histogram({
      name: 'event_processing_duration_seconds',
      help: 'Time to apply one event, including waits for the database',
      labelNames: ['kind'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    eventFailures: new Counter({
      name: 'api_event_failures_total',
      help: 'Attempts to apply an event that failed because it does not fit the state (each retry counts)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'api_dead_letters_total',
      help: 'Messages the consumer dead-lettered (reference: unprocessable_entity_total)',
      registers: [registry],
    }),
    unbondingRequests: new Counter({
      name: 'api_unbonding_requests_total',
      help: 'POST /v1/unbonding by outcome code (OK or the refusal code)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    dbUp: new Gauge({
      name: 'api_database_up',
      help: '1 when the last database round trip succeeded',
      registers: [registry],
    }),
    consumerConnected: new Gauge({
      name: 'api_consumer_connected',
      help: '1 while the event consumer is attached to the broker',
      registers: [registry],
    }),
    // The consumer's lag, read from the broker at each scrape (api/consumer.ts refreshLag).
    eventsBehind: new Gauge({
      name: 'api_consumer_events_behind',
      help: 'Events waiting in the ordered queue, not yet delivered to the consumer',
      registers: [registry],
    }),
    queueConsumers: new Gauge({
      name: 'api_consumer_queue_consumers',
      help: 'Active consumers of the ordered queue as the broker counts them (single active consumer: 1; waiting replicas are not counted)',
      registers: [registry],
    }),
    deadLetterQueueDepth: new Gauge({
      name: 'api_dead_letter_queue_messages',
      help: 'Messages waiting in the dead-letter queue',
      registers: [registry],
    }),
    lastEventTime: new Gauge({
      name: 'api_consumer_last_event_timestamp_seconds',
      help: 'When this instance last applied an event (0 before the first)',
      registers: [registry],
    }),
    statsRefreshes: new Counter({
      name: 'api_stats_cache_refreshes_total',
      help: 'Reads of the statistics from the database for the /v1/stats cache',
      registers: [registry],
    }),
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
