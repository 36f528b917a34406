// What the sandbox observes and reports, from made-up observations: drains counted once each, the
// reaction from a FleetIQ status change to the taint, Spot-notice accounting, and the rendered
// outputs (live view frame, plain line, SVG timeline).
import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import type { SessionRecord } from '../../../sandbox/cluster/sessions.js';
import { SandboxRecorder, instanceIdOf, percentile, type NodeTrack } from '../../../sandbox/run/metrics.js';
import {
  formatClock,
  formatSummary,
  headline,
  productionReactionMs,
  reactionSummary,
  sessionOutcomes,
  type SandboxReport,
} from '../../../sandbox/run/report.js';
import { componentOfAuthorization } from '../../../sandbox/run/gamelift-meter.js';
import {
  MIN_PHASE_PX,
  niceMax,
  orderTracks,
  renderTimelineSvg,
  tickStep,
} from '../../../sandbox/run/timeline-svg.js';
import { formatLogLine, orderNodes, renderFrame } from '../../../sandbox/run/ui.js';
import type { SandboxView } from '../../../sandbox/run/sandbox.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ID = 'i-0123456789abcdef0';

function node(phase?: string, o: { tainted?: boolean; label?: string; cordoned?: boolean } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'ip-10-0-0-4.ec2.internal',
      labels: o.label ? { 'gamelift.status/instance-status': o.label } : {},
      annotations: phase ? { 'gamelift.status/drain-phase': phase } : {},
    },
    spec: {
      providerID: `aws:///us-east-1a/${ID}`,
      ...(o.cordoned ? { unschedulable: true } : {}),
      ...(o.tainted
        ? { taints: [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' }] }
        : {}),
    },
  };
}

