// PromQL helpers of the monitoring tests: which metrics the components define (read from their own
// metric factories) and which metrics an expression selects (parsed with Prometheus' own grammar).
import { parser } from '@prometheus-io/lezer-promql';
import { Registry } from 'prom-client';
import { createPubsubMetrics } from '../../pubsub/metrics.js';
import { createReconcilerMetrics } from '../../reconciler/metrics.js';
import { createWebhookMetrics } from '../../webhook/metrics.js';

/** The metrics the components register, read from their own metric factories on a fresh registry. */
export function metricsDefinedInCode(): Set<string> {
  const registry = new Registry();
  createPubsubMetrics(registry);
  createWebhookMetrics(registry);
  createReconcilerMetrics(registry, {
    // Only read at scrape time, which this never does.
    now: () => 0,
    phase: () => undefined,
    phaseSince: () => undefined,
    status: () => undefined,
    counts: () => {
      throw new Error('not scraped');
    },
  });
  return new Set(registry.getMetricsAsArray().map((m) => m.name));
}

/** The metric names a PromQL expression selects; throws on a syntax error. */
export function selectedMetrics(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  const errors: number[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector')
        names.push(expr.slice(node.from, node.to));
    },
  });
  if (errors.length > 0) throw new Error(`PromQL syntax error at ${errors[0]} in: ${expr}`);
  return names;
}

/** A histogram's series (_bucket, _sum, _count) belong to the metric prom-client names. */
export const baseName = (series: string, defined: Set<string>) => {
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m && defined.has(m[1]!) ? m[1]! : series;
};
