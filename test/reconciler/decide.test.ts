import { describe, expect, it } from '@jest/globals';
import { SeededRandom } from '../../sandbox/clock.js';
import { DRAIN_TAINT, INSTANCE_STATUS_LABEL, type InstanceStatus } from '../../shared/contract.js';
import {
  DEFAULT_DECIDE_TIMINGS,
  decide,
  failureReason,
  spotGraceSeconds,
  type DecideConfig,
  type DecideTimings,
  type Decision,
  type DrainAction,
  type Observation,
} from '../../reconciler/decide.js';
import { planSteps } from '../../reconciler/plan.js';
import {
  ACTED_ON_OBSERVED_AT_ANNOTATION,
  CORDONED_BY_AGENT_ANNOTATION,
  DRAIN_ANNOTATIONS,
  DRAIN_PHASE_ANNOTATION,
  DRAIN_STARTED_AT_ANNOTATION,
  hasDrainTaint,
  readDrainRecord,
  type DrainRecord,
} from '../../shared/drain-contract.js';
import {
  CONFIG,
  T0,
  World,
  agentWalkStep,
  fresh,
  fromEveryInterruption,
  gs,
  makeNode,
  observation,
  publishedStatus,
  walkWorld,
} from './world.js';

// The replay high-water mark rides along with most transitions; it has tests of its own below.
const drainActions = (d: Decision) => d.actions.filter((a) => a.kind !== 'recordActedOn');
const kinds = (d: Decision) => drainActions(d).map((a) => a.kind);
const reasons = (d: Decision) => d.actions.flatMap((a) => (a.kind === 'emitEvent' ? [a.reason] : []));
const nodeActions = (d: Decision) => drainActions(d).filter((a) => a.kind !== 'emitEvent');
const rec = (phase: DrainRecord['phase'], extra: Partial<DrainRecord> = {}): DrainRecord => ({
  phase,
  reason: phase === 'SpotEvicting' ? 'spot' : 'fleetiq',
  startedAt: T0 - 60_000,
  cordonedByAgent: true,
  ...extra,
});
const stale = (status: InstanceStatus) => ({
  status,
  observedAt: T0 - CONFIG.statusStaleAfterMs - 1,
  source: 'redis' as const,
});
/** A node in the given drain phase, with the state that phase implies. */
function drainingNode(phase: DrainRecord['phase'], extra: Partial<DrainRecord> = {}) {
  const status: InstanceStatus = phase === 'SpotEvicting' ? 'SPOT_TERMINATING' : 'DRAINING';
  return makeNode({
    label: status,
    unschedulable: true,
    tainted: phase === 'Tainted' || phase === 'SpotEvicting' || phase === 'Deregistered',
    record: rec(phase, phase === 'SpotEvicting' ? { spotNoticeAt: T0 - 10_000, ...extra } : extra),
  });
}

describe('decide: DRAINING from scratch', () => {
  it('records the drain, labels and cordons first, remembering that the agent cordoned', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: makeNode({ label: 'ACTIVE' }),
        gameServers: [gs('r1', 'Ready')],
      }),
      CONFIG,
    );
    expect(d.phase).toBe('Cordoned');
    expect(nodeActions(d)).toEqual([
      {
        kind: 'recordDrainState',
        record: { phase: 'Cordoned', reason: 'fleetiq', startedAt: T0, cordonedByAgent: true },
      },
      { kind: 'label', status: 'DRAINING' },
      { kind: 'cordon' },
    ]);
    expect(reasons(d)).toEqual(['FleetIQDraining', 'Cordoned']);
  });

  it('records cordoned-by-agent=false and does not cordon a node an operator already cordoned', () => {
    const d = decide(
      observation({ status: fresh('DRAINING'), node: makeNode({ label: 'ACTIVE', unschedulable: true }) }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([
      {
        kind: 'recordDrainState',
        record: { phase: 'Cordoned', reason: 'fleetiq', startedAt: T0, cordonedByAgent: false },
      },
      { kind: 'label', status: 'DRAINING' },
    ]);
  });

  it('records the drain before cordoning, so a crash in between never loses the cordon', () => {
    const d = decide(observation({ status: fresh('DRAINING') }), CONFIG);
    expect(kinds(d).indexOf('recordDrainState')).toBeLessThan(kinds(d).indexOf('cordon'));
  });
});

describe('decide: fencing before tainting', () => {
  const mix = () => [
    gs('ready', 'Ready'),
    gs('scheduled', 'Scheduled'),
    gs('requestready', 'RequestReady'),
    gs('alloc-tol', 'Allocated', { podTolerates: true }),
    gs('alloc-notol', 'Allocated', { podTolerates: false }),
    gs('alloc-notol-dying', 'Allocated', { podTolerates: false, podTerminating: true }),
    gs('reserved', 'Reserved', { podTolerates: false }),
    gs('shutdown', 'Shutdown'),
    gs('unhealthy', 'Unhealthy'),
  ];

  it('shuts down every unallocated game server with a compare-and-swap and backfills tolerations', () => {
    const gameServers = mix();
    const d = decide(
      observation({ status: fresh('DRAINING'), node: drainingNode('Cordoned'), gameServers }),
      CONFIG,
    );
    expect(d.phase).toBe('Cordoned');
    const byName = Object.fromEntries(gameServers.map((g) => [g.name, g]));
    expect(nodeActions(d)).toEqual([
      {
        kind: 'shutdownGameServer',
        namespace: 'default',
        name: 'ready',
        resourceVersion: byName.ready.resourceVersion,
        state: 'Ready',
      },
      {
        kind: 'shutdownGameServer',
        namespace: 'default',
        name: 'scheduled',
        resourceVersion: byName.scheduled.resourceVersion,
        state: 'Scheduled',
      },
      {
        kind: 'shutdownGameServer',
        namespace: 'default',
        name: 'requestready',
        resourceVersion: byName.requestready.resourceVersion,
        state: 'RequestReady',
      },
      { kind: 'addToleration', namespace: 'default', pod: 'alloc-notol' },
      { kind: 'addToleration', namespace: 'default', pod: 'reserved' },
    ]);
    expect(reasons(d)).toEqual(['Fencing']);
    expect(kinds(d)).not.toContain('taint');
  });

  it('deletes the pod of a starting game server Agones has not yet recorded on this node (no write to it)', () => {
    // The admission policy refuses a node agent's write to a GameServer whose status.nodeName is not
    // its node, and Agones records the node only after the pod is scheduled.
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: drainingNode('Cordoned'),
        gameServers: [
          gs('creating', 'Creating', { notYetOnNode: true }),
          gs('going', 'Scheduled', { notYetOnNode: true, podTerminating: true }),
        ],
      }),
      CONFIG,
    );
    expect(d.phase).toBe('Cordoned');
    expect(nodeActions(d)).toEqual([
      { kind: 'deletePod', namespace: 'default', name: 'creating', graceSeconds: CONFIG.forceGraceSeconds },
    ]);
    const fencing = d.actions.find((a) => a.kind === 'emitEvent' && a.reason === 'Fencing');
    expect(fencing).toMatchObject({
      message: expect.stringContaining('starting game servers default/creating'),
    });
  });

  it('counts a starting game server whose pod is already going as fenced', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: drainingNode('Cordoned'),
        gameServers: [gs('going', 'Scheduled', { notYetOnNode: true, podTerminating: true })],
      }),
      CONFIG,
    );
    expect(d.phase).toBe('Fenced');
    expect(kinds(d)).not.toContain('deletePod');
    expect(kinds(d)).not.toContain('shutdownGameServer');
  });

  it("on a Spot notice deletes a starting game server's pod once, not as fence and eviction both", () => {
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        node: drainingNode('SpotEvicting'),
        gameServers: [gs('creating', 'Creating', { notYetOnNode: true }), gs('ready', 'Ready')],
      }),
      CONFIG,
    );
    const deletes = nodeActions(d).filter((a) => a.kind === 'deletePod');
    expect(deletes.map((a) => (a.kind === 'deletePod' ? a.name : '')).sort()).toEqual(['creating', 'ready']);
    expect(nodeActions(d).filter((a) => a.kind === 'shutdownGameServer')).toHaveLength(1);
  });

  it('shuts down Reserved game servers too when Reserved is not protected', () => {
    const reserved = gs('reserved', 'Reserved');
    const d = decide(
      observation({ status: fresh('DRAINING'), node: drainingNode('Cordoned'), gameServers: [reserved] }),
      { ...CONFIG, protectReserved: false },
    );
    expect(nodeActions(d)).toEqual([
      {
        kind: 'shutdownGameServer',
        namespace: 'default',
        name: 'reserved',
        resourceVersion: reserved.resourceVersion,
        state: 'Reserved',
      },
    ]);
  });

  it('treats a state it does not know as a session (kept, tolerated, waited for)', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: drainingNode('Cordoned'),
        gameServers: [gs('future', 'Hibernating', { podTolerates: false })],
      }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([{ kind: 'addToleration', namespace: 'default', pod: 'future' }]);
    expect(d.sessions).toBe(1);
  });

  it('records Fenced once nothing is left to fence, and only then taints', () => {
    const done = [gs('a', 'Allocated'), gs('s', 'Shutdown')];
    const fenced = decide(
      observation({ status: fresh('DRAINING'), node: drainingNode('Cordoned'), gameServers: done }),
      CONFIG,
    );
    expect(fenced.phase).toBe('Fenced');
    expect(nodeActions(fenced)).toEqual([{ kind: 'recordDrainState', record: rec('Fenced') }]);
    expect(reasons(fenced)).toEqual(['Fenced']);

    const tainted = decide(
      observation({ status: fresh('DRAINING'), node: drainingNode('Fenced'), gameServers: done }),
      CONFIG,
    );
    expect(tainted.phase).toBe('Tainted');
    expect(nodeActions(tainted)).toEqual([
      { kind: 'taint' },
      { kind: 'recordDrainState', record: rec('Tainted') },
    ]);
    expect(reasons(tainted)).toEqual(['Tainted', 'SessionsRemaining']);
  });

  it.each([
    ['a Ready game server appeared', [gs('a', 'Allocated'), gs('r', 'Ready')]],
    ['an allocated pod lacks the toleration', [gs('a', 'Allocated', { podTolerates: false })]],
    ['a starting game server is still there', [gs('c', 'Creating')]],
  ])('does not taint while %s', (_what, gameServers) => {
    const d = decide(
      observation({ status: fresh('DRAINING'), node: drainingNode('Fenced'), gameServers }),
      CONFIG,
    );
    expect(kinds(d)).not.toContain('taint');
    expect(d.phase).toBe('Fenced');
    expect(reasons(d)).toEqual(['Fencing']);
  });

  it('taints with no SessionsRemaining event when no session is left', () => {
    const d = decide(observation({ status: fresh('DRAINING'), node: drainingNode('Fenced') }), CONFIG);
    expect(reasons(d)).toEqual(['Tainted']);
  });
});

