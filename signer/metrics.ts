import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The signer's Prometheus metrics, on their own registry (tests build several signers per process). */
export function createSignerMetrics(custodyKind: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ custody: custodyKind });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'signer_requests_total',
      help: 'Requests by outcome (signed, repeated, refused, error) and reason code; refusals of every route count',
      labelNames: ['outcome', 'code'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'signer_request_duration_seconds',
      help: 'Time from request to answer, by outcome',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    custodyDuration: new Histogram({
      name: 'signer_custody_duration_seconds',
      help: 'Time the custody backend took to sign',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    custodyErrors: new Counter({
      name: 'signer_custody_errors_total',
      help: 'Custody backend failures',
      registers: [registry],
    }),
    paramsVersions: new Gauge({
      name: 'signer_params_versions',
      help: 'Number of loaded params versions',
      registers: [registry],
    }),
    paramsInfo: new Gauge({
      name: 'signer_params_info',
      help: 'The loaded params file (1 for the current sha256)',
      labelNames: ['sha256', 'last_version'] as const,
      registers: [registry],
    }),
    paramsReloads: new Counter({
      name: 'signer_params_reloads_total',
      help: 'Params reloads by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    tlsRefusals: new Counter({
      name: 'signer_tls_refusals_total',
      help: 'TLS peers refused before any HTTP, by reason (handshake_failed, no_certificate, untrusted_certificate, not_on_allow_list)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    logLinesSuppressed: new Counter({
      name: 'signer_log_lines_suppressed_total',
      help: 'Refusal log lines not written one by one (over the log limit), by kind (tls, rate_limited)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    bitcoindTip: new Gauge({
      name: 'signer_bitcoind_tip_height',
      help: 'Tip height of the signer’s node at the last check (each scrape and each /readyz; kept when the node does not answer in time)',
      registers: [registry],
    }),
    auditAnchorFailures: new Counter({
      name: 'signer_audit_anchor_failures_total',
      help: 'Audit records that could not be MACed, written, synced or anchored in custody, and appends refused after such a failure (the signer then signs nothing)',
      registers: [registry],
    }),
    auditWritable: new Gauge({
      name: 'signer_audit_writable',
      help: '1 while the audit log can be written and anchored, 0 once it cannot (the signer signs nothing more until restarted)',
      registers: [registry],
    }),
    // The reference signer's three counters, so its dashboards and alerts keep working.
    received: new Counter({
      name: 'signer_received_signing_requests',
      help: 'Requests that parsed (reference metric)',
      registers: [registry],
    }),
    succeeded: new Counter({
      name: 'signer_succeeded_signing_requests',
      help: 'Signatures returned (reference metric)',
      registers: [registry],
    }),
    failed: new Counter({
      name: 'signer_failed_signing_requests',
      help: 'Requests not signed (reference metric)',
      registers: [registry],
    }),
  };
}

export type SignerMetrics = ReturnType<typeof createSignerMetrics>;

/**
 * Refreshes the tip gauge for a scrape, so SignerNodeBehind does not depend on someone polling
 * /readyz. Bounded: a node that does not answer within `timeoutMs` leaves the last value, which
 * then stops moving and shows as behind; the scrape is never held longer. Concurrent scrapes share
 * one RPC in flight instead of piling them onto a slow node.
 */
export function tipRefresher(
  gauge: SignerMetrics['bitcoindTip'],
  getTip: () => Promise<number>,
  timeoutMs: number,
): () => Promise<void> {
  let inFlight: Promise<void> | undefined;
  return async () => {
    inFlight ??= getTip()
      .then(
        (tip) => gauge.set(tip),
        () => undefined,
      )
      .finally(() => {
        inFlight = undefined;
      });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      inFlight,
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  };
}