describe('SandboxRecorder', () => {
  it('follows a drain to deregistration: one drain, one reaction, phases as segments', () => {
    const r = new SandboxRecorder();
    r.nodeObserved('ADDED', node(), T0, 1000);
    r.statusChanged(ID, 'ACTIVE', 'DRAINING', T0 + 10_000, 2000);
    r.nodeObserved('MODIFIED', node('Cordoned', { label: 'DRAINING', cordoned: true }), T0 + 11_000, 2300);
    r.nodeObserved('MODIFIED', node('Fenced', { label: 'DRAINING', cordoned: true }), T0 + 12_000, 2400);
    r.nodeObserved(
      'MODIFIED',
      node('Tainted', { label: 'DRAINING', cordoned: true, tainted: true }),
      T0 + 13_000,
      2750,
    );
    // The same phase observed again changes nothing.
    r.nodeObserved(
      'MODIFIED',
      node('Tainted', { label: 'DRAINING', cordoned: true, tainted: true }),
      T0 + 14_000,
      2800,
    );
    r.nodeObserved(
      'MODIFIED',
      node('Deregistered', { label: 'DRAINING', cordoned: true, tainted: true }),
      T0 + 60_000,
      9000,
    );
    r.instanceTerminated(ID, 'ip-10-0-0-4.ec2.internal', 'drained', T0 + 70_000);
    r.nodeObserved('DELETED', node('Deregistered'), T0 + 71_000, 9500);

    expect(r.drains).toEqual({ started: 1, deregistered: 1, reverted: 0, spotEvictions: 0 });
    expect(r.reactions).toEqual([{ instanceId: ID, status: 'DRAINING', ms: 750 }]);
    expect(r.instancesTerminated).toBe(1);
    const t = r.nodes.get('ip-10-0-0-4.ec2.internal')!;
    expect(t.segments.map((s) => [s.phase, s.from - T0, s.to! - T0])).toEqual([
      ['Active', 0, 11_000],
      ['Cordoned', 11_000, 12_000],
      ['Fenced', 12_000, 13_000],
      ['Tainted', 13_000, 60_000],
      ['Deregistered', 60_000, 71_000],
    ]);
    expect(t.leftAt).toBe(T0 + 71_000);
    expect(t.marks).toEqual([{ at: T0 + 10_000, status: 'DRAINING' }]);
    expect(r.terminatedAt.get('ip-10-0-0-4.ec2.internal')).toBe(T0 + 70_000);
  });

  it('counts a revert, and no reaction for a status withdrawn before the taint', () => {
    const r = new SandboxRecorder();
    r.nodeObserved('ADDED', node(), T0, 0);
    r.statusChanged(ID, 'ACTIVE', 'DRAINING', T0 + 1000, 100);
    r.statusChanged(ID, 'DRAINING', 'ACTIVE', T0 + 2000, 200);
    r.nodeObserved('MODIFIED', node('Cordoned', { cordoned: true }), T0 + 2500, 250);
    r.nodeObserved('MODIFIED', node('Tainted', { tainted: true }), T0 + 2600, 260);
    r.nodeObserved('MODIFIED', node(undefined, { label: 'ACTIVE' }), T0 + 3000, 300);
    expect(r.drains).toEqual({ started: 1, deregistered: 0, reverted: 1, spotEvictions: 0 });
    expect(r.reactions).toEqual([]);
    expect(r.statusChanges).toEqual({ DRAINING: 1, ACTIVE: 1 });
  });

  it('does not count a second reaction for a Spot notice on a node already tainted', () => {
    const r = new SandboxRecorder();
    r.nodeObserved('ADDED', node(), T0, 0);
    r.statusChanged(ID, 'ACTIVE', 'DRAINING', T0, 0);
    r.nodeObserved('MODIFIED', node('Tainted', { tainted: true }), T0 + 1, 400);
    r.statusChanged(ID, 'DRAINING', 'SPOT_TERMINATING', T0 + 2, 500);
    r.nodeObserved('MODIFIED', node('SpotEvicting', { tainted: true }), T0 + 3, 600);
    expect(r.reactions.map((x) => x.ms)).toEqual([400]);
    expect(r.pendingReactions()).toBe(0);
    expect(r.drains).toMatchObject({ started: 1, spotEvictions: 1 });
    expect(r.spotNoticeAt.get('ip-10-0-0-4.ec2.internal')).toBe(T0 + 2);
  });

  it('gives a Spot notice that hit the instance before its node was seen to the node: what it ends is not lost', () => {
    // A replacement instance is ACTIVE in FleetIQ from launch, before its Node registers (or reaches the
    // recorder's watch), and Spot notices may hit it then. A session allocated there before the agent
    // learns of the notice, and given its graceful end by the agent's Spot eviction, was ended by AWS.
    const name = 'ip-10-0-0-4.ec2.internal';
    const r = new SandboxRecorder();
    r.instanceLaunched(ID, T0);
    r.statusChanged(ID, 'ACTIVE', 'SPOT_TERMINATING', T0 + 1000, 100);
    r.nodeObserved('ADDED', node(), T0 + 1050, 105);
    expect(r.spotNoticeAt.get(name)).toBe(T0 + 1000);
    const t = r.nodes.get(name)!;
    expect(t.fleetiqStatus).toBe('SPOT_TERMINATING');
    expect(t.marks).toEqual([{ at: T0 + 1000, status: 'SPOT_TERMINATING' }]);
    r.nodeObserved(
      'MODIFIED',
      node('SpotEvicting', { label: 'SPOT_TERMINATING', cordoned: true, tainted: true }),
      T0 + 6000,
      600,
    );
    r.instanceTerminated(ID, name, 'spot-interruption', T0 + 121_000);
    expect(r.reactions).toEqual([{ instanceId: ID, status: 'SPOT_TERMINATING', ms: 500 }]);
    const session = rec({
      id: 1,
      nodeName: name,
      allocatedAt: T0 + 2000,
      outcome: 'lost',
      lostReason: 'pod-gone',
      endedAt: T0 + 8000,
    });
    expect(sessionOutcomes([session], r)).toMatchObject({
      lost: 0,
      interruptedBySpotNotice: 1,
      endedGracefullyBySpotNotice: 1,
    });
    // Another instance's node learns nothing of it.
    const other = node();
    other.metadata.name = 'ip-10-0-0-5.ec2.internal';
    other.spec!.providerID = 'aws:///us-east-1a/i-0fedcba9876543210';
    r.nodeObserved('ADDED', other, T0 + 2000, 200);
    expect(r.spotNoticeAt.has('ip-10-0-0-5.ec2.internal')).toBe(false);
    expect(r.nodes.get('ip-10-0-0-5.ec2.internal')!.marks).toEqual([]);
  });

  it('keeps the recent events bounded', () => {
    const r = new SandboxRecorder(10);
    for (let i = 0; i < 100; i++) r.event(T0 + i, `e${i}`);
    expect(r.recent.length).toBeLessThanOrEqual(20);
    expect(r.recent.at(-1)!.text).toBe('e99');
  });

  it('reads the instance id from the providerID', () => {
    expect(instanceIdOf(node())).toBe(ID);
    expect(instanceIdOf({ apiVersion: 'v1', kind: 'Node', metadata: {}, spec: {} })).toBeUndefined();
  });
});