describe('decide: waiting for sessions, then deregistering', () => {
  it.each([
    ['Allocated', [gs('a', 'Allocated')]],
    ['Reserved (protected)', [gs('r', 'Reserved', { podTolerates: true })]],
    ['Allocated with a terminating pod', [gs('a', 'Allocated', { podTerminating: true })]],
  ])('waits while a game server is %s', (_what, gameServers) => {
    const d = decide(
      observation({ status: fresh('DRAINING'), node: drainingNode('Tainted'), gameServers }),
      CONFIG,
    );
    expect(d.phase).toBe('Tainted');
    expect(d.actions).toEqual([]);
    expect(d.wait).toEqual({ reason: 'SessionsRemaining', requeueAfterMs: CONFIG.drainMaxWaitMs - 60_000 });
  });

  it('shuts down a game server that went from Allocated back to Ready on the draining node', () => {
    const back = gs('back', 'Ready', { podTolerates: true });
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: drainingNode('Tainted'),
        gameServers: [back, gs('a', 'Allocated')],
      }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([
      {
        kind: 'shutdownGameServer',
        namespace: 'default',
        name: 'back',
        resourceVersion: back.resourceVersion,
        state: 'Ready',
      },
    ]);
  });

  it('puts the taint back if someone removed it', () => {
    const node = drainingNode('Tainted');
    node.taints = [];
    const d = decide(
      observation({ status: fresh('DRAINING'), node, gameServers: [gs('a', 'Allocated')] }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([{ kind: 'taint' }]);
  });

  it('cordons again (and then owns the cordon) if someone uncordoned the draining node', () => {
    const node = drainingNode('Tainted', { cordonedByAgent: false });
    node.unschedulable = false;
    const d = decide(
      observation({ status: fresh('DRAINING'), node, gameServers: [gs('a', 'Allocated')] }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([
      { kind: 'recordDrainState', record: rec('Tainted', { cordonedByAgent: true }) },
      { kind: 'cordon' },
    ]);
  });

  it('deregisters only when no session remains, and records it after the call', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: drainingNode('Tainted'),
        gameServers: [gs('s', 'Shutdown', { podTerminating: true })],
      }),
      CONFIG,
    );
    expect(d.phase).toBe('Deregistered');
    expect(nodeActions(d)).toEqual([
      { kind: 'deregister' },
      { kind: 'recordDrainState', record: rec('Deregistered', { deregisteredAt: T0 }) },
    ]);
    expect(reasons(d)).toEqual(['Deregistered']);
  });

  it('does not deregister while an unallocated game server still needs shutting down', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: drainingNode('Tainted'),
        gameServers: [gs('r', 'Ready', { podTerminating: true })],
      }),
      CONFIG,
    );
    expect(kinds(d)).toEqual(['shutdownGameServer', 'emitEvent']);
  });

  it.each([
    undefined,
    fresh('DRAINING'),
    fresh('SPOT_TERMINATING'),
    stale('ACTIVE'),
    { ...fresh('ACTIVE'), authenticated: false },
    // Observed before the deregistration: not news.
    { status: 'ACTIVE' as const, observedAt: T0 - 31_000, source: 'redis' as const },
  ])('does nothing more after deregistration but watch for stranding (status %j)', (status) => {
    const d = decide(
      observation({
        ...(status ? { status } : {}),
        node: drainingNode('Deregistered', { deregisteredAt: T0 - 30_000 }),
        gameServers: [gs('r', 'Ready')],
        registration: { state: 'absent' },
      }),
      CONFIG,
    );
    expect(d).toMatchObject({ phase: 'Deregistered', actions: [], membership: [], stranded: false });
    expect(d.wait).toEqual({ reason: 'StrandedCheck', requeueAfterMs: CONFIG.strandedAfterMs - 30_000 });
  });
});

describe('decide: maximum drain wait', () => {
  const overdue = (extra: Partial<DrainRecord> = {}) =>
    makeNode({
      label: 'DRAINING',
      unschedulable: true,
      tainted: true,
      record: rec('Tainted', { startedAt: T0 - CONFIG.drainMaxWaitMs - 5_000, ...extra }),
    });

  it('raises one warning Event and records that it did, killing nothing', () => {
    const d = decide(
      observation({ status: fresh('DRAINING'), node: overdue(), gameServers: [gs('a', 'Allocated')] }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([
      {
        kind: 'recordDrainState',
        record: rec('Tainted', { startedAt: T0 - CONFIG.drainMaxWaitMs - 5_000, maxWaitWarnedAt: T0 }),
      },
    ]);
    expect(d.actions.find((a) => a.kind === 'emitEvent')).toMatchObject({
      type: 'Warning',
      reason: 'DrainMaxWaitExceeded',
    });
  });

  it('stays quiet once the warning was raised', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: overdue({ maxWaitWarnedAt: T0 - 1000 }),
        gameServers: [gs('a', 'Allocated')],
      }),
      CONFIG,
    );
    expect(d.actions).toEqual([]);
  });

  it('deletes the remaining session pods only when explicitly configured', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: overdue({ maxWaitWarnedAt: T0 - 1000 }),
        gameServers: [gs('a', 'Allocated'), gs('b', 'Allocated', { podTerminating: true })],
      }),
      { ...CONFIG, forceAfterMaxWait: true, forceGraceSeconds: 42 },
    );
    expect(nodeActions(d)).toEqual([
      { kind: 'deletePod', namespace: 'default', name: 'a', graceSeconds: 42 },
    ]);
    expect(reasons(d)).toEqual(['DrainForced']);
  });
});

