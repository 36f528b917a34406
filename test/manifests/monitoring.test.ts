// The monitoring overlay: PodMonitors that scrape each component's ops port, and a Grafana dashboard
// whose every query is valid PromQL (Prometheus' own grammar) over metrics the components export.
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { podTemplates, selects } from './inspect.js';
import { baseName, metricsDefinedInCode, selectedMetrics } from './promql.js';
import { findObject, renderOverlay } from './render.js';

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

  it('has cluster and namespace variables, and every query is filtered by both', () => {
    const vars = dashboard.templating.list;
    for (const name of ['cluster', 'namespace']) {
      const v = vars.find((x: any) => x.name === name);
      expect(v).toMatchObject({ type: 'query', datasource: { uid: '${datasource}' }, includeAll: true });
      // "All" must also match series without the label (a Prometheus that adds no cluster label).
      expect(v.allValue).toBe('.*');
    }
    let selectors = 0;
    for (const p of dashboard.panels)
      for (const t of p.targets ?? [])
        for (const m of t.expr.matchAll(/\b(fleetiq_[a-z_]+)(\{[^}]*\})?/g)) {
          selectors++;
          expect({ expr: t.expr, metric: m[1], matchers: m[2] ?? '' }).toEqual({
            expr: t.expr,
            metric: m[1],
            matchers: expect.stringContaining('cluster=~"$cluster", namespace=~"$namespace"'),
          });
        }
    expect(selectors).toBeGreaterThan(20);
  });

  it('and no object of the component guesses which Prometheus selects it (no release label)', () => {
    const own = objects.filter(
      (o) =>
        ['PodMonitor', 'PrometheusRule'].includes(o.kind) ||
        (o.kind === 'ConfigMap' && o.metadata.name === 'fleetiq-agones-dashboard'),
    );
    expect(own.length).toBe(5);
    for (const o of own)
      expect({ object: `${o.kind}/${o.metadata.name}`, release: o.metadata.labels?.release }).toEqual({
        object: `${o.kind}/${o.metadata.name}`,
        release: undefined,
      });
    expect(JSON.stringify(dashboard)).not.toContain('kube-prometheus-stack');
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