function rec(o: Partial<SessionRecord> & { id: number }): SessionRecord {
  return {
    namespace: 'default',
    gameServer: `gs-${o.id}`,
    allocatedAt: T0,
    outcome: 'completed',
    interruptedBySpotNotice: false,
    nodeName: 'n1',
    ...o,
  };
}

describe('sessionOutcomes', () => {
  const terminatedAt = new Map([['spot', T0 + 120_000]]);
  const spotNoticeAt = new Map([['spot', T0 + 1000]]);

  it('counts a Spot notice graceful end as interrupted, not lost; a cut by the termination as lost', () => {
    const out = sessionOutcomes(
      [
        rec({ id: 1 }),
        rec({ id: 2, outcome: 'active' }),
        rec({ id: 3, outcome: 'lost', lostReason: 'pod-gone', endedAt: T0 + 5000 }),
        // Reached by the notice (flagged) and ended by the agent's graceful deletion: interrupted.
        rec({
          id: 4,
          nodeName: 'spot',
          outcome: 'lost',
          lostReason: 'pod-gone',
          endedAt: T0 + 30_000,
          interruptedBySpotNotice: true,
        }),
        // Allocated after the notice, before the node was fenced: the notice reached it too.
        rec({
          id: 5,
          nodeName: 'spot',
          allocatedAt: T0 + 2000,
          outcome: 'lost',
          lostReason: 'gameserver-left-allocated:Unhealthy',
          endedAt: T0 + 40_000,
        }),
        // Still running when the instance went: lost.
        rec({
          id: 6,
          nodeName: 'spot',
          outcome: 'lost',
          lostReason: 'node-gone',
          endedAt: T0 + 120_000,
          interruptedBySpotNotice: true,
        }),
        rec({
          id: 7,
          nodeName: 'spot',
          outcome: 'lost',
          lostReason: 'pod-gone',
          endedAt: T0 + 120_500,
          interruptedBySpotNotice: true,
        }),
        // Ended before the notice: not reached by it.
        rec({ id: 8, nodeName: 'spot', outcome: 'completed', endedAt: T0 + 500 }),
      ],
      { terminatedAt, spotNoticeAt },
    );
    expect(out).toEqual({
      started: 8,
      completed: 2,
      active: 1,
      lost: 3,
      interruptedBySpotNotice: 4,
      endedGracefullyBySpotNotice: 2,
      lostByReason: { 'pod-gone': 2, 'node-gone': 1 },
      lostSessions: [
        {
          session: 3,
          gameServer: 'default/gs-3',
          node: 'n1',
          reason: 'pod-gone',
          allocatedAt: '2026-01-01T00:00:00.000Z',
          endedAt: '2026-01-01T00:00:05.000Z',
          spotNoticeAt: null,
          nodeTerminatedAt: null,
        },
        {
          session: 6,
          gameServer: 'default/gs-6',
          node: 'spot',
          reason: 'node-gone',
          allocatedAt: '2026-01-01T00:00:00.000Z',
          endedAt: '2026-01-01T00:02:00.000Z',
          spotNoticeAt: '2026-01-01T00:00:01.000Z',
          nodeTerminatedAt: '2026-01-01T00:02:00.000Z',
        },
        {
          session: 7,
          gameServer: 'default/gs-7',
          node: 'spot',
          reason: 'pod-gone',
          allocatedAt: '2026-01-01T00:00:00.000Z',
          endedAt: '2026-01-01T00:02:00.500Z',
          spotNoticeAt: '2026-01-01T00:00:01.000Z',
          nodeTerminatedAt: '2026-01-01T00:02:00.000Z',
        },
      ],
    });
  });
});

