// decide() on drains FleetIQ did not ask for: an operator's drain request (the drain-request annotation),
// how it ends (Drained, or Deregistered when asked), how it is withdrawn, and how it yields to FleetIQ and
// Spot notices and they to it.
import { describe, expect, it } from '@jest/globals';
import { SeededRandom } from '../../sandbox/clock.js';
import { DRAIN_TAINT, INSTANCE_STATUS_LABEL, type InstanceStatus } from '../../shared/contract.js';
import {
  DRAIN_PHASE_LABEL,
  DRAIN_REQUEST_ANNOTATION,
  hasDrainTaint,
  type DrainRecord,
} from '../../shared/drain-contract.js';
import { decide } from '../../reconciler/decide.js';
import {
  CONFIG,
  T0,
  World,
  fresh,
  gs,
  makeNode,
  observation,
  drainRecord,
  drainRecordOf,
  eventReasonsOf,
  fromEveryInterruption,
  staleStatus,
  walkWorld,
  agentWalkStep,
  publishedStatus,
  toggleDrainRequest,
} from './world.js';

const requested = (mode = 'drain') => ({ [DRAIN_REQUEST_ANNOTATION]: mode });
const stale = (status: InstanceStatus) => staleStatus(status);
const record = drainRecordOf;
const reasons = eventReasonsOf;
const rec = (phase: DrainRecord['phase'], extra: Partial<DrainRecord> = {}) =>
  drainRecord('request', phase, extra);