describe('decide: back to ACTIVE before deregistration', () => {
  const phases: DrainRecord['phase'][] = ['Cordoned', 'Fenced', 'Tainted', 'SpotEvicting'];
  const cases = phases.flatMap((phase) => [true, false].map((byAgent) => [phase, byAgent] as const));

  it.each(cases)('reverts from %s (cordoned by agent: %s)', (phase, byAgent) => {
    const node = drainingNode(phase, { cordonedByAgent: byAgent });
    const d = decide(
      observation({ status: fresh('ACTIVE'), node, gameServers: [gs('a', 'Allocated')] }),
      CONFIG,
    );
    const tainted = phase === 'Tainted' || phase === 'SpotEvicting';
    expect(d.phase).toBe('Active');
    expect(nodeActions(d)).toEqual([
      ...(tainted ? [{ kind: 'untaint' }] : []),
      ...(byAgent ? [{ kind: 'uncordon' }] : []),
      { kind: 'label', status: 'ACTIVE' },
      { kind: 'recordDrainState', record: null },
    ]);
    expect(reasons(d)).toEqual(['DrainReverted']);
  });

  it('keeps an operator cordon through a whole drain and revert', () => {
    const w = new World({
      status: fresh('DRAINING'),
      node: makeNode({ label: 'ACTIVE', unschedulable: true }),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle();
    expect(w.node.taints).toEqual([{ ...DRAIN_TAINT }]);
    expect(readDrainRecord(w.node.annotations, T0)?.cordonedByAgent).toBe(false);
    w.status = fresh('ACTIVE');
    w.settle();
    expect(w.node.unschedulable).toBe(true);
    expect(w.node.taints).toEqual([]);
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    for (const a of DRAIN_ANNOTATIONS) expect(w.node.annotations[a]).toBeUndefined();
  });

  it('removes a leftover drain taint on an ACTIVE node but leaves its cordon alone', () => {
    const d = decide(
      observation({
        status: fresh('ACTIVE'),
        node: makeNode({ label: 'ACTIVE', unschedulable: true, tainted: true }),
      }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([{ kind: 'untaint' }]);
  });

  it('only labels a healthy node ACTIVE, and then does nothing', () => {
    expect(nodeActions(decide(observation({ status: fresh('ACTIVE') }), CONFIG))).toEqual([
      { kind: 'label', status: 'ACTIVE' },
    ]);
    const d = decide(observation({ status: fresh('ACTIVE'), node: makeNode({ label: 'ACTIVE' }) }), CONFIG);
    expect(d.actions).toEqual([]);
  });
});

describe('decide: SPOT_TERMINATING', () => {
  it('labels, cordons, fences and taints at once, without deleting pods in the same step', () => {
    const ready = gs('r', 'Ready');
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        node: makeNode({ label: 'ACTIVE' }),
        gameServers: [ready, gs('a', 'Allocated')],
      }),
      CONFIG,
    );
    expect(d.phase).toBe('SpotEvicting');
    expect(nodeActions(d)).toEqual([
      {
        kind: 'recordDrainState',
        record: {
          phase: 'SpotEvicting',
          reason: 'spot',
          startedAt: T0,
          cordonedByAgent: true,
          spotNoticeAt: T0,
        },
      },
      { kind: 'label', status: 'SPOT_TERMINATING' },
      { kind: 'cordon' },
      {
        kind: 'shutdownGameServer',
        namespace: 'default',
        name: 'r',
        resourceVersion: ready.resourceVersion,
        state: 'Ready',
      },
      { kind: 'taint' },
    ]);
    expect(reasons(d)).toEqual(['SpotTerminating', 'Cordoned', 'Fencing', 'Tainted']);
  });

  it('then deletes every game server pod not yet terminating, with a grace period that fits the notice', () => {
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        node: drainingNode('SpotEvicting', { spotNoticeAt: T0 - 60_000 }),
        gameServers: [
          gs('a', 'Allocated'),
          gs('s', 'Shutdown'),
          gs('gone', 'Allocated', { podTerminating: true }),
        ],
      }),
      CONFIG,
    );
    // 120 s notice - 60 s elapsed - 15 s margin = 45 s, below the configured 90 s.
    expect(nodeActions(d)).toEqual([
      { kind: 'deletePod', namespace: 'default', name: 'a', graceSeconds: 45 },
      { kind: 'deletePod', namespace: 'default', name: 's', graceSeconds: 45 },
    ]);
    expect(reasons(d)).toEqual(['DeletingGameServerPods']);
  });

  it.each([
    [0, 90, 90],
    [0, 30, 30],
    [10_000, 120, 95],
    [104_000, 90, 1],
    [200_000, 90, 1],
  ])(
    'bounds the grace period: %i ms into the notice with spotGraceSeconds %i → %i s',
    (elapsed, configured, expected) => {
      expect(
        spotGraceSeconds(
          { obs: { now: T0 + elapsed }, config: { spotGraceSeconds: configured } },
          { spotNoticeAt: T0, startedAt: T0 },
        ),
      ).toBe(expected);
    },
  );

  it('deregisters once every game server pod is terminating', () => {
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        node: drainingNode('SpotEvicting'),
        gameServers: [gs('a', 'Allocated', { podTerminating: true })],
      }),
      CONFIG,
    );
    expect(kinds(d)).toEqual(['deregister', 'recordDrainState', 'emitEvent']);
  });

  it('takes over a DRAINING drain, keeping its start and who cordoned', () => {
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        node: drainingNode('Tainted', { cordonedByAgent: false }),
      }),
      CONFIG,
    );
    expect(nodeActions(d)).toEqual([
      {
        kind: 'recordDrainState',
        record: {
          phase: 'SpotEvicting',
          reason: 'spot',
          startedAt: T0 - 60_000,
          cordonedByAgent: false,
          spotNoticeAt: T0,
        },
      },
      { kind: 'label', status: 'SPOT_TERMINATING' },
    ]);
  });

  it('runs a Spot notice end to end: sessions get SIGTERM within the notice, then deregistration', () => {
    const w = new World({
      status: fresh('SPOT_TERMINATING'),
      node: makeNode({ label: 'ACTIVE' }),
      gameServers: [gs('a', 'Allocated'), gs('b', 'Allocated', { podTolerates: false }), gs('r', 'Ready')],
    });
    w.killsAllowed = true;
    const decisions = w.settle();
    expect(decisions.map((d) => d.phase)).toEqual([
      'SpotEvicting',
      'SpotEvicting',
      'Deregistered',
      'Deregistered',
    ]);
    expect(w.deregistered).toBe(true);
    expect(w.get('a').podTerminating).toBe(true);
    expect(w.get('r').state).toBe('Shutdown');
  });
});