describe('report figures', () => {
  it('summarises reactions per status', () => {
    const r = reactionSummary([
      { instanceId: 'a', status: 'DRAINING', ms: 100 },
      { instanceId: 'b', status: 'DRAINING', ms: 300 },
      { instanceId: 'c', status: 'SPOT_TERMINATING', ms: 200.4 },
    ]);
    expect(r).toEqual({
      count: 3,
      p50: 200,
      p99: 300,
      max: 300,
      byStatus: {
        DRAINING: { count: 2, p50: 100, max: 300 },
        SPOT_TERMINATING: { count: 1, p50: 200, max: 200 },
      },
    });
    expect(reactionSummary([])).toEqual({ count: 0, p50: null, p99: null, max: null, byStatus: {} });
  });

  it('puts each reaction in production terms: its wait for the next poll scales with the poll interval', () => {
    // 800 ms in all, 300 of them waiting for pubsub's 1 s poll: with a 10 s poll that wait is 3 s.
    expect(productionReactionMs({ ms: 800, pollWaitMs: 300 }, 1)).toBe(3500);
    // No poll seen in between: half an interval is assumed.
    expect(productionReactionMs({ ms: 800 }, 1)).toBe(800 + 500 * 9);
    // Already at production's interval: unchanged.
    expect(productionReactionMs({ ms: 800, pollWaitMs: 300 }, 10)).toBe(800);
    const r = reactionSummary(
      [
        { instanceId: 'a', status: 'DRAINING', ms: 800, pollWaitMs: 300 },
        { instanceId: 'b', status: 'DRAINING', ms: 1000, pollWaitMs: 900 },
      ],
      1,
    );
    expect(r.p50).toBe(800);
    expect(r.production).toEqual({ pollSeconds: 10, sandboxPollSeconds: 1, p50: 3500, p99: 9100, max: 9100 });
  });

  it("records the wait for pubsub's poll in each reaction", () => {
    const r = new SandboxRecorder();
    r.nodeObserved('ADDED', node(), T0, 1000);
    r.pollObserved(1500); // before the change: cannot have seen it
    r.statusChanged(ID, 'ACTIVE', 'DRAINING', T0 + 10_000, 2000);
    r.pollObserved(2300);
    r.pollObserved(2600);
    r.nodeObserved('MODIFIED', node('Tainted', { tainted: true, cordoned: true }), T0 + 11_000, 2800);
    expect(r.reactions).toEqual([{ instanceId: ID, status: 'DRAINING', ms: 800, pollWaitMs: 300 }]);
  });

  it('takes nearest-rank percentiles', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([], 50)).toBeUndefined();
  });

  it('formats clocks', () => {
    expect(formatClock(0)).toBe('0s');
    expect(formatClock(95_000)).toBe('1m35s');
    expect(formatClock(3_725_000)).toBe('1h02m05s');
  });

  it('knows each component by its access key id', () => {
    const h = (key: string) =>
      `AWS4-HMAC-SHA256 Credential=${key}/20260101/us-east-1/gamelift/aws4_request, SignedHeaders=host, Signature=abc`;
    expect(componentOfAuthorization(h('AKIDSANDBOXPUBSUB'))).toBe('pubsub');
    expect(componentOfAuthorization(h('AKIDSANDBOXRECONCILER'))).toBe('reconciler');
    expect(componentOfAuthorization(h('AKIDEXAMPLE'))).toBeUndefined();
    expect(componentOfAuthorization(undefined)).toBeUndefined();
  });

  it('says LOST in the summary when a session was lost', () => {
    const report = {
      sessions: {
        started: 10,
        completed: 8,
        active: 0,
        lost: 2,
        interruptedBySpotNotice: 0,
        endedGracefullyBySpotNotice: 0,
        lostByReason: { 'node-gone': 2 },
        lostSessions: [],
      },
      allocations: { succeeded: 10, failed: 0, unallocated: 1 },
      drains: { started: 2, deregistered: 2, reverted: 0, spotEvictions: 1 },
      instances: { initial: 3, terminated: 2, launched: 2, final: 3 },
      reactionMs: { count: 2, p50: 800, p99: 12_000, max: 12_000, byStatus: {} },
      apiCalls: {
        kubernetes: { reconciler: { total: 5, errors: 0, byRequest: {} } },
        gamelift: {},
        gameliftByOperation: {},
        webhookAdmissions: { calls: 3, failures: 0, outcomes: {} },
      },
      fleetiq: { statusChanges: {}, spotMarketHits: 0 },
      run: {
        options: {},
        simulatedSeconds: 60,
        realSeconds: 6,
        speed: 10,
        nodesAtEnd: 3,
        process: { cpuSeconds: 1, cpuPercent: 16, maxRssMiB: 300, heapUsedMiB: 100 },
        logFile: 'x.log',
      },
    } satisfies SandboxReport;
    const text = formatSummary(report, 'r.json');
    expect(text).toContain('2 LOST (node-gone: 2)');
    expect(text).toContain('p50 800 ms, p99 12.0 s');
    expect(text).toContain('Result:       2 sessions LOST.');
    expect(
      formatSummary({ ...report, sessions: { ...report.sessions, lost: 0, lostByReason: {} } }),
    ).toContain('no session lost');
  });

  it('counts the sessions Spot notices ended apart from lost ones, in the headline too', () => {
    const s = {
      started: 100,
      completed: 70,
      active: 3,
      lost: 0,
      interruptedBySpotNotice: 30,
      endedGracefullyBySpotNotice: 27,
      lostByReason: {},
      lostSessions: [],
    };
    expect(headline(s)).toBe(
      'no session lost; 27 sessions ended early by Spot notices (ended gracefully inside the 2-minute notice, counted apart).',
    );
    expect(headline({ ...s, lost: 1, endedGracefullyBySpotNotice: 1 })).toBe(
      '1 session LOST; 1 session ended early by Spot notices (ended gracefully inside the 2-minute notice, counted apart).',
    );
    expect(headline({ ...s, endedGracefullyBySpotNotice: 0 })).toBe('no session lost.');
  });
});

