// The monitoring overlay: PodMonitors that scrape each component's ops port, and a Grafana dashboard
// whose every query is valid PromQL (Prometheus' own grammar) over metrics the components export.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parser } from '@prometheus-io/lezer-promql';
import { Registry } from 'prom-client';
import { createPubsubMetrics } from '../../pubsub/metrics.js';
import { createReconcilerMetrics } from '../../reconciler/metrics.js';
import { createWebhookMetrics } from '../../webhook/metrics.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { podTemplates, selects } from './inspect.js';
import { findObject, renderOverlay } from './render.js';

/** The metrics the components register, read from their own metric factories on a fresh registry. */
function metricsDefinedInCode(): Set<string> {
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
function selectedMetrics(expr: string): string[] {
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
const baseName = (series: string, defined: Set<string>) => {
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m && defined.has(m[1]!) ? m[1]! : series;
};

let objects: KubeObject[];
let dashboard: any;
beforeAll(async () => {
  objects = await renderOverlay('monitoring');
  const cm = findObject(objects, 'ConfigMap', 'fleetiq-agones-dashboard');
  dashboard = JSON.parse(cm.data['fleetiq-agones.json']);
});

describe('PodMonitors', () => {
  it.each(['pubsub', 'webhook', 'reconciler'])('scrape the %s pods on their ops port', (component) => {
    const monitor = findObject(objects, 'PodMonitor', `fleetiq-agones-${component}`);
    const scraped = podTemplates(objects).filter((t) => selects(monitor.spec.selector, t.labels));
    expect(scraped.map((t) => t.labels['app.kubernetes.io/component'])).toEqual([component]);
    const ports = scraped[0]!.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.name));
    for (const endpoint of monitor.spec.podMetricsEndpoints) {
      expect(ports).toContain(endpoint.port);
      expect(endpoint.path).toBe('/metrics');
    }
    // The dashboard groups the node agents' series by node.
    expect(monitor.spec.podMetricsEndpoints[0].relabelings).toContainEqual({
      sourceLabels: ['__meta_kubernetes_pod_node_name'],
      targetLabel: 'node',
    });
  });
});

describe('Grafana dashboard', () => {
  it('is a ConfigMap the Grafana sidecar picks up, with a stable uid and a Prometheus data source variable', () => {
    const cm = findObject(objects, 'ConfigMap', 'fleetiq-agones-dashboard');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    expect(dashboard.uid).toBe('fleetiq-agones');
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
  });

  it('lays out its panels without overlap, each querying through the data source variable', () => {
    const cells = new Set<string>();
    const ids = new Set<number>();
    for (const p of dashboard.panels) {
      expect(ids.has(p.id)).toBe(false);
      ids.add(p.id);
      const { x, y, w, h } = p.gridPos;
      expect(x + w).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          expect({ panel: p.title, cell: `${i},${j}`, free: !cells.has(`${i},${j}`) }).toEqual({
            panel: p.title,
            cell: `${i},${j}`,
            free: true,
          });
          cells.add(`${i},${j}`);
        }
      if (p.type !== 'row') {
        expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets.length).toBeGreaterThan(0);
      }
    }
  });

  it('shows drains by phase, sessions awaited, status age, webhook latency and errors, and pubsub poll health', () => {
    const queried = new Set(
      dashboard.panels.flatMap((p: any) => (p.targets ?? []).flatMap((t: any) => selectedMetrics(t.expr))),
    );
    for (const metric of [
      'fleetiq_reconciler_drain_phase',
      'fleetiq_reconciler_sessions',
      'fleetiq_reconciler_status_age_seconds',
      'fleetiq_webhook_admission_duration_seconds_bucket',
      'fleetiq_webhook_pod_patch_errors_total',
      'fleetiq_pubsub_seconds_since_last_successful_poll',
      'fleetiq_pubsub_polls_total',
      'fleetiq_pubsub_errors_total',
    ])
      expect(queried).toContain(metric);
  });

  it('queries only valid PromQL over metrics the components define', () => {
    const defined = metricsDefinedInCode();
    expect(defined).toContain('fleetiq_webhook_admission_duration_seconds');
    expect(defined).toContain('fleetiq_pubsub_polls_total');
    expect(defined).toContain('fleetiq_reconciler_drain_phase');
    let queries = 0;
    for (const p of dashboard.panels) {
      for (const t of p.targets ?? []) {
        queries++;
        for (const series of selectedMetrics(t.expr)) {
          const metric = baseName(series, defined);
          expect({
            panel: p.title,
            metric,
            known: defined.has(metric),
          }).toEqual({
            panel: p.title,
            metric,
            known: true,
          });
        }
      }
    }
    expect(queries).toBeGreaterThan(10);
    expect(() => selectedMetrics('sum(rate(fleetiq_pubsub_polls_total[5m])')).toThrow(/syntax error/);
  });
});