describe('decide: unknown or stale status', () => {
  const phases: DrainRecord['phase'][] = ['Cordoned', 'Fenced', 'Tainted', 'SpotEvicting'];
  const statuses = [undefined, stale('ACTIVE'), stale('DRAINING'), stale('SPOT_TERMINATING')];
  const cases = phases.flatMap((p) => statuses.map((s) => [p, s] as const));

  it.each(cases)(
    'keeps phase %s without starting, reverting or finishing anything (status %j)',
    (phase, status) => {
      const d = decide(
        observation({ ...(status ? { status } : {}), node: drainingNode(phase), gameServers: [] }),
        CONFIG,
      );
      expect(d.phase).toBe(phase);
      expect(d.statusFresh).toBe(false);
      expect(d.actions).toEqual([]);
    },
  );

  it.each(statuses)('starts no drain on a node in no drain (status %j)', (status) => {
    const d = decide(
      observation({
        ...(status ? { status } : {}),
        node: makeNode({ label: 'ACTIVE' }),
        gameServers: [gs('r', 'Ready')],
      }),
      CONFIG,
    );
    expect(d.phase).toBe('Active');
    expect(d.actions).toEqual([]);
  });

  it('still keeps the phase invariants: re-cordon, fence a game server back to Ready, re-taint', () => {
    const node = drainingNode('Tainted');
    node.unschedulable = false;
    node.taints = [];
    const back = gs('back', 'Ready');
    const d = decide(observation({ node, gameServers: [back, gs('a', 'Allocated')] }), CONFIG);
    expect(nodeActions(d)).toEqual([
      { kind: 'recordDrainState', record: rec('Tainted') },
      { kind: 'cordon' },
      { kind: 'taint' },
      {
        kind: 'shutdownGameServer',
        namespace: 'default',
        name: 'back',
        resourceVersion: back.resourceVersion,
        state: 'Ready',
      },
    ]);
  });

  it('does not deregister a drained node on a stale status, only once a fresh one arrives', () => {
    const node = drainingNode('Tainted');
    expect(decide(observation({ status: stale('DRAINING'), node }), CONFIG).actions).toEqual([]);
    expect(kinds(decide(observation({ status: fresh('DRAINING'), node }), CONFIG))).toContain('deregister');
  });

  it('keeps deleting pods on a Spot notice already acted on', () => {
    const d = decide(
      observation({ node: drainingNode('SpotEvicting'), gameServers: [gs('a', 'Allocated')] }),
      CONFIG,
    );
    expect(kinds(d)).toEqual(['deletePod', 'emitEvent']);
  });

  it('judges freshness against statusStaleAfterMs', () => {
    const at = (age: number) =>
      decide(observation({ status: { status: 'DRAINING', observedAt: T0 - age, source: 'fleetiq' } }), CONFIG)
        .statusFresh;
    expect(at(CONFIG.statusStaleAfterMs)).toBe(true);
    expect(at(CONFIG.statusStaleAfterMs + 1)).toBe(false);
  });
});

describe('decide: registration and utilization', () => {
  const utilized = { state: 'registered', utilization: 'UTILIZED' } as const;
  const available = { state: 'registered', utilization: 'AVAILABLE' } as const;
  const activeNode = () => makeNode({ label: 'ACTIVE' });
  type Case = [string, Partial<Observation>, Partial<DecideConfig>, Decision['membership']];
  const cases: Case[] = [
    [
      'always: AVAILABLE → claim and UTILIZED',
      { registration: available },
      { utilizationMode: 'always' },
      [{ kind: 'markUtilized', claim: true }],
    ],
    ['always: UTILIZED stays', { registration: utilized }, { utilizationMode: 'always' }, []],
    [
      'always: never AVAILABLE again, even idle',
      { registration: utilized, idleSince: T0 - 10 * CONFIG.idlePeriodMs },
      { utilizationMode: 'always' },
      [],
    ],
    [
      'allocated: an Allocated game server → UTILIZED',
      { registration: available, gameServers: [gs('a', 'Allocated')] },
      {},
      [{ kind: 'markUtilized', claim: false }],
    ],
    [
      'allocated: a protected Reserved one → UTILIZED',
      { registration: available, gameServers: [gs('r', 'Reserved')] },
      {},
      [{ kind: 'markUtilized', claim: false }],
    ],
    [
      'allocated: an unprotected Reserved one → stays AVAILABLE',
      { registration: available, gameServers: [gs('r', 'Reserved')] },
      { protectReserved: false },
      [],
    ],
    [
      'allocated: only Ready ones → stays AVAILABLE',
      { registration: available, gameServers: [gs('r', 'Ready')] },
      {},
      [],
    ],
    [
      'allocated: UTILIZED and idle long enough → AVAILABLE again',
      { registration: utilized, idleSince: T0 - CONFIG.idlePeriodMs },
      {},
      [{ kind: 'reregisterAvailable' }],
    ],
    [
      'allocated: UTILIZED, idle not long enough → wait',
      { registration: utilized, idleSince: T0 - 1000 },
      {},
      [],
    ],
    [
      'allocated: UTILIZED with a session → stays',
      {
        registration: utilized,
        idleSince: T0 - 10 * CONFIG.idlePeriodMs,
        gameServers: [gs('a', 'Allocated')],
      },
      {},
      [],
    ],
    [
      'allocated: idle but status stale → stays UTILIZED',
      { registration: utilized, idleSince: T0 - 10 * CONFIG.idlePeriodMs, status: stale('ACTIVE') },
      {},
      [],
    ],
    [
      'allocated: idle but status unknown → stays UTILIZED',
      { registration: utilized, idleSince: T0 - 10 * CONFIG.idlePeriodMs, status: undefined },
      {},
      [],
    ],
    [
      'unknown registration on a node in no drain → register',
      { registration: { state: 'unknown' } },
      {},
      [{ kind: 'register' }],
    ],
    [
      'absent registration on a node in no drain → register',
      { registration: { state: 'absent' } },
      {},
      [{ kind: 'register' }],
    ],
    [
      'absent registration with a stale status → still register',
      { registration: { state: 'absent' }, status: stale('ACTIVE') },
      {},
      [{ kind: 'register' }],
    ],
  ];

  it.each(cases)('%s', (_name, partial, config, expected) => {
    const d = decide(observation({ status: fresh('ACTIVE'), node: activeNode(), ...partial }), {
      ...CONFIG,
      ...config,
    });
    expect(d.membership).toEqual(expected);
  });

  it('tracks idleSince: set when the last session goes, cleared by a session, kept otherwise', () => {
    const base = { status: fresh('ACTIVE'), node: activeNode(), registration: utilized };
    expect(decide(observation({ ...base }), CONFIG).idleSince).toBe(T0);
    expect(decide(observation({ ...base, idleSince: T0 - 5 }), CONFIG).idleSince).toBe(T0 - 5);
    expect(
      decide(observation({ ...base, idleSince: T0 - 5, gameServers: [gs('a', 'Allocated')] }), CONFIG)
        .idleSince,
    ).toBeUndefined();
  });

  it('requeues for the end of the idle period', () => {
    const d = decide(
      observation({
        status: fresh('ACTIVE'),
        node: activeNode(),
        registration: utilized,
        idleSince: T0 - 1000,
      }),
      CONFIG,
    );
    expect(d.wait).toEqual({ reason: 'IdleBeforeAvailable', requeueAfterMs: CONFIG.idlePeriodMs - 1000 });
  });

  it.each(['Cordoned', 'Fenced', 'Tainted', 'SpotEvicting'] as const)(
    'never becomes AVAILABLE again while draining (%s), nor registers',
    (phase) => {
      for (const registration of [utilized, { state: 'absent' } as const, { state: 'unknown' } as const]) {
        const d = decide(
          observation({
            status: fresh(phase === 'SpotEvicting' ? 'SPOT_TERMINATING' : 'DRAINING'),
            node: drainingNode(phase),
            registration,
            idleSince: T0 - 10 * CONFIG.idlePeriodMs,
          }),
          CONFIG,
        );
        expect(d.membership).toEqual([]);
      }
    },
  );

  it('does not register when the drain starts in the same step', () => {
    const d = decide(observation({ status: fresh('DRAINING'), registration: { state: 'unknown' } }), CONFIG);
    expect(d.membership).toEqual([]);
  });

  it('marks UTILIZED during a drain to protect a session (allocated mode)', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: drainingNode('Tainted'),
        registration: available,
        gameServers: [gs('a', 'Allocated')],
      }),
      CONFIG,
    );
    expect(d.membership).toEqual([{ kind: 'markUtilized', claim: false }]);
  });

  it('names a ...Failed reason for every action kind', () => {
    const all: (DrainAction | Decision['membership'][number])[] = [
      { kind: 'recordDrainState', record: null },
      { kind: 'label', status: 'ACTIVE' },
      { kind: 'cordon' },
      { kind: 'uncordon' },
      { kind: 'taint' },
      { kind: 'untaint' },
      { kind: 'shutdownGameServer', namespace: 'n', name: 'x', resourceVersion: '1', state: 'Ready' },
      { kind: 'addToleration', namespace: 'n', pod: 'x' },
      { kind: 'deletePod', namespace: 'n', name: 'x', graceSeconds: 1 },
      { kind: 'deregister' },
      { kind: 'emitEvent', type: 'Normal', reason: 'Cordoned', message: '' },
      { kind: 'register' },
      { kind: 'markUtilized', claim: false },
      { kind: 'reregisterAvailable' },
    ];
    for (const a of all) expect(failureReason(a)).toMatch(/^[A-Z][A-Za-z]+Failed$/);
  });
});

