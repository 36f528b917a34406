// Why a node drains, as the agent's metrics show it: the drain_reason gauge follows the reason recorded on
// the Node, and drains_started_total counts a Node write that records a new reason (a drain begun, or
// taken over by a more compelling reason), never a write within the same drain.
import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { drainRecordAnnotations, type DrainReason, type DrainRecord } from '../../shared/drain-contract.js';
import type { KubeObjectLike } from '../../shared/kube-object.js';
import { createReconcilerMetrics, drainReasonOf, drainStartedBy } from '../../reconciler/metrics.js';

function node(record: DrainRecord | null): KubeObjectLike {
  const annotations = Object.fromEntries(
    Object.entries(drainRecordAnnotations(record)).filter((e): e is [string, string] => e[1] !== null),
  );
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n', annotations } };
}
const rec = (phase: DrainRecord['phase'], reason: DrainReason): DrainRecord => ({
  phase,
  reason,
  startedAt: 0,
  cordonedByAgent: true,
});

describe('drainStartedBy', () => {
  it('names the reason a write records anew, and nothing for progress within the same drain or a revert', () => {
    expect(drainStartedBy(node(null), node(rec('Cordoned', 'request')))).toBe('request');
    expect(drainStartedBy(node(rec('Tainted', 'request')), node(rec('Tainted', 'fleetiq')))).toBe('fleetiq');
    expect(drainStartedBy(node(rec('Tainted', 'fleetiq')), node(rec('SpotEvicting', 'spot')))).toBe('spot');
    expect(drainStartedBy(node(rec('Cordoned', 'request')), node(rec('Fenced', 'request')))).toBeUndefined();
    expect(drainStartedBy(node(rec('Drained', 'request')), node(null))).toBeUndefined();
    expect(drainStartedBy(node(null), node(null))).toBeUndefined();
  });

  it("reads an older agent's record without a reason as what it drained for", () => {
    const old = node(rec('Tainted', 'fleetiq'));
    delete old.metadata.annotations!['gamelift.status/drain-reason'];
    expect(drainReasonOf(old)).toBe('fleetiq');
    expect(drainStartedBy(old, node(rec('Tainted', 'fleetiq')))).toBeUndefined();
  });
});

describe('fleetiq_reconciler_drain_reason', () => {
  it('is 1 for the recorded reason only, and 0 for every reason without a drain', async () => {
    let current: DrainReason | undefined = 'request';
    const registry = new Registry();
    const metrics = createReconcilerMetrics(registry, {
      now: () => 0,
      phase: () => 'Tainted',
      phaseSince: () => 0,
      reason: () => current,
      status: () => undefined,
      counts: () => ({
        statusMessages: {},
        fallbackCalls: 0,
        fallbackErrors: 0,
        healthReports: 0,
        healthReportFailures: 0,
        kubeRequests: {},
        watchRequests: {},
      }),
    });
    const text = () => registry.metrics();
    expect(await text()).toContain('fleetiq_reconciler_drain_reason{reason="request"} 1');
    expect(await text()).toContain('fleetiq_reconciler_drain_reason{reason="fleetiq"} 0');
    current = undefined;
    const idle = await text();
    for (const r of ['spot', 'fleetiq', 'request', 'rebalance'])
      expect(idle).toContain(`fleetiq_reconciler_drain_reason{reason="${r}"} 0`);
    metrics.drainsStarted.inc({ reason: 'request' });
    expect(await text()).toContain('fleetiq_reconciler_drains_started_total{reason="request"} 1');
  });
});