function view(nodes: number): SandboxView {
  return {
    phase: 'load',
    simElapsedMs: 90_000,
    durationMs: 300_000,
    settleMs: 240_000,
    realElapsedMs: 9000,
    speed: 10,
    nodes: Array.from({ length: nodes }, (_, i) => ({
      name: `ip-10-0-0-${i + 4}`,
      instanceId: `i-${String(i).padStart(17, '0')}`,
      fleetiqStatus: i === 2 ? 'DRAINING' : 'ACTIVE',
      label: i === 2 ? 'DRAINING' : 'ACTIVE',
      phase: i === 2 ? ('Tainted' as const) : ('Active' as const),
      phaseForMs: 12_000,
      allocated: i,
      ready: 8 - i,
      cordoned: i === 2,
      tainted: i === 2,
      replacement: false,
    })),
    sessions: {
      started: 30,
      active: 12,
      completed: 18,
      lost: 0,
      interruptedBySpotNotice: 4,
      endedBySpotNotice: 3,
    },
    allocations: { succeeded: 30, failed: 1, unallocated: 2 },
    drains: { started: 1, deregistered: 0, reverted: 0, spotEvictions: 0 },
    instances: { terminated: 0, launched: 0 },
    reaction: { count: 1, p50: 812, max: 812, productionP50: 5312, productionPollSeconds: 10 },
    recent: [{ at: T0 + 80_000, text: 'FleetIQ: i-2 ACTIVE → DRAINING' }],
    components: { pubsubLeader: 0, pubsubReplicas: 2, webhookReplicas: 2, agents: nodes },
    startedAt: T0,
  };
}