const phaseOf = (w: World) => readDrainRecord(w.node.annotations, T0)?.phase ?? 'Active';
const mark = (observedAt: number) => ({
  [ACTED_ON_OBSERVED_AT_ANNOTATION]: new Date(observedAt).toISOString(),
});

describe('decide: back from Deregistered (no stranded nodes)', () => {
  const deregistered = (cordonedByAgent: boolean, extra: Partial<DrainRecord> = {}) =>
    makeNode({
      label: 'DRAINING',
      unschedulable: true,
      tainted: true,
      record: rec('Deregistered', { cordonedByAgent, deregisteredAt: T0 - 30_000, ...extra }),
      annotations: mark(T0 - 45_000),
    });

  it.each([true, false])(
    'reverts the node and registers again on a fresh, authenticated ACTIVE (cordoned by agent: %s)',
    (byAgent) => {
      const d = decide(
        observation({
          status: fresh('ACTIVE'),
          node: deregistered(byAgent),
          registration: { state: 'absent' },
        }),
        CONFIG,
      );
      expect(d.phase).toBe('Active');
      expect(nodeActions(d)).toEqual([
        { kind: 'untaint' },
        ...(byAgent ? [{ kind: 'uncordon' }] : []),
        { kind: 'label', status: 'ACTIVE' },
        { kind: 'recordDrainState', record: null },
      ]);
      expect(reasons(d)).toEqual(['Reregistered']);
      expect(d.membership).toEqual([{ kind: 'register' }]);
      // The ACTIVE acted on becomes the high-water mark, in the same Node write.
      expect(d.actions.find((a) => a.kind === 'recordActedOn')).toEqual({
        kind: 'recordActedOn',
        observedAt: T0 - 1000,
      });
      expect(planSteps(d.actions).filter((st) => st.kind === 'patchNode')).toHaveLength(1);
    },
  );

  it('comes back fully in a modelled world: the node ends ACTIVE, uncordoned, untainted and registered', () => {
    const w = new World({
      node: deregistered(true),
      registration: { state: 'absent' },
      gameServers: [],
    });
    w.status = fresh('ACTIVE');
    w.settle(CONFIG);
    expect(w.node.unschedulable).toBe(false);
    expect(hasDrainTaint(w.node)).toBe(false);
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    expect(readDrainRecord(w.node.annotations, T0)).toBeNull();
    expect(w.registration).toMatchObject({ state: 'registered' });
    expect(w.node.annotations[ACTED_ON_OBSERVED_AT_ANNOTATION]).toBe(new Date(T0 - 1000).toISOString());
  });

  it('does not come back on an ACTIVE older than the status it acted on (a replay)', () => {
    const d = decide(
      observation({
        status: fresh('ACTIVE'),
        node: makeNode({
          label: 'DRAINING',
          unschedulable: true,
          tainted: true,
          record: rec('Deregistered', { deregisteredAt: T0 - 60_000 }),
          annotations: mark(T0 - 500),
        }),
        registration: { state: 'absent' },
      }),
      CONFIG,
    );
    expect(d).toMatchObject({ phase: 'Deregistered', actions: [], membership: [], replayed: true });
  });

  it('reports a node still alive long after its deregistration, once, with the reason', () => {
    const node = deregistered(true, { deregisteredAt: T0 - CONFIG.strandedAfterMs });
    const d = decide(
      observation({ status: fresh('DRAINING'), node, registration: { state: 'absent' } }),
      CONFIG,
    );
    expect(d.phase).toBe('Deregistered');
    expect(d.stranded).toBe(true);
    expect(nodeActions(d)).toEqual([
      {
        kind: 'recordDrainState',
        record: rec('Deregistered', { deregisteredAt: T0 - CONFIG.strandedAfterMs, strandedWarnedAt: T0 }),
      },
    ]);
    const ev = d.actions.find((a) => a.kind === 'emitEvent');
    expect(ev).toMatchObject({ type: 'Warning', reason: 'NodeStranded' });
    expect(ev!.kind === 'emitEvent' && ev!.message).toContain('FleetIQ still says DRAINING');
    expect(d.membership).toEqual([]);

    const again = decide(
      observation({
        status: fresh('DRAINING'),
        node: deregistered(true, { deregisteredAt: T0 - CONFIG.strandedAfterMs, strandedWarnedAt: T0 - 1 }),
      }),
      CONFIG,
    );
    expect(again).toMatchObject({ actions: [], stranded: true });
    expect(again.wait).toBeUndefined();
  });

  it.each([
    [undefined, 'no FleetIQ status is known'],
    [stale('ACTIVE'), 'stale or refused'],
    [{ ...fresh('ACTIVE'), authenticated: false }, 'unsigned'],
  ])('says why a stranded node was not brought back (status %j)', (status, why) => {
    const d = decide(
      observation({
        ...(status ? { status } : {}),
        // An older agent's record without deregistered-at: counted from the drain's start.
        node: makeNode({
          label: 'DRAINING',
          unschedulable: true,
          tainted: true,
          record: rec('Deregistered', { startedAt: T0 - CONFIG.strandedAfterMs - 1 }),
        }),
      }),
      CONFIG,
    );
    expect(d.stranded).toBe(true);
    const ev = d.actions.find((a) => a.kind === 'emitEvent');
    expect(ev!.kind === 'emitEvent' && ev!.message).toContain(why);
  });

  it('a stranded node that FleetIQ reports ACTIVE again still comes back', () => {
    const d = decide(
      observation({
        status: fresh('ACTIVE'),
        node: deregistered(true, {
          deregisteredAt: T0 - CONFIG.strandedAfterMs * 2,
          strandedWarnedAt: T0 - 5_000,
        }),
        registration: { state: 'absent' },
      }),
      CONFIG,
    );
    expect(d).toMatchObject({ phase: 'Active', stranded: false, membership: [{ kind: 'register' }] });
    expect(nodeActions(d).at(-1)).toEqual({ kind: 'recordDrainState', record: null });
  });
});

