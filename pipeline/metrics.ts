import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The pipeline's Prometheus metrics, on their own registry. */
export function createPipelineMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requestsByState: new Gauge({
      name: 'pipeline_unbonding_requests',
      help: 'Unbonding requests in the store by state',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    attempts: new Counter({
      name: 'pipeline_attempts_total',
      help: 'Processing attempts by resulting state and reason code',
      labelNames: ['state', 'code'] as const,
      registers: [registry],
    }),
    timeToQuorum: new Histogram({
      name: 'pipeline_time_to_quorum_seconds',
      help: 'From asking the signers to holding a quorum of valid signatures',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    signerLatency: new Histogram({
      name: 'pipeline_signer_latency_seconds',
      help: 'Round trip to each signer, by signer',
      labelNames: ['signer'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    signerResults: new Counter({
      name: 'pipeline_signer_results_total',
      help: 'Signer answers by signer and result (ok or the PIPELINE_SIGNER_… code)',
      labelNames: ['signer', 'result'] as const,
      registers: [registry],
    }),
    oldestDueAge: new Gauge({
      name: 'pipeline_oldest_unsent_request_age_seconds',
      help: 'Age of the oldest request not yet sent (pending, failed or no_quorum); 0 when none waits',
      registers: [registry],
    }),
    databaseUp: new Gauge({
      name: 'pipeline_database_up',
      help: '1 when the last database round trip succeeded',
      registers: [registry],
    }),
    lastRun: new Gauge({
      name: 'pipeline_last_run_timestamp_seconds',
      help: 'When the worker last finished a round',
      registers: [registry],
    }),
  };
}

export type PipelineMetrics = ReturnType<typeof createPipelineMetrics>;
