// Why a node drains, as the agent's metrics show it: the drain_reason gauge follows the reason recorded on
// the Node, and drains_started_total counts a Node write that records a new reason (a drain begun, or
// taken over by a more compelling reason), never a write within the same drain.
// And the agent's bookkeeping: what its parts' callbacks count (MetricRecorder), and where its metrics
// read at scrape time (agentMetricSources), before and after the parts are started.
import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { drainRecordAnnotations, type DrainReason, type DrainRecord } from '../../shared/drain-contract.js';
import type { KubeObjectLike } from '../../shared/kube-object.js';
import { KubeApiError } from '../../shared/kube-error.js';
import {
  MetricRecorder,
  agentMetricSources,
  createReconcilerMetrics,
  drainReasonOf,
  drainStartedBy,
  type MetricSources,
} from '../../reconciler/metrics.js';
import type { AgentParts } from '../../reconciler/parts.js';

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

const noCounts: ReturnType<MetricSources['counts']> = {
  statusMessages: {},
  fallbackCalls: 0,
  fallbackErrors: 0,
  healthReports: 0,
  healthReportFailures: 0,
  kubeRequests: {},
  watchRequests: {},
};

describe('MetricRecorder', () => {
  const setup = () => {
    const registry = new Registry();
    const metrics = createReconcilerMetrics(registry, {
      now: () => 0,
      phase: () => undefined,
      phaseSince: () => undefined,
      status: () => undefined,
      counts: () => noCounts,
    });
    const okActions: Record<string, number> = {};
    return { text: () => registry.metrics(), okActions, record: new MetricRecorder(metrics, okActions) };
  };

  it('counts actions by result, and only successful ones in the stats', async () => {
    const { text, okActions, record } = setup();
    record.action('cordon', 'ok');
    record.action('fence', 'ok', 3);
    record.action('fence', 'changed');
    record.action('taint', 'failed');
    expect(okActions).toEqual({ cordon: 1, fence: 3 });
    const t = await text();
    expect(t).toContain('fleetiq_reconciler_actions_total{action="fence",result="ok"} 3');
    expect(t).toContain('fleetiq_reconciler_actions_total{action="fence",result="changed"} 1');
    expect(t).toContain('fleetiq_reconciler_actions_total{action="taint",result="failed"} 1');
  });

  it('labels failed calls with the HTTP status or the error name, and a failed Event as an API error', async () => {
    const { text, okActions, record } = setup();
    record.kubeError('patchNode', new KubeApiError('patchNode', 409, 'Conflict', 'changed'));
    record.kubeError('listPods', new Error('socket hang up'));
    record.fleetiqError('registerGameServer', Object.assign(new Error('x'), { name: 'NotFoundException' }));
    record.membershipStep(
      { kind: 'markUtilized' },
      Object.assign(new Error('y'), { name: 'ThrottlingException' }),
    );
    record.membershipStep({ kind: 'register' });
    record.event('Warning', 'DrainStepFailed', false);
    record.event('Normal', 'Draining', true);
    expect(okActions).toEqual({ register: 1 });
    const t = await text();
    for (const line of [
      'api_errors_total{api="kubernetes",operation="patchNode",code="409"} 1',
      'api_errors_total{api="kubernetes",operation="listPods",code="error"} 1',
      'api_errors_total{api="fleetiq",operation="registerGameServer",code="NotFoundException"} 1',
      'api_errors_total{api="fleetiq",operation="markUtilized",code="ThrottlingException"} 1',
      'actions_total{action="markUtilized",result="failed"} 1',
      'actions_total{action="register",result="ok"} 1',
      'api_errors_total{api="kubernetes",operation="createEvent",code="error"} 1',
      'events_total{type="Warning",reason="DrainStepFailed",result="failed"} 1',
      'events_total{type="Normal",reason="Draining",result="ok"} 1',
    ])
      expect(t).toContain(`fleetiq_reconciler_${line}`);
  });

  it('counts a drain begun on the Node write that records it, not on progress within it', async () => {
    const { text, record } = setup();
    record.nodeWritten(node(null), node(rec('Cordoned', 'fleetiq')));
    record.nodeWritten(node(rec('Cordoned', 'fleetiq')), node(rec('Fenced', 'fleetiq')));
    expect(await text()).toContain('fleetiq_reconciler_drains_started_total{reason="fleetiq"} 1');
  });
});

describe('agentMetricSources', () => {
  it('reads nothing from parts not started yet, then their counts and the Spot notice monitor', () => {
    const started: { parts?: AgentParts } = {};
    const kubeRequests: Record<string, number> = { patchNode: 2 };
    const sources = agentMetricSources({
      now: () => 100_000,
      statusStaleAfterMs: 60_000,
      phase: () => ({ phase: 'Cordoned', since: 90_000 }),
      observer: {
        node: () => node(rec('Cordoned', 'request')),
        effectiveStatus: () => ({ status: 'DRAINING', observedAt: 30_000, source: 'redis' }),
        informerStats: () => ({ pods: { lists: 1, watches: 4 } }),
      },
      parts: () => started.parts,
      kubeRequests,
      ready: () => false,
    });
    expect(sources.phase()).toBe('Cordoned');
    expect(sources.phaseSince()).toBe(90_000);
    expect(sources.reason?.()).toBe('request');
    // Observed 70 s ago with 60 s allowed: stale.
    expect(sources.status()).toEqual({
      status: 'DRAINING',
      observedAt: 30_000,
      source: 'redis',
      fresh: false,
    });
    expect(sources.ready?.()).toBe(false);
    expect(sources.spotNotice?.()).toBeUndefined();
    expect(sources.counts()).toEqual({
      ...noCounts,
      kubeRequests: { patchNode: 2 },
      watchRequests: { pods: { lists: 1, watches: 4 } },
    });

    started.parts = {
      statusSource: {
        stats: {
          accepted: 5,
          outOfOrder: 1,
          rejected: { signature: 2 },
          legacy: 0,
          fallbackCalls: 3,
          fallbackErrors: 1,
        },
      },
      membership: { stats: { healthReports: 7, healthReportFailures: 2 } },
      spotNotice: {
        current: () => ({}),
        currentRebalance: () => undefined,
        stats: { polls: { none: 4, notice: 1 }, rebalancePolls: { none: 5 } },
      },
    } as unknown as AgentParts;
    kubeRequests.patchNode = 3;
    expect(sources.spotNotice?.()).toEqual({
      present: true,
      polls: { none: 4, notice: 1 },
      rebalancePresent: false,
      rebalancePolls: { none: 5 },
    });
    expect(sources.counts()).toMatchObject({
      statusMessages: { accepted: 5, out_of_order: 1, 'rejected: signature': 2 },
      fallbackCalls: 3,
      fallbackErrors: 1,
      healthReports: 7,
      healthReportFailures: 2,
      kubeRequests: { patchNode: 3 },
    });
  });
});