describe('decide: an empty node is deregistered only once DRAINING held', () => {
  const STABLE: DecideConfig = { ...CONFIG, drainingStableMs: 15_000 };
  const tainted = (startedAgo: number) =>
    makeNode({
      label: 'DRAINING',
      unschedulable: true,
      tainted: true,
      record: rec('Tainted', { startedAt: T0 - startedAgo }),
    });
  const at = (observedAgo: number) => ({
    status: 'DRAINING' as const,
    observedAt: T0 - observedAgo,
    source: 'redis' as const,
  });

  it('waits for the rest of the period when the drain began less than it ago', () => {
    const d = decide(observation({ status: at(1_000), node: tainted(10_000) }), STABLE);
    expect(d).toMatchObject({ phase: 'Tainted', actions: [] });
    expect(d.wait).toEqual({ reason: 'DrainingNotStableYet', requeueAfterMs: 5_000 });
  });

  it('waits for a newer observation when the latest one was made within the period', () => {
    // Begun 20 s ago, but FleetIQ was last heard 10 s ago: 5 s into the period. The next status wakes the agent.
    const d = decide(observation({ status: at(10_000), node: tainted(20_000) }), STABLE);
    expect(d).toMatchObject({ phase: 'Tainted', actions: [] });
    expect(d.wait).toBeUndefined();
  });

  it('deregisters on an observation made at least the period after the drain began', () => {
    expect(decide(observation({ status: at(5_000), node: tainted(20_000) }), STABLE).phase).toBe(
      'Deregistered',
    );
    expect(decide(observation({ status: at(1_000), node: tainted(60_000) }), STABLE).phase).toBe(
      'Deregistered',
    );
  });

  it('does not hold up a Spot drain (the instance goes regardless)', () => {
    const node = drainingNode('SpotEvicting', { startedAt: T0 - 1_000 });
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        node,
        gameServers: [gs('a', 'Allocated', { podTerminating: true })],
      }),
      STABLE,
    );
    expect(d.phase).toBe('Deregistered');
  });

  it('a DRAINING that flips back to ACTIVE within the period leaves the instance registered', () => {
    const w = new World({ node: makeNode({ label: 'ACTIVE' }), gameServers: [] });
    w.status = fresh('DRAINING');
    w.settle(STABLE);
    expect(phaseOf(w)).toBe('Tainted');
    w.status = fresh('ACTIVE');
    w.settle(STABLE);
    expect(phaseOf(w)).toBe('Active');
    expect(w.executed.some((a) => a.kind === 'deregister')).toBe(false);
  });
});

describe('decide: the replay high-water mark', () => {
  it('is recorded with the first Node write of a drain: the observation time of the status acted on', () => {
    const d = decide(observation({ status: fresh('DRAINING'), node: makeNode({ label: 'ACTIVE' }) }), CONFIG);
    expect(d.actions[0]).toEqual({ kind: 'recordActedOn', observedAt: T0 - 1000 });
    expect(planSteps(d.actions)[0].actions.map((a) => a.kind)).toContain('recordDrainState');
  });

  it('refuses a status observed before the mark: a DRAINING captured before a revert drains nothing', () => {
    const node = makeNode({ label: 'ACTIVE', annotations: mark(T0 - 10_000) });
    const replay = { status: 'DRAINING' as const, observedAt: T0 - 20_000, source: 'redis' as const };
    const d = decide(observation({ status: replay, node }), CONFIG);
    expect(d).toMatchObject({ phase: 'Active', actions: [], replayed: true, statusFresh: false });
  });

  it('refuses a replayed SPOT_TERMINATING or ACTIVE the same way, holding a drain in progress', () => {
    const node = makeNode({
      label: 'DRAINING',
      unschedulable: true,
      tainted: true,
      record: rec('Tainted'),
      annotations: mark(T0 - 10_000),
    });
    for (const status of ['ACTIVE', 'SPOT_TERMINATING'] as const) {
      const d = decide(
        observation({
          status: { status, observedAt: T0 - 10_001, source: 'redis' },
          node,
          gameServers: [gs('a', 'Allocated')],
        }),
        CONFIG,
      );
      expect(d).toMatchObject({ phase: 'Tainted', actions: [], replayed: true });
    }
  });

  it('accepts the very status it acted on (a restarted agent re-reads it) and does not rewrite the mark', () => {
    const node = makeNode({
      label: 'DRAINING',
      unschedulable: true,
      tainted: true,
      record: rec('Tainted'),
      annotations: mark(T0 - 1000),
    });
    const d = decide(
      observation({ status: fresh('DRAINING'), node, gameServers: [gs('a', 'Allocated')] }),
      CONFIG,
    );
    expect(d).toMatchObject({ phase: 'Tainted', replayed: false, statusFresh: true });
    const d2 = decide(observation({ status: fresh('DRAINING'), node }), CONFIG);
    expect(d2.phase).toBe('Deregistered');
    expect(d2.actions.some((a) => a.kind === 'recordActedOn')).toBe(false);
  });

  it('is not written on a stale status, nor when nothing is written to the Node', () => {
    const held = decide(
      observation({
        status: stale('DRAINING'),
        node: drainingNode('Tainted', { startedAt: T0 }),
        gameServers: [gs('r', 'Ready')],
      }),
      CONFIG,
    );
    expect(held.actions.length).toBeGreaterThan(0);
    expect(held.actions.some((a) => a.kind === 'recordActedOn')).toBe(false);
    const idle = decide(
      observation({ status: fresh('ACTIVE'), node: makeNode({ label: 'ACTIVE' }) }),
      CONFIG,
    );
    expect(idle.actions).toEqual([]);
  });

  it('survives the revert that follows (it is not drain state), and a later replay is refused', () => {
    const w = new World({ node: makeNode({ label: 'ACTIVE' }), gameServers: [gs('a', 'Allocated')] });
    const draining = { status: 'DRAINING' as const, observedAt: T0 - 5_000, source: 'redis' as const };
    w.status = draining;
    w.settle(CONFIG);
    expect(phaseOf(w)).toBe('Tainted');
    w.status = fresh('ACTIVE');
    w.settle(CONFIG);
    expect(phaseOf(w)).toBe('Active');
    expect(w.node.annotations[ACTED_ON_OBSERVED_AT_ANNOTATION]).toBe(new Date(T0 - 1000).toISOString());
    w.status = draining;
    w.settle(CONFIG);
    expect(phaseOf(w)).toBe('Active');
    expect(w.node.unschedulable).toBe(false);
  });

  it("is not taken from the instance's own Spot notice (its poll times are not FleetIQ observations)", () => {
    const d = decide(
      observation({
        status: { ...fresh('SPOT_TERMINATING'), source: 'imds' },
        node: makeNode({ label: 'ACTIVE' }),
      }),
      CONFIG,
    );
    expect(d.phase).toBe('SpotEvicting');
    expect(d.actions.some((a) => a.kind === 'recordActedOn')).toBe(false);
  });

  it('never lets a mark refuse the Spot notice from instance metadata', () => {
    const node = makeNode({ label: 'ACTIVE', annotations: mark(T0 + 30_000) });
    const d = decide(observation({ status: { ...fresh('SPOT_TERMINATING'), source: 'imds' }, node }), CONFIG);
    expect(d).toMatchObject({ phase: 'SpotEvicting', replayed: false });
  });

  it("records no mark beyond the agent's clock (a publisher whose clock runs ahead)", () => {
    const ahead = { status: 'DRAINING' as const, observedAt: T0 + 5_000, source: 'redis' as const };
    const d = decide(observation({ status: ahead, node: makeNode({ label: 'ACTIVE' }) }), CONFIG);
    expect(d.actions[0]).toEqual({ kind: 'recordActedOn', observedAt: T0 });
  });

  it('ignores a mark further ahead than a status stays fresh (it would refuse everything until then)', () => {
    const far = makeNode({ label: 'ACTIVE', annotations: mark(T0 + CONFIG.statusStaleAfterMs + 1) });
    expect(decide(observation({ status: fresh('DRAINING'), node: far }), CONFIG)).toMatchObject({
      phase: 'Cordoned',
      replayed: false,
    });
    const near = makeNode({ label: 'ACTIVE', annotations: mark(T0 + CONFIG.statusStaleAfterMs) });
    expect(decide(observation({ status: fresh('DRAINING'), node: near }), CONFIG)).toMatchObject({
      phase: 'Active',
      replayed: true,
    });
  });

  it('ignores a garbled mark rather than refusing everything', () => {
    const node = makeNode({
      label: 'ACTIVE',
      annotations: { [ACTED_ON_OBSERVED_AT_ANNOTATION]: 'yesterday' },
    });
    const d = decide(observation({ status: fresh('DRAINING'), node }), CONFIG);
    expect(d).toMatchObject({ phase: 'Cordoned', replayed: false });
  });
});