describe('live view', () => {
  it('draws nodes, sessions, drains and recent events within the terminal size', () => {
    const frame = renderFrame(view(6), {
      width: 120,
      height: 40,
      color: false,
      footer: ['export KUBECONFIG=x'],
    });
    const lines = frame.split('\n');
    expect(lines.length).toBeLessThanOrEqual(40);
    expect(lines.every((l) => l.length <= 120)).toBe(true);
    expect(frame).toContain('load 1m30s / 5m00s simulated');
    expect(frame).toMatch(
      /ip-10-0-0-6\s+i-0+2\s+DRAINING\s+DRAINING\s+Tainted 12s\s+2\s+6\s+cordoned tainted/,
    );
    expect(frame).toContain('started 30  held 12  completed 18  lost 0');
    // Which times are real and which simulated, and the reaction in production terms beside it.
    expect(frame).toContain(
      "Reaction     status → taint: p50 812 ms, max 812 ms (1), real time\n             with production's 10 s poll instead: p50 5.3 s",
    );
    expect(frame).toContain('1m20s sim  FleetIQ: i-2 ACTIVE → DRAINING');
    expect(frame).toContain('ended early by a Spot notice 3 (of 4 reached)');
    expect(frame).toContain('export KUBECONFIG=x');
    // The draining node comes first.
    expect(lines.findIndex((l) => l.startsWith('ip-10-0-0-6'))).toBeLessThan(
      lines.findIndex((l) => l.startsWith('ip-10-0-0-4')),
    );
  });

  it('keeps ALLOC and READY whole on an 80-column terminal, dropping optional columns instead', () => {
    const lines = renderFrame(view(6), { width: 80, height: 40, color: false }).split('\n');
    const header = lines.find((l) => l.startsWith('NODE'))!;
    expect(header).toMatch(/\bALLOC READY\b/);
    expect(header).toContain('DRAIN PHASE');
    const row = lines.find((l) => l.startsWith('ip-10-0-0-6'))!;
    expect(row).toMatch(/Tainted 12s\s+2\s+6\s*$/);
    expect(lines.every((l) => l.length <= 80)).toBe(true);
    // Room for everything at 120 columns.
    const wide = renderFrame(view(6), { width: 120, height: 40, color: false }).split('\n');
    expect(wide.find((l) => l.startsWith('NODE'))).toMatch(
      /NODE\s+INSTANCE\s+FLEETIQ\s+NODE LABEL\s+DRAIN PHASE\s+ALLOC READY/,
    );
  });

  it('summarises the nodes that do not fit', () => {
    const frame = renderFrame(view(200), { width: 100, height: 30, color: false });
    expect(frame.split('\n').length).toBeLessThanOrEqual(30);
    expect(frame).toMatch(/… \d+ more nodes \(\d+ Active\)/);
  });

  it('keeps colour codes out of the width budget', () => {
    const frame = renderFrame(
      { ...view(3), sessions: { ...view(3).sessions, lost: 2 } },
      { width: 80, height: 30, color: true },
    );
    expect(frame).toContain('\x1b[31mLOST 2\x1b[0m');
    // eslint-disable-next-line no-control-regex
    expect(frame.split('\n').every((l) => l.replace(/\x1b\[[0-9;]*m/g, '').length <= 80)).toBe(true);
  });

  it('orders draining nodes first', () => {
    expect(orderNodes(view(4).nodes).map((n) => n.name)).toEqual([
      'ip-10-0-0-6',
      'ip-10-0-0-4',
      'ip-10-0-0-5',
      'ip-10-0-0-7',
    ]);
  });

  it('has a plain line for logs', () => {
    expect(formatLogLine(view(6))).toBe(
      '[sandbox] load 1m30s/5m00s simulated | nodes 6 (draining 1, spot 0) | sessions started 30 held 12 completed 18 lost 0 | ' +
        'allocations ok 30 failed 1 | drains started 1 deregistered 0 reverted 0 | instances terminated 0 | ' +
        'reaction p50 812 ms real (5.3 s with a 10 s poll)',
    );
  });
});

describe('timeline SVG', () => {
  it('draws one bar per phase, the FleetIQ marks, terminations and the session series', () => {
    const r = new SandboxRecorder();
    r.nodeObserved('ADDED', node(), T0, 0);
    r.statusChanged(ID, 'ACTIVE', 'DRAINING', T0 + 10_000, 0);
    r.nodeObserved('MODIFIED', node('Tainted', { tainted: true }), T0 + 11_000, 0);
    r.nodeObserved('DELETED', node('Tainted'), T0 + 50_000, 0);
    r.sample({
      at: T0,
      active: 0,
      completed: 0,
      lost: 0,
      endedBySpotNotice: 0,
      allocationsSucceeded: 0,
      allocationsFailed: 0,
    });
    r.sample({
      at: T0 + 30_000,
      active: 5,
      completed: 2,
      lost: 0,
      endedBySpotNotice: 1,
      allocationsSucceeded: 7,
      allocationsFailed: 0,
    });
    const svg = renderTimelineSvg({
      title: 'run <1> & co',
      subtitle: ['a', 'b'],
      nodes: [...r.nodes.values()],
      samples: r.samples,
      startAt: T0,
      endAt: T0 + 60_000,
      loadEndAt: T0 + 40_000,
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('run &lt;1&gt; &amp; co');
    expect(svg).toContain(
      'fill="#4caf50"><title>ip-10-0-0-4.ec2.internal i-0123456789abcdef0: Active 0s–11s',
    );
    expect(svg).toContain(
      'fill="#9c27b0"><title>ip-10-0-0-4.ec2.internal i-0123456789abcdef0: Tainted 11s–50s',
    );
    expect(svg).toContain('<title>FleetIQ DRAINING at 10s</title>');
    expect(svg).toContain('<title>instance terminated</title>');
    expect(svg).toContain('load stopped');
    expect(svg.match(/<polyline /g)).toHaveLength(4);
  });

  function drained(name: string, id: string, r: SandboxRecorder, at: number) {
    const n = (phase?: string, o: { tainted?: boolean; cordoned?: boolean } = {}): KubeObject => ({
      ...node(phase, o),
      metadata: { ...node(phase, o).metadata, name },
      spec: { ...node(phase, o).spec, providerID: `aws:///us-east-1a/${id}` },
    });
    r.nodeObserved('ADDED', n(), T0, 0);
    // Cordoned and Fenced last 10 ms each: far less than a pixel of a 5-minute chart.
    r.nodeObserved('MODIFIED', n('Cordoned', { cordoned: true }), at, 0);
    r.nodeObserved('MODIFIED', n('Fenced', { cordoned: true }), at + 10, 0);
    r.nodeObserved('MODIFIED', n('Tainted', { cordoned: true, tainted: true }), at + 20, 0);
  }

  it("shows every phase, the sessions per node and the last session's end, nodes in natural order", () => {
    const r = new SandboxRecorder();
    drained('ip-10-0-0-10.ec2.internal', 'i-10', r, T0 + 60_000);
    drained('ip-10-0-0-4.ec2.internal', 'i-4', r, T0 + 90_000);
    const byNode = (ten: number, four: number) => ({
      'ip-10-0-0-10.ec2.internal': ten,
      'ip-10-0-0-4.ec2.internal': four,
    });
    const held = [
      [0, 0],
      [3, 1],
      [7, 2],
      [4, 2],
      [0, 1],
      [0, 0],
    ];
    held.forEach(([ten, four], i) =>
      r.sample({
        at: T0 + i * 50_000,
        active: ten! + four!,
        completed: i,
        lost: 0,
        endedBySpotNotice: 0,
        allocationsSucceeded: 0,
        allocationsFailed: 0,
        byNode: byNode(ten!, four!),
      }),
    );
    const svg = renderTimelineSvg({
      title: 't',
      nodes: [...r.nodes.values()],
      samples: r.samples,
      startAt: T0,
      endAt: T0 + 300_000,
    });
    // Natural order: -4 above -10.
    expect(svg.indexOf('>ip-10-0-0-4<')).toBeGreaterThan(0);
    expect(svg.indexOf('>ip-10-0-0-4<')).toBeLessThan(svg.indexOf('>ip-10-0-0-10<'));
    // Every phase drawn wide enough to see.
    for (const phase of ['Cordoned', 'Fenced', 'Tainted']) {
      const widths = [
        ...svg.matchAll(
          new RegExp(`width="([\\d.]+)"[^>]*><title>ip-10-0-0-4\\.ec2\\.internal i-4: ${phase} `, 'g'),
        ),
      ].map((m) => Number(m[1]));
      expect({ phase, widths }).toEqual({ phase, widths: [expect.any(Number)] });
      expect(widths[0]).toBeGreaterThanOrEqual(MIN_PHASE_PX);
    }
    // Sessions per node, with each node's peak.
    expect(svg).toContain('<title>ip-10-0-0-10.ec2.internal: sessions held (at most 7)</title>');
    expect(svg).toContain('<title>ip-10-0-0-4.ec2.internal: sessions held (at most 2)</title>');
    // The last session's end: -10 emptied at 3m20s, -4 at 4m10s.
    expect(svg).toContain('<title>ip-10-0-0-10.ec2.internal: last session ended at 3m20s</title>');
    expect(svg).toContain('<title>ip-10-0-0-4.ec2.internal: last session ended at 4m10s</title>');
  });

  it('fits the sessions axis to the data', () => {
    expect(niceMax(28)).toBe(30);
    expect(niceMax(101)).toBe(120);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(60)).toBe(60);
  });

  it('orders node rows naturally, replacements after the first nodes', () => {
    const t = (name: string, replacement = false) =>
      ({ name, replacement, segments: [{ phase: 'Active', from: 0 }] }) as unknown as NodeTrack;
    expect(
      orderTracks([t('ip-10-0-0-10'), t('ip-10-0-0-4'), t('ip-10-0-0-2', true), t('ip-10-0-0-5')]).map(
        (n) => n.name,
      ),
    ).toEqual(['ip-10-0-0-4', 'ip-10-0-0-5', 'ip-10-0-0-10', 'ip-10-0-0-2']);
  });

  it('picks readable tick steps', () => {
    expect(tickStep(60_000)).toBe(10_000);
    expect(tickStep(300_000)).toBe(60_000);
    expect(tickStep(3_600_000)).toBe(600_000);
  });
});
