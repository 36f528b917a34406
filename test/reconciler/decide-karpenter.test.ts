// decide() on Karpenter's disruption taint (karpenter.sh/disrupted), which counts as a drain request when
// --karpenter-drains is on: off by default; the same drain machine as an operator's request (fence at
// once, sessions finish, Drained, the instance registered); undone when Karpenter takes the taint off;
// combined with an operator's request, FleetIQ and Spot notices by the same precedence.
import { describe, expect, it } from '@jest/globals';
import { SeededRandom } from '../../sandbox/clock.js';
import { DRAIN_TAINT, INSTANCE_STATUS_LABEL, type InstanceStatus } from '../../shared/contract.js';
import {
  DRAIN_PHASE_LABEL,
  DRAIN_REQUEST_ANNOTATION,
  hasDrainTaint,
  type DrainRecord,
  type NodeView,
} from '../../shared/drain-contract.js';
import { decide, type DecideConfig } from '../../reconciler/decide.js';
import { KARPENTER_DISRUPTED_TAINT_KEY, karpenterDisrupting } from '../../reconciler/karpenter.js';
import {
  CONFIG,
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
  toggleDrainRequest,
} from './world.js';

const ON: DecideConfig = { ...CONFIG, karpenterDrains: true };
const DISRUPTED = { key: KARPENTER_DISRUPTED_TAINT_KEY, effect: 'NoSchedule' };
const stale = (status: InstanceStatus) => staleStatus(status);
const record = drainRecordOf;
const reasons = eventReasonsOf;
const rec = (phase: DrainRecord['phase'], extra: Partial<DrainRecord> = {}) =>
  drainRecord('request', phase, extra);

/** A node Karpenter is disrupting (its taint added to whatever else the node carries). */
function disrupted(node: NodeView = makeNode({ label: 'ACTIVE' })): NodeView {
  return { ...node, taints: [...node.taints, { ...DISRUPTED }] };
}
const untaintKarpenter = (w: World) => {
  w.node.taints = w.node.taints.filter((t) => t.key !== KARPENTER_DISRUPTED_TAINT_KEY);
};

describe('karpenterDisrupting', () => {
  it("sees Karpenter's disruption taint whatever its value or effect, and no other taint", () => {
    expect(karpenterDisrupting({ taints: [DISRUPTED] })).toBe(true);
    expect(
      karpenterDisrupting({ taints: [{ key: KARPENTER_DISRUPTED_TAINT_KEY, effect: 'NoExecute' }] }),
    ).toBe(true);
    expect(
      karpenterDisrupting({
        taints: [{ key: KARPENTER_DISRUPTED_TAINT_KEY, value: 'x', effect: 'NoSchedule' }],
      }),
    ).toBe(true);
    expect(karpenterDisrupting({ taints: [] })).toBe(false);
    expect(karpenterDisrupting({ taints: [{ ...DRAIN_TAINT }] })).toBe(false);
    // Karpenter's other taints say nothing about disruption.
    expect(karpenterDisrupting({ taints: [{ key: 'karpenter.sh/unregistered', effect: 'NoExecute' }] })).toBe(
      false,
    );
  });
});