describe('decide: sessions that never end (bad faith)', () => {
  const node = (warned?: number) =>
    drainingNode('Tainted', {
      startedAt: T0 - CONFIG.drainMaxWaitMs - 1,
      ...(warned ? { maxWaitWarnedAt: warned } : {}),
    });

  it.each(['Allocated', 'Reserved'])(
    'reports a drain held past the maximum wait by a %s game server as overdue',
    (state) => {
      const before = decide(
        observation({
          status: fresh('DRAINING'),
          node: drainingNode('Tainted'),
          gameServers: [gs('a', state, { podTolerates: true })],
        }),
        CONFIG,
      );
      expect(before.drainOverdue).toBe(false);
      const d = decide(
        observation({
          status: fresh('DRAINING'),
          node: node(),
          gameServers: [gs('a', state, { podTolerates: true })],
        }),
        CONFIG,
      );
      expect(d.drainOverdue).toBe(true);
      expect(reasons(d)).toEqual(['DrainMaxWaitExceeded']);
      const later = decide(
        observation({
          status: fresh('DRAINING'),
          node: node(T0 - 1),
          gameServers: [gs('a', state, { podTolerates: true })],
        }),
        CONFIG,
      );
      expect(later).toMatchObject({ drainOverdue: true, actions: [] });
      // Overdue under a stale status too: the drain is held, the session still holds the node.
      const held = decide(
        observation({
          status: stale('DRAINING'),
          node: node(T0 - 1),
          gameServers: [gs('a', state, { podTolerates: true })],
        }),
        CONFIG,
      );
      expect(held.drainOverdue).toBe(true);
    },
  );

  it('a Spot notice still ends an overdue session gracefully, within the notice', () => {
    const d = decide(
      observation({
        status: { ...fresh('SPOT_TERMINATING'), source: 'imds' },
        node: { ...node(T0 - 1), labels: { ...node().labels } },
        gameServers: [gs('a', 'Reserved', { podTolerates: true })],
      }),
      CONFIG,
    );
    expect(d.phase).toBe('SpotEvicting');
    const w = new World({ node: node(T0 - 1), gameServers: [gs('a', 'Reserved', { podTolerates: true })] });
    w.status = { ...fresh('SPOT_TERMINATING'), source: 'imds' };
    w.settle(CONFIG);
    const deletion = w.executed.find((a) => a.kind === 'deletePod');
    expect(deletion).toMatchObject({ name: 'a', graceSeconds: CONFIG.spotGraceSeconds });
  });
});

describe('decide: whole drains in a modelled world', () => {
  it('goes Cordoned → Fenced → Tainted → Deregistered, tainting only once fenced, losing no session', () => {
    const w = new World({
      status: fresh('DRAINING'),
      node: makeNode({ label: 'ACTIVE' }),
      gameServers: [
        gs('a1', 'Allocated'),
        gs('a2', 'Allocated', { podTolerates: false }),
        gs('r1', 'Ready'),
        gs('s1', 'Scheduled'),
      ],
    });
    const phases = w.settle().map((d) => d.phase);
    expect(phases).toEqual(['Cordoned', 'Cordoned', 'Fenced', 'Tainted', 'Tainted']);
    expect(w.node.taints).toEqual([{ ...DRAIN_TAINT }]);
    expect(w.get('r1').state).toBe('Shutdown');
    expect(w.get('s1').state).toBe('Shutdown');
    expect(w.get('a2').podTolerates).toBe(true);
    expect(w.deregistered).toBe(false);

    w.collect();
    w.endSession('a1', true); // back to Ready on a draining node: must not be allocated again
    w.settle();
    expect(w.get('a1').state).toBe('Shutdown');
    expect(w.deregistered).toBe(false);
    w.endSession('a2');
    w.collect();
    w.settle();
    expect(w.deregistered).toBe(true);
    expect(w.node.annotations[DRAIN_PHASE_ANNOTATION]).toBe('Deregistered');
    expect(w.lostSessions).toEqual([]);
    expect(w.events.map((e) => e.reason)).toEqual([
      'FleetIQDraining',
      'Cordoned',
      'Fencing',
      'Fenced',
      'Tainted',
      'SessionsRemaining',
      'Fencing',
      'Deregistered',
    ]);
  });

  it('loses an allocation race safely: the compare-and-swap fails and the game server is kept', () => {
    const w = new World({
      status: fresh('DRAINING'),
      node: makeNode({ label: 'ACTIVE' }),
      gameServers: [gs('r', 'Ready')],
    });
    w.webhookUp = false;
    w.execute(w.decide()); // cordoned
    const fence = w.decide();
    expect(kinds(fence)[0]).toBe('shutdownGameServer');
    w.allocate('r'); // the allocator wins between observation and the agent's patch
    w.execute(fence);
    expect(w.get('r').state).toBe('Allocated');
    w.settle();
    expect(w.get('r').podTolerates).toBe(true); // backfilled: the webhook was down
    expect(w.node.taints).toEqual([{ ...DRAIN_TAINT }]);
    expect(w.lostSessions).toEqual([]);
  });

  it('resumes correctly whatever the point a restarted agent comes back at (every step, every prefix)', () => {
    const build = () =>
      new World({
        status: fresh('DRAINING'),
        node: makeNode({ label: 'ACTIVE' }),
        gameServers: [
          gs('a', 'Allocated', { podTolerates: false }),
          gs('r', 'Ready'),
          gs('q', 'RequestReady'),
        ],
      });
    const cases = fromEveryInterruption(build, (w, reference) => {
      expect(w.node).toEqual(reference.node);
      expect(w.gameServers.map((g) => [g.name, g.state, g.podTolerates])).toEqual(
        reference.gameServers.map((g) => [g.name, g.state, g.podTolerates]),
      );
      expect(w.lostSessions).toEqual([]);
    });
    expect(cases).toBe(42);
  });

  it('never loses a session under random allocations, reuse, webhook outages, crashes and status flaps', () => {
    const outcomes = { deregistered: 0, reverted: 0, tainted: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = new SeededRandom(seed);
      const names = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'];
      const w = walkWorld(rnd, names, ['Ready', 'Allocated', 'Scheduled', 'Reserved'], 0.2);
      const operatorCordon = w.node.unschedulable;
      let status: InstanceStatus = 'ACTIVE';
      for (let step = 0; step < 120; step++) {
        const more = agentWalkStep(w, rnd, {
          seed,
          step,
          names,
          disturb: (r, g) => {
            if (r < 0.45 && g?.state === 'Scheduled') {
              g.state = 'Ready';
              g.resourceVersion += 'x';
            } else if (r < 0.5) w.webhookUp = !w.webhookUp;
            else if (r < 0.55 && step < 60)
              status = rnd.pick(['ACTIVE', 'DRAINING', 'DRAINING']) as InstanceStatus;
          },
          status: () => publishedStatus(w, rnd, status),
        });
        if (!more) break;
        if (hasDrainTaint(w.node)) outcomes.tainted++;
      }
      expect({ seed, lost: w.lostSessions }).toEqual({ seed, lost: [] });
      if (w.events.some((e) => e.reason === 'DrainReverted')) outcomes.reverted++;
      if (w.deregistered) outcomes.deregistered++;
      if (!w.deregistered) {
        // Finally FleetIQ settles on ACTIVE: the node must return to exactly how the operator left it.
        w.status = fresh('ACTIVE', w.now);
        w.settle();
        expect({ seed, unschedulable: w.node.unschedulable }).toEqual({
          seed,
          unschedulable: operatorCordon,
        });
        expect(w.node.taints).toEqual([]);
        expect(w.node.annotations[CORDONED_BY_AGENT_ANNOTATION]).toBeUndefined();
        expect(w.node.annotations[DRAIN_STARTED_AT_ANNOTATION]).toBeUndefined();
      } else {
        expect(w.gameServers.filter((g) => g.state === 'Allocated' && !g.podTerminating)).toEqual([]);
      }
    }
    // The scenarios really exercise drains that finish, drains that are reverted, and tainted nodes.
    expect(outcomes.deregistered).toBeGreaterThan(20);
    expect(outcomes.reverted).toBeGreaterThan(20);
    expect(outcomes.tainted).toBeGreaterThan(200);
  });
});