describe('decide: an operator drain request', () => {
  it('drains like DRAINING and stops at Drained, the instance registered, its status label untouched', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({ label: 'ACTIVE', annotations: requested() }),
      gameServers: [gs('a', 'Allocated', { podTolerates: false }), gs('r', 'Ready'), gs('s', 'Scheduled')],
      registration: { state: 'registered', utilization: 'UTILIZED' },
    });
    const phases = w.settle().map((d) => d.phase);
    expect(phases).toEqual(['Cordoned', 'Cordoned', 'Fenced', 'Tainted', 'Tainted']);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'request', cordonedByAgent: true });
    expect(w.node.unschedulable).toBe(true);
    expect(hasDrainTaint(w.node)).toBe(true);
    expect(w.get('r').state).toBe('Shutdown');
    expect(w.get('a').podTolerates).toBe(true);
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');

    w.endSession('a');
    w.collect();
    w.settle();
    expect(record(w)?.phase).toBe('Drained');
    expect(w.node.labels[DRAIN_PHASE_LABEL]).toBe('Drained');
    expect(w.deregistered).toBe(false);
    expect(w.registration.state).toBe('registered');
    expect(w.lostSessions).toEqual([]);
    expect(reasons(w)).toEqual([
      'DrainRequested',
      'Cordoned',
      'Fencing',
      'Fenced',
      'Tainted',
      'SessionsRemaining',
      'Drained',
    ]);
    // Drained is a resting state: nothing more to do, however often the agent looks.
    expect(w.decide()).toMatchObject({ phase: 'Drained', actions: [], membership: [] });
  });

  it('starts, progresses and finishes whatever FleetIQ says or does not say (no status, a stale one)', () => {
    for (const status of [undefined, stale('ACTIVE'), stale('DRAINING')]) {
      const w = new World({
        ...(status ? { status } : {}),
        node: makeNode({ label: 'ACTIVE', annotations: requested() }),
        gameServers: [gs('r', 'Ready')],
      });
      w.settle();
      expect({ status, phase: record(w)?.phase }).toEqual({ status, phase: 'Drained' });
      expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    }
  });

  it('reads any value but deregister as drain', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({ label: 'ACTIVE', annotations: requested('please') }),
    });
    w.settle();
    expect(record(w)?.phase).toBe('Drained');
    expect(w.deregistered).toBe(false);
  });

  it('deregisters once empty when the request says deregister, and FleetIQ ACTIVE does not bring it back', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({ label: 'ACTIVE', annotations: requested('deregister') }),
      gameServers: [gs('a', 'Allocated')],
      registration: { state: 'registered', utilization: 'UTILIZED' },
    });
    w.settle();
    expect(w.deregistered).toBe(false);
    w.endSession('a');
    w.collect();
    w.settle();
    expect(w.deregistered).toBe(true);
    expect(record(w)?.phase).toBe('Deregistered');
    expect(w.events.at(-1)?.message).toMatch(/left to be terminated/);

    // FleetIQ never stopped saying ACTIVE: while the request stands, that is no reason to come back.
    w.now += 60_000;
    w.status = fresh('ACTIVE', w.now);
    const d = w.decide();
    expect(d.phase).toBe('Deregistered');
    expect(d.membership).toEqual([]);
    expect(d.startMembership).toBe(false);

    // Left alone too long, it is reported stranded, with what to do.
    w.now += CONFIG.strandedAfterMs;
    w.status = fresh('ACTIVE', w.now);
    w.settle();
    expect(w.events.at(-1)).toMatchObject({ reason: 'NodeStranded', type: 'Warning' });
    expect(w.events.at(-1)?.message).toMatch(/deregistered on request/);

    // The request removed: the next fresh ACTIVE registers it again and undoes the drain.
    delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
    w.now += 1000;
    w.status = fresh('ACTIVE', w.now);
    w.settle();
    expect(record(w)).toBeNull();
    expect(w.node.unschedulable).toBe(false);
    expect(hasDrainTaint(w.node)).toBe(false);
    expect(w.registration.state).toBe('registered');
    expect(reasons(w)).toContain('Reregistered');
  });

  it('is undone when the request is removed, at any phase, without waiting for a FleetIQ status', () => {
    for (const phase of ['Cordoned', 'Fenced', 'Tainted', 'Drained'] as const) {
      for (const status of [fresh('ACTIVE'), undefined, stale('ACTIVE')]) {
        const w = new World({
          ...(status ? { status } : {}),
          node: makeNode({
            label: 'ACTIVE',
            unschedulable: true,
            tainted: phase !== 'Cordoned',
            record: rec(phase),
          }),
          gameServers: phase === 'Drained' ? [] : [gs('a', 'Allocated')],
        });
        w.settle();
        const where = { phase, status: status?.observedAt };
        expect({ ...where, record: record(w) }).toEqual({ ...where, record: null });
        expect({ ...where, unschedulable: w.node.unschedulable }).toEqual({ ...where, unschedulable: false });
        expect({ ...where, tainted: hasDrainTaint(w.node) }).toEqual({ ...where, tainted: false });
        expect(w.node.labels[DRAIN_PHASE_LABEL]).toBe('Active');
        expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
        expect(w.events.find((e) => e.reason === 'DrainReverted')?.message).toMatch(
          /^The drain request was removed/,
        );
        expect(w.lostSessions).toEqual([]);
      }
    }
  });

  it("leaves an operator's own cordon in place when the request is removed", () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({ label: 'ACTIVE', unschedulable: true, annotations: requested() }),
      gameServers: [gs('r', 'Ready')],
    });
    w.settle();
    expect(record(w)).toMatchObject({ phase: 'Drained', cordonedByAgent: false });
    delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
    w.settle();
    expect(record(w)).toBeNull();
    expect(w.node.unschedulable).toBe(true);
    expect(hasDrainTaint(w.node)).toBe(false);
  });

  it('is taken over by FleetIQ DRAINING, keeping its progress: then it ends in deregistration, request or not', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({ label: 'ACTIVE', annotations: requested() }),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle();
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'request' });
    const startedAt = record(w)!.startedAt;

    w.now += 5000;
    w.status = fresh('DRAINING', w.now);
    const d = w.decide();
    expect(d.actions.filter((a) => a.kind !== 'emitEvent' && a.kind !== 'recordActedOn')).toEqual([
      {
        kind: 'recordDrainState',
        record: expect.objectContaining({ phase: 'Tainted', reason: 'fleetiq', startedAt }),
      },
      { kind: 'label', status: 'DRAINING' },
    ]);
    w.execute(d);
    expect(reasons(w)).toContain('FleetIQDraining');

    // The operator withdraws the request: FleetIQ's drain goes on.
    delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
    w.settle();
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'fleetiq' });
    w.endSession('a');
    w.collect();
    w.settle();
    expect(w.deregistered).toBe(true);
    expect(w.lostSessions).toEqual([]);
  });

  it('holds a FleetIQ drain whose status went stale rather than turning it into a request drain', () => {
    const d = decide(
      observation({
        status: stale('DRAINING'),
        node: makeNode({
          label: 'DRAINING',
          unschedulable: true,
          tainted: true,
          record: rec('Tainted', { reason: 'fleetiq' }),
          annotations: requested(),
        }),
        gameServers: [],
      }),
      CONFIG,
    );
    expect(d).toMatchObject({ phase: 'Tainted', actions: [] });
  });

  it('takes over a FleetIQ drain that FleetIQ gives up (ACTIVE): no revert, the status label back to ACTIVE', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({
        label: 'DRAINING',
        unschedulable: true,
        tainted: true,
        record: rec('Tainted', { reason: 'fleetiq' }),
        annotations: requested(),
      }),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle();
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'request' });
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    expect(w.node.unschedulable).toBe(true);
    expect(hasDrainTaint(w.node)).toBe(true);
    expect(reasons(w)).toEqual(['DrainRequested']);
  });

  it('yields to a Spot notice, which evicts within the notice as always', () => {
    const w = new World({
      status: { status: 'SPOT_TERMINATING', observedAt: T0, source: 'imds' },
      node: makeNode({
        label: 'ACTIVE',
        unschedulable: true,
        tainted: true,
        record: rec('Drained'),
        annotations: requested(),
      }),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle();
    expect(record(w)).toMatchObject({ phase: 'Deregistered', reason: 'spot' });
    expect(w.get('a').podTerminating).toBe(true);
  });

  it('goes back to Tainted and waits when a session turns up on a drained node', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({
        label: 'ACTIVE',
        unschedulable: true,
        tainted: true,
        record: rec('Drained'),
        annotations: requested(),
      }),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle();
    expect(record(w)?.phase).toBe('Tainted');
    w.endSession('a');
    w.collect();
    w.settle();
    expect(record(w)?.phase).toBe('Drained');
    expect(w.lostSessions).toEqual([]);
  });

  it('resumes correctly whatever the point a restarted agent comes back at (every step, every prefix)', () => {
    const build = () =>
      new World({
        status: fresh('ACTIVE'),
        node: makeNode({ label: 'ACTIVE', annotations: requested() }),
        gameServers: [
          gs('a', 'Allocated', { podTolerates: false }),
          gs('r', 'Ready'),
          gs('q', 'RequestReady'),
        ],
      });
    const cases = fromEveryInterruption(build, (w, reference) => {
      expect(w.node).toEqual(reference.node);
      expect(w.lostSessions).toEqual([]);
    });
    expect(cases).toBe(42);
  });

  it('never loses a session while requests come and go among FleetIQ flaps, allocations and crashes', () => {
    const outcomes = { drained: 0, reverted: 0, deregistered: 0 };
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = new SeededRandom(seed);
      const names = ['g0', 'g1', 'g2', 'g3', 'g4'];
      const w = walkWorld(rnd, names, ['Ready', 'Allocated', 'Scheduled'], 0.2);
      const operatorCordon = w.node.unschedulable;
      let status: InstanceStatus = 'ACTIVE';
      for (let step = 0; step < 100; step++) {
        const more = agentWalkStep(w, rnd, {
          seed,
          step,
          names,
          disturb: (r) => {
            if (r < 0.48) toggleDrainRequest(w, rnd.pick(['drain', 'drain', 'deregister']));
            else if (r < 0.52 && step < 50)
              status = rnd.pick(['ACTIVE', 'ACTIVE', 'DRAINING']) as InstanceStatus;
          },
          status: () => publishedStatus(w, rnd, status),
        });
        if (!more) break;
        if (record(w)?.phase === 'Drained') outcomes.drained++;
      }
      expect({ seed, lost: w.lostSessions }).toEqual({ seed, lost: [] });
      if (w.events.some((e) => e.reason === 'DrainReverted')) outcomes.reverted++;
      if (w.deregistered) outcomes.deregistered++;
      else {
        // Finally no request and FleetIQ ACTIVE: the node returns to exactly how the operator left it.
        delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
        w.status = fresh('ACTIVE', w.now);
        w.settle();
        expect({ seed, unschedulable: w.node.unschedulable }).toEqual({
          seed,
          unschedulable: operatorCordon,
        });
        expect({ seed, taints: w.node.taints }).toEqual({ seed, taints: [] });
        expect({ seed, record: record(w) }).toEqual({ seed, record: null });
      }
    }
    // The random walk reaches every ending, so the assertions above were exercised on each.
    expect(outcomes.drained).toBeGreaterThan(0);
    expect(outcomes.reverted).toBeGreaterThan(0);
    expect(outcomes.deregistered).toBeGreaterThan(0);
  });
});

describe('decide: the drain taint a request leaves', () => {
  it('is the drain taint itself (the same toleration keeps sessions through any drain)', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({ label: 'ACTIVE', annotations: requested() }),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle();
    expect(w.node.taints).toEqual([{ ...DRAIN_TAINT }]);
  });
});
