import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How an admission request ended (the `outcome` label of the latency histogram). */
export type AdmissionOutcome =
  | 'skipped'
  | 'not_stored'
  | 'tolerated'
  | 'already_tolerating'
  | 'fenced'
  | 'failed_allowed'
  | 'failed_denied'
  | 'bad_request'
  | 'internal_error';

export interface WebhookMetrics {
  admissionSeconds: Histogram<'outcome'>;
  ownSeconds: Histogram<'outcome'>;
  decisions: Counter<'decision' | 'reason'>;
  podPatchErrors: Counter<'reason'>;
  eventErrors: Counter;
  certificateReloads: Counter<'result'>;
  certificateNotAfter: Gauge;
  nodeWatchRestarts: Counter<'reason'>;
  fencedNodes: Gauge;
  connections: Gauge;
  connectionsRefused: Counter;
}

export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const registers = [registry];
  return {
    // Seconds, as Prometheus expects: the buckets span a sub-millisecond skip to a pod update at its budget.
    admissionSeconds: new Histogram({
      name: 'fleetiq_webhook_admission_duration_seconds',
      help: 'Time from a complete AdmissionReview body to the answer, by outcome',
      labelNames: ['outcome'],
      buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers,
    }),
    // The admission time minus the time spent waiting on the Kubernetes API: the webhook's own share.
    ownSeconds: new Histogram({
      name: 'fleetiq_webhook_admission_own_duration_seconds',
      help: 'Admission time not spent waiting on the Kubernetes API, by outcome (transitions only)',
      labelNames: ['outcome'],
      buckets: [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    }),
    decisions: new Counter({
      name: 'fleetiq_webhook_decisions_total',
      help: 'Admission decisions: decision=allow|deny, reason=why',
      labelNames: ['decision', 'reason'],
      registers,
    }),
    podPatchErrors: new Counter({
      name: 'fleetiq_webhook_pod_patch_errors_total',
      help: 'Transitions whose pod could not be made to tolerate the drain taint, by reason',
      labelNames: ['reason'],
      registers,
    }),
    eventErrors: new Counter({
      name: 'fleetiq_webhook_event_errors_total',
      help: 'Kubernetes Events that could not be recorded',
      registers,
    }),
    certificateReloads: new Counter({
      name: 'fleetiq_webhook_certificate_reloads_total',
      help: 'Serving certificate loads, result=loaded|unchanged|error',
      labelNames: ['result'],
      registers,
    }),
    certificateNotAfter: new Gauge({
      name: 'fleetiq_webhook_certificate_not_after_timestamp_seconds',
      help: 'Expiry (Unix time) of the serving certificate in use',
      registers,
    }),
    nodeWatchRestarts: new Counter({
      name: 'fleetiq_webhook_node_watch_restarts_total',
      help: 'Starts of the node status list+watch, by reason',
      labelNames: ['reason'],
      registers,
    }),
    fencedNodes: new Gauge({
      name: 'fleetiq_webhook_fenced_nodes',
      help: 'Nodes the fence refuses allocations on (DRAINING/SPOT_TERMINATING), as the node status watch sees them',
      registers,
    }),
    connections: new Gauge({
      name: 'fleetiq_webhook_connections',
      help: 'Open connections to the admission port (at most --max-connections)',
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'fleetiq_webhook_connections_refused_total',
      help: 'Connections closed at once because --max-connections were already open',
      registers,
    }),
  };
}