describe('decide: timing (rechecks, retries, when membership starts)', () => {
  type Phase = Exclude<DrainRecord['phase'], 'Drained'> | 'Active';
  const allocated = (opts: Partial<Parameters<typeof gs>[2]> = {}) => [gs('s', 'Allocated', opts)];
  /**
   * A node in `phase` where there is nothing to do now (decide() returns no drain action), with
   * sessions or without: the state a recheck timer exists for.
   */
  function settled(phase: Phase, sessions: boolean, mode: DecideConfig['utilizationMode']): Observation {
    const utilization = sessions || mode === 'always' ? 'UTILIZED' : 'AVAILABLE';
    const registration = { state: 'registered', utilization } as const;
    switch (phase) {
      case 'Active':
        return observation({
          status: fresh('ACTIVE'),
          node: makeNode({ label: 'ACTIVE' }),
          gameServers: sessions ? allocated() : [],
          registration,
        });
      case 'Cordoned':
      case 'Fenced':
        // A stale status holds the phase without starting or finishing anything.
        return observation({
          status: stale('DRAINING'),
          node: drainingNode(phase),
          gameServers: sessions ? allocated() : [],
          registration,
        });
      case 'Tainted':
        return observation({
          status: sessions ? fresh('DRAINING') : stale('DRAINING'),
          node: drainingNode('Tainted'),
          gameServers: sessions ? allocated() : [],
          registration,
        });
      case 'SpotEvicting':
        return observation({
          status: stale('SPOT_TERMINATING'),
          node: drainingNode('SpotEvicting'),
          gameServers: sessions ? allocated({ podTerminating: true }) : [],
          registration,
        });
      case 'Deregistered':
        return observation({
          status: fresh('DRAINING'),
          node: drainingNode('Deregistered', { deregisteredAt: T0 - 1000 }),
          gameServers: sessions ? allocated() : [],
          registration: { state: 'absent' },
        });
    }
  }
  const custom: DecideTimings = {
    drainSessionRecheckMs: 1_111,
    activeSessionRecheckMs: 2_222,
    allocationRecheckMs: 333,
    immediateRetriesOnConflict: 7,
  };
  const phases: Phase[] = ['Active', 'Cordoned', 'Fenced', 'Tainted', 'SpotEvicting', 'Deregistered'];
  const cases = phases.flatMap((phase) =>
    (['allocated', 'always'] as const).flatMap((mode) =>
      [true, false].map((sessions) => {
        // Sessions are re-read while a drain waits on them, and outside a drain only when utilization
        // follows them; never once deregistered.
        const expected =
          !sessions || phase === 'Deregistered'
            ? undefined
            : phase === 'Active'
              ? mode === 'allocated'
                ? custom.activeSessionRecheckMs
                : undefined
              : custom.drainSessionRecheckMs;
        return [phase, mode, sessions, expected] as const;
      }),
    ),
  );

  it.each(cases)(
    '%s, %s mode, sessions %s: session recheck after %s ms',
    (phase, mode, sessions, expected) => {
      const d = decide(settled(phase, sessions, mode), { ...CONFIG, utilizationMode: mode }, custom);
      expect(d.phase).toBe(phase);
      expect(d.actions).toEqual([]);
      expect(d.timing.sessionRecheckAfterMs).toBe(expected);
      expect(d.timing.allocationRecheckAfterMs).toBeUndefined();
      expect(d.timing.immediateRetriesOnConflict).toBe(7);
      // Membership (health reports) runs in every phase but Deregistered.
      expect(d.startMembership).toBe(phase !== 'Deregistered');
    },
  );

  it('schedules no session recheck while there is something to do (the next pass comes at once)', () => {
    // Tainted with sessions, but the taint is gone: the decision acts.
    const node = makeNode({ label: 'DRAINING', unschedulable: true, record: rec('Tainted') });
    const d = decide(
      observation({ status: fresh('DRAINING'), node, gameServers: allocated() }),
      CONFIG,
      custom,
    );
    expect(kinds(d)).toContain('taint');
    expect(d.timing.sessionRecheckAfterMs).toBeUndefined();
  });

  it('uses the default timings when none are given', () => {
    const d = decide(settled('Tainted', true, 'allocated'), CONFIG);
    expect(d.timing).toEqual({
      sessionRecheckAfterMs: DEFAULT_DECIDE_TIMINGS.drainSessionRecheckMs,
      immediateRetriesOnConflict: DEFAULT_DECIDE_TIMINGS.immediateRetriesOnConflict,
    });
    expect(DEFAULT_DECIDE_TIMINGS).toEqual({
      drainSessionRecheckMs: 10_000,
      activeSessionRecheckMs: 60_000,
      allocationRecheckMs: 1_000,
      immediateRetriesOnConflict: 3,
    });
  });

  it.each(phases)('re-reads a game server whose allocation may be pending (%s), acting or not', (phase) => {
    const obs = settled(phase, true, 'allocated');
    const pending = gs('p', 'Ready', { podTolerates: true, allocationPending: true });
    const d = decide({ ...obs, gameServers: [...obs.gameServers, pending] }, CONFIG, custom);
    expect(d.timing.allocationRecheckAfterMs).toBe(333);
    const without = decide(
      { ...obs, gameServers: [...obs.gameServers, { ...pending, allocationPending: false }] },
      CONFIG,
      custom,
    );
    expect(without.timing.allocationRecheckAfterMs).toBeUndefined();
  });

  it('does not start membership on the decision that deregisters', () => {
    const d = decide(observation({ status: fresh('DRAINING'), node: drainingNode('Tainted') }), CONFIG);
    expect(kinds(d)).toContain('deregister');
    expect(d.phase).toBe('Deregistered');
    expect(d.startMembership).toBe(false);
  });

  it('stops the steps at a cordon that fencing follows: the fence is decided again on newer reads', () => {
    const d = decide(
      observation({
        status: fresh('SPOT_TERMINATING'),
        node: makeNode({ label: 'ACTIVE' }),
        gameServers: [gs('r', 'Ready'), gs('a', 'Allocated')],
      }),
      CONFIG,
    );
    const all = planSteps(d.actions);
    expect(all.map((s) => s.kind)).toEqual(['patchNode', 'fence', 'patchNode']);
    expect(d.steps).toEqual([all[0]]);
    expect(d.steps[0].actions.map((a) => a.kind)).toContain('cordon');
    expect(d.steps[0].events.map((e) => e.reason)).toEqual(['SpotTerminating', 'Cordoned']);
  });

  it('runs every step when nothing is fenced after the cordon', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: makeNode({ label: 'ACTIVE' }),
        gameServers: allocated(),
      }),
      CONFIG,
    );
    expect(kinds(d)).toContain('cordon');
    expect(d.steps).toEqual(planSteps(d.actions));
  });
});