describe('decide: Karpenter disrupting the node', () => {
  it('is ignored unless --karpenter-drains is on (the default is off)', () => {
    for (const config of [CONFIG, { ...CONFIG, karpenterDrains: false }]) {
      const d = decide(
        observation({ status: fresh('ACTIVE'), node: disrupted(), gameServers: [gs('r', 'Ready')] }),
        config,
      );
      expect(d.phase).toBe('Active');
      expect(d.actions.filter((a) => a.kind !== 'recordActedOn' && a.kind !== 'recordDrainState')).toEqual(
        [],
      );
    }
  });

  it('drains like a drain request: Ready game servers go at once, sessions finish, then Drained, still registered', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: disrupted(),
      gameServers: [gs('a', 'Allocated', { podTolerates: false }), gs('r', 'Ready'), gs('s', 'Scheduled')],
      registration: { state: 'registered', utilization: 'UTILIZED' },
    });
    w.settle(ON);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'request', cordonedByAgent: true });
    expect(w.get('r').state).toBe('Shutdown');
    expect(w.get('s').state).toBe('Shutdown');
    expect(w.get('a')).toMatchObject({ state: 'Allocated', podTolerates: true, podTerminating: false });
    expect(w.node.unschedulable).toBe(true);
    // Karpenter's taint stays beside the agent's own.
    expect(w.node.taints).toEqual([{ ...DISRUPTED }, { ...DRAIN_TAINT }]);
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    const opening = w.events.find((e) => e.reason === 'DrainRequested');
    expect(opening?.message).toMatch(/^Drain requested by Karpenter \(taint karpenter\.sh\/disrupted\)/);

    w.endSession('a');
    w.collect();
    w.settle(ON);
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
    expect(w.decide(ON)).toMatchObject({ phase: 'Drained', actions: [], membership: [] });
  });

  it('honours the maximum wait and, only when configured, forces the last sessions off', () => {
    const build = () =>
      new World({
        status: fresh('ACTIVE'),
        node: disrupted(),
        gameServers: [gs('a', 'Allocated')],
      });
    const w = build();
    w.settle(ON);
    w.now += ON.drainMaxWaitMs;
    w.settle(ON);
    expect(w.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'DrainMaxWaitExceeded' });
    expect(w.get('a').podTerminating).toBe(false);

    const forced = build();
    const config = { ...ON, forceAfterMaxWait: true };
    forced.killsAllowed = true;
    forced.settle(config);
    forced.now += config.drainMaxWaitMs;
    forced.settle(config);
    expect(reasons(forced)).toContain('DrainForced');
    expect(forced.get('a').podTerminating).toBe(true);
  });

  it('is undone at any phase when Karpenter takes its taint off (a replacement that failed to start)', () => {
    for (const phase of ['Cordoned', 'Fenced', 'Tainted', 'Drained'] as const) {
      for (const status of [fresh('ACTIVE'), undefined, stale('ACTIVE')]) {
        const w = new World({
          ...(status ? { status } : {}),
          node: disrupted(
            makeNode({
              label: 'ACTIVE',
              unschedulable: true,
              tainted: phase !== 'Cordoned',
              record: rec(phase),
            }),
          ),
          gameServers: phase === 'Drained' ? [] : [gs('a', 'Allocated')],
        });
        // While the taint is on, the drain goes on.
        w.settle(ON);
        expect(record(w)).not.toBeNull();
        untaintKarpenter(w);
        w.settle(ON);
        const where = { phase, status: status?.observedAt };
        expect({ ...where, record: record(w) }).toEqual({ ...where, record: null });
        expect({ ...where, unschedulable: w.node.unschedulable }).toEqual({ ...where, unschedulable: false });
        expect({ ...where, taints: w.node.taints }).toEqual({ ...where, taints: [] });
        expect(w.events.find((e) => e.reason === 'DrainReverted')?.message).toMatch(
          /^The drain request was removed \(neither gamelift\.status\/drain-request nor Karpenter's karpenter\.sh\/disrupted taint is on the node/,
        );
        expect(w.lostSessions).toEqual([]);
      }
    }
  });

  it('keeps a drain going while either the operator or Karpenter asks for it; the operator says how it ends', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: disrupted(makeNode({ label: 'ACTIVE', annotations: { [DRAIN_REQUEST_ANNOTATION]: 'drain' } })),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle(ON);
    expect(record(w)?.phase).toBe('Tainted');
    expect(w.events.find((e) => e.reason === 'DrainRequested')?.message).toMatch(/drain-request=drain/);
    // The operator withdraws: Karpenter still asks, so nothing is undone and no second drain opens.
    delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
    w.settle(ON);
    expect(record(w)?.phase).toBe('Tainted');
    expect(reasons(w).filter((r) => r === 'DrainRequested' || r === 'DrainReverted')).toEqual([
      'DrainRequested',
    ]);
    // The operator asks for deregistration: Karpenter's drain ends in it.
    w.node.annotations[DRAIN_REQUEST_ANNOTATION] = 'deregister';
    w.endSession('a');
    w.collect();
    w.settle(ON);
    expect(w.deregistered).toBe(true);
    expect(record(w)?.phase).toBe('Deregistered');
    // Deregistered on request: FleetIQ's ACTIVE does not bring it back while Karpenter's taint is on.
    delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
    w.now += 60_000;
    w.status = fresh('ACTIVE', w.now);
    expect(w.decide(ON)).toMatchObject({ phase: 'Deregistered', membership: [] });
  });

  it('yields to FleetIQ DRAINING (then ends in deregistration) and to a Spot notice, keeping its progress', () => {
    const w = new World({ status: fresh('ACTIVE'), node: disrupted(), gameServers: [gs('a', 'Allocated')] });
    w.settle(ON);
    const started = record(w)!.startedAt;
    w.now += 5000;
    w.status = fresh('DRAINING', w.now);
    w.settle(ON);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'fleetiq', startedAt: started });
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('DRAINING');
    w.endSession('a');
    w.collect();
    w.settle(ON);
    expect(w.deregistered).toBe(true);

    const spot = new World({
      status: fresh('ACTIVE'),
      node: disrupted(),
      gameServers: [gs('a', 'Allocated')],
    });
    spot.killsAllowed = true;
    spot.settle(ON);
    spot.now += 5000;
    spot.status = fresh('SPOT_TERMINATING', spot.now);
    spot.settle(ON);
    expect(record(spot)).toMatchObject({ reason: 'spot' });
    expect(spot.get('a').podTerminating).toBe(true);
  });

  it('holds a FleetIQ drain whose status went stale rather than turning it into a Karpenter drain', () => {
    const w = new World({
      status: stale('DRAINING'),
      node: disrupted(
        makeNode({
          label: 'DRAINING',
          unschedulable: true,
          tainted: true,
          record: rec('Tainted', { reason: 'fleetiq' }),
        }),
      ),
      gameServers: [gs('a', 'Allocated')],
    });
    w.settle(ON);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'fleetiq' });
    expect(reasons(w)).not.toContain('DrainRequested');
  });

  it('resumes correctly whatever the point a restarted agent comes back at (every step, every prefix)', () => {
    const build = () =>
      new World({
        status: fresh('ACTIVE'),
        node: disrupted(),
        gameServers: [
          gs('a', 'Allocated', { podTolerates: false }),
          gs('r', 'Ready'),
          gs('q', 'RequestReady'),
        ],
      });
    const cases = fromEveryInterruption(
      build,
      (w, reference) => {
        expect(w.node).toEqual(reference.node);
        expect(w.lostSessions).toEqual([]);
      },
      { config: ON },
    );
    expect(cases).toBe(42);
  });

  it('never loses a session while Karpenter taints and untaints among requests, FleetIQ flaps, allocations and crashes', () => {
    let drained = 0;
    let reverted = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const rnd = new SeededRandom(seed);
      const names = ['g0', 'g1', 'g2', 'g3'];
      const w = walkWorld(rnd, names, ['Ready', 'Allocated', 'Scheduled']);
      let status: InstanceStatus = 'ACTIVE';
      for (let step = 0; step < 80; step++) {
        const more = agentWalkStep(w, rnd, {
          seed,
          step,
          names,
          config: ON,
          disturb: (r) => {
            if (r < 0.5) {
              if (karpenterDisrupting(w.node)) untaintKarpenter(w);
              else w.node.taints = [...w.node.taints, { ...DISRUPTED }];
            } else if (r < 0.54) toggleDrainRequest(w, 'drain');
            else if (r < 0.57 && step < 40)
              status = rnd.pick(['ACTIVE', 'ACTIVE', 'DRAINING']) as InstanceStatus;
          },
          status: () => ({ status, source: 'redis', observedAt: w.now }),
        });
        if (!more) break;
        if (record(w)?.phase === 'Drained') drained++;
      }
      expect({ seed, lost: w.lostSessions }).toEqual({ seed, lost: [] });
      if (w.events.some((e) => e.reason === 'DrainReverted')) reverted++;
      if (!w.deregistered) {
        // Finally nobody asks and FleetIQ says ACTIVE: the node is as it was, Karpenter's taint aside.
        untaintKarpenter(w);
        delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
        w.status = fresh('ACTIVE', w.now);
        w.settle(ON);
        expect({ seed, record: record(w), taints: w.node.taints, cordon: w.node.unschedulable }).toEqual({
          seed,
          record: null,
          taints: [],
          cordon: false,
        });
        expect(hasDrainTaint(w.node)).toBe(false);
      }
    }
    expect(drained).toBeGreaterThan(0);
    expect(reverted).toBeGreaterThan(0);
  });
});
