// decide() on EC2 rebalance recommendations: the Event raised once per recommendation (remembered on
// the Node), and in `drain` mode the drain it starts (ending at Drained, the instance registered), how
// it is reverted when neither FleetIQ nor a Spot notice follows within the window, and how it yields
// to FleetIQ DRAINING, a Spot notice and an operator's request.
import { describe, expect, it } from '@jest/globals';
import { SeededRandom } from '../../sandbox/clock.js';
import { INSTANCE_STATUS_LABEL, type InstanceStatus } from '../../shared/contract.js';
import {
  DRAIN_PHASE_LABEL,
  DRAIN_REQUEST_ANNOTATION,
  REBALANCE_SEEN_ANNOTATION,
  hasDrainTaint,
  type DrainRecord,
} from '../../shared/drain-contract.js';
import { decide, type DecideConfig } from '../../reconciler/decide.js';
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
  walkWorld,
  agentWalkStep,
  publishedStatus,
  toggleDrainRequest,
} from './world.js';

const DRAIN: DecideConfig = { ...CONFIG, rebalanceAction: 'drain' };
const WINDOW = DRAIN.rebalanceDrainWindowMs;
const record = drainRecordOf;
const reasons = eventReasonsOf;
const rec = (phase: DrainRecord['phase'], extra: Partial<DrainRecord> = {}) =>
  drainRecord('rebalance', phase, extra);
/** A recommendation issued `agoMs` before T0. */
const recommendation = (agoMs = 0) => ({ noticeTime: T0 - agoMs });

function world(o: { gameServers?: ReturnType<typeof gs>[]; unschedulable?: boolean } = {}): World {
  const w = new World({
    status: fresh('ACTIVE'),
    node: makeNode({ label: 'ACTIVE', unschedulable: o.unschedulable ?? false }),
    gameServers: o.gameServers ?? [gs('a', 'Allocated', { podTolerates: false }), gs('r', 'Ready')],
    registration: { state: 'registered', utilization: 'UTILIZED' },
  });
  w.rebalance = recommendation();
  return w;
}

/** Keeps FleetIQ's status fresh while time passes. */
function advance(w: World, ms: number, status: InstanceStatus = 'ACTIVE'): void {
  w.now += ms;
  w.status = fresh(status, w.now);
}

describe('decide: a rebalance recommendation in event mode (only an Event)', () => {
  it('raises RebalanceRecommendation once, remembered on the Node, and does nothing else', () => {
    const w = world();
    w.settle();
    expect(reasons(w)).toEqual(['RebalanceRecommendation']);
    expect(w.events[0]!.message).toMatch(/REBALANCE_RECOMMENDATION=event/);
    expect(w.node.annotations[REBALANCE_SEEN_ANNOTATION]).toBe(new Date(T0).toISOString());
    expect(record(w)).toBeNull();
    expect(w.node.unschedulable).toBe(false);
    // The recommendation stays in metadata: a restarted agent reads the Node and stays quiet.
    const restarted = decide(w.observe(), CONFIG);
    expect(restarted.actions).toEqual([]);
    // A new recommendation (another noticeTime) is a new Event.
    w.rebalance = { noticeTime: T0 + 5000 };
    w.settle();
    expect(reasons(w)).toEqual(['RebalanceRecommendation', 'RebalanceRecommendation']);
  });

  it('acknowledges in the same Node patch as whatever else the decision writes (one request)', () => {
    const w = world();
    w.status = fresh('DRAINING');
    const d = w.decide();
    expect(d.actions[0]).toEqual({ kind: 'recordRebalanceSeen', noticeTime: T0 });
    expect(d.steps[0]).toMatchObject({ kind: 'patchNode' });
    expect(d.steps[0]!.actions.map((a) => a.kind)).toContain('cordon');
    expect(d.steps[0]!.events.map((e) => e.reason)).toEqual([
      'RebalanceRecommendation',
      'FleetIQDraining',
      'Cordoned',
    ]);
  });

  it('says nothing on a deregistered node', () => {
    const d = decide(
      observation({
        status: fresh('DRAINING'),
        node: makeNode({
          label: 'DRAINING',
          unschedulable: true,
          tainted: true,
          record: rec('Deregistered'),
        }),
        rebalance: recommendation(),
      }),
      CONFIG,
    );
    expect(d.actions.filter((a) => a.kind === 'emitEvent')).toEqual([]);
  });
});

describe('decide: a rebalance recommendation in drain mode', () => {
  it('drains like DRAINING and stops at Drained, registered, its status label untouched', () => {
    const w = world();
    const phases = w.settle(DRAIN).map((d) => d.phase);
    expect(phases).toEqual(['Cordoned', 'Cordoned', 'Fenced', 'Tainted', 'Tainted']);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'rebalance', cordonedByAgent: true });
    expect(hasDrainTaint(w.node)).toBe(true);
    expect(w.get('r').state).toBe('Shutdown');
    expect(w.get('a').podTolerates).toBe(true);
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    w.endSession('a');
    w.collect();
    w.settle(DRAIN);
    expect(record(w)?.phase).toBe('Drained');
    expect(w.node.labels[DRAIN_PHASE_LABEL]).toBe('Drained');
    expect(w.deregistered).toBe(false);
    expect(w.lostSessions).toEqual([]);
    expect(reasons(w)).toEqual([
      'RebalanceRecommendation',
      'RebalanceDraining',
      'Cordoned',
      'Fencing',
      'Fenced',
      'Tainted',
      'SessionsRemaining',
      'Drained',
    ]);
    // Resting: nothing to do, but decide again when the window ends.
    const d = w.decide(DRAIN);
    expect(d).toMatchObject({ phase: 'Drained', actions: [], membership: [] });
    expect(d.wait).toEqual({ reason: 'RebalanceWindow', requeueAfterMs: WINDOW });
  });

  it('drains whatever FleetIQ says or does not say (no status, a stale one)', () => {
    for (const status of [
      undefined,
      { ...fresh('ACTIVE'), observedAt: T0 - 10 * CONFIG.statusStaleAfterMs },
    ]) {
      const w = world({ gameServers: [gs('r', 'Ready')] });
      w.status = status;
      w.settle(DRAIN);
      expect({ status, phase: record(w)?.phase }).toEqual({ status, phase: 'Drained' });
    }
  });

  it('is reverted when neither FleetIQ nor a Spot notice comes within the window, and not started again', () => {
    for (const phase of ['Cordoned', 'Fenced', 'Tainted', 'Drained'] as const) {
      const w = new World({
        status: fresh('ACTIVE'),
        node: makeNode({
          label: 'ACTIVE',
          unschedulable: true,
          tainted: phase !== 'Cordoned',
          record: rec(phase),
        }),
        gameServers: phase === 'Drained' ? [] : [gs('a', 'Allocated')],
      });
      w.rebalance = recommendation();
      // Just inside the window the drain goes on (or rests), waking at the window's end.
      advance(w, WINDOW - 1000);
      const inside = w.settle(DRAIN);
      expect(record(w)).not.toBeNull();
      expect(inside.at(-1)!.wait).toEqual({ reason: 'RebalanceWindow', requeueAfterMs: 1000 });
      advance(w, 1000);
      w.settle(DRAIN);
      expect({ phase, record: record(w) }).toEqual({ phase, record: null });
      expect(w.node.unschedulable).toBe(false);
      expect(hasDrainTaint(w.node)).toBe(false);
      expect(w.node.labels[DRAIN_PHASE_LABEL]).toBe('Active');
      expect(w.events.find((e) => e.reason === 'DrainReverted')?.message).toMatch(
        /^Neither FleetIQ DRAINING nor a Spot notice came within 1800s/,
      );
      expect(w.lostSessions).toEqual([]);
      // The recommendation is still in metadata: no new drain, no new Event.
      advance(w, 60_000);
      expect(w.decide(DRAIN).actions).toEqual([]);
    }
  });

  it('counts the window from the noticeTime, so a late or restarted agent keeps the same deadline', () => {
    const w = world({ gameServers: [gs('r', 'Ready')] });
    w.rebalance = recommendation(WINDOW - 5000);
    const d = w.decide(DRAIN);
    expect(d.phase).toBe('Cordoned');
    expect(d.wait).toEqual({ reason: 'RebalanceWindow', requeueAfterMs: 5000 });
    // Seen only after its window: an Event that says so, and no drain.
    const late = world();
    late.rebalance = recommendation(WINDOW);
    late.settle(DRAIN);
    expect(reasons(late)).toEqual(['RebalanceRecommendation']);
    expect(late.events[0]!.message).toMatch(/older than the 1800s drain window/);
    expect(record(late)).toBeNull();
  });

  it('is reverted when the recommendation leaves metadata, or when the mode becomes event', () => {
    const gone = world();
    gone.settle(DRAIN);
    gone.rebalance = undefined;
    gone.settle(DRAIN);
    expect(record(gone)).toBeNull();
    expect(gone.events.at(-1)?.message).toMatch(/^The rebalance recommendation is gone/);
    const mode = world();
    mode.settle(DRAIN);
    mode.settle(CONFIG);
    expect(record(mode)).toBeNull();
    expect(mode.events.at(-1)?.message).toMatch(/no longer drain/);
  });

  it("leaves an operator's own cordon in place when reverted", () => {
    const w = world({ unschedulable: true, gameServers: [gs('r', 'Ready')] });
    w.settle(DRAIN);
    expect(record(w)).toMatchObject({ phase: 'Drained', cordonedByAgent: false });
    advance(w, WINDOW);
    w.settle(DRAIN);
    expect(record(w)).toBeNull();
    expect(w.node.unschedulable).toBe(true);
    expect(hasDrainTaint(w.node)).toBe(false);
  });

  it('yields to a Spot notice after it: the sessions left get the notice, the instance is deregistered', () => {
    const w = world();
    w.settle(DRAIN);
    expect(record(w)?.phase).toBe('Tainted');
    w.now += 60_000;
    w.killsAllowed = true;
    w.status = { status: 'SPOT_TERMINATING', observedAt: w.now, source: 'imds' };
    w.settle(DRAIN);
    expect(record(w)).toMatchObject({ phase: 'Deregistered', reason: 'spot', startedAt: T0 });
    expect(w.get('a').podTerminating).toBe(true);
    expect(w.deregistered).toBe(true);
    expect(reasons(w)).toContain('SpotTerminating');
  });

  it('a Spot notice on a drained node has nothing left to cut: deregistered at once', () => {
    const w = world({ gameServers: [gs('r', 'Ready')] });
    w.settle(DRAIN);
    expect(record(w)?.phase).toBe('Drained');
    w.now += 60_000;
    w.status = { status: 'SPOT_TERMINATING', observedAt: w.now, source: 'imds' };
    w.settle(DRAIN);
    expect(record(w)?.phase).toBe('Deregistered');
    expect(w.lostSessions).toEqual([]);
  });

  it('is taken over by FleetIQ DRAINING, keeping its progress, and then ends in deregistration', () => {
    const w = world();
    w.settle(DRAIN);
    const startedAt = record(w)!.startedAt;
    advance(w, 5000, 'DRAINING');
    const d = w.decide(DRAIN);
    expect(d.actions.filter((a) => a.kind !== 'emitEvent' && a.kind !== 'recordActedOn')).toEqual([
      {
        kind: 'recordDrainState',
        record: expect.objectContaining({ phase: 'Tainted', reason: 'fleetiq', startedAt }),
      },
      { kind: 'label', status: 'DRAINING' },
    ]);
    w.execute(d);
    w.endSession('a');
    w.collect();
    // The window passing changes nothing now: the drain is FleetIQ's.
    advance(w, WINDOW, 'DRAINING');
    w.settle(DRAIN);
    expect(w.deregistered).toBe(true);
    expect(w.lostSessions).toEqual([]);
    expect(reasons(w)).not.toContain('DrainReverted');
  });

  it('takes a FleetIQ drain back when FleetIQ gives it up inside the window (the instance is still at risk)', () => {
    const w = new World({
      status: fresh('ACTIVE'),
      node: makeNode({
        label: 'DRAINING',
        unschedulable: true,
        tainted: true,
        record: rec('Tainted', { reason: 'fleetiq' }),
      }),
      gameServers: [gs('a', 'Allocated')],
    });
    w.rebalance = recommendation();
    w.settle(DRAIN);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'rebalance' });
    expect(w.node.labels[INSTANCE_STATUS_LABEL]).toBe('ACTIVE');
    expect(hasDrainTaint(w.node)).toBe(true);
    expect(reasons(w)).not.toContain('DrainReverted');
  });

  it('holds a FleetIQ drain whose status went stale rather than turning it into a rebalance drain', () => {
    const d = decide(
      observation({
        status: { ...fresh('DRAINING'), observedAt: T0 - 10 * CONFIG.statusStaleAfterMs },
        node: makeNode({
          label: 'DRAINING',
          unschedulable: true,
          tainted: true,
          record: rec('Tainted', { reason: 'fleetiq' }),
        }),
        rebalance: recommendation(),
      }),
      DRAIN,
    );
    expect(d.phase).toBe('Tainted');
    expect(d.actions.filter((a) => a.kind !== 'recordRebalanceSeen' && a.kind !== 'emitEvent')).toEqual([]);
  });

  it('yields to a request during it, and takes the drain back when the request is removed', () => {
    const w = world();
    w.settle(DRAIN);
    w.node.annotations[DRAIN_REQUEST_ANNOTATION] = 'drain';
    w.settle(DRAIN);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'request' });
    expect(reasons(w)).toContain('DrainRequested');
    // A request outlives the window: it holds the node after the recommendation's deadline.
    delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
    w.settle(DRAIN);
    expect(record(w)).toMatchObject({ phase: 'Tainted', reason: 'rebalance' });
    w.node.annotations[DRAIN_REQUEST_ANNOTATION] = 'drain';
    w.settle(DRAIN);
    advance(w, WINDOW);
    w.settle(DRAIN);
    expect(record(w)).toMatchObject({ reason: 'request' });
    expect(hasDrainTaint(w.node)).toBe(true);
    // Removed after the window: nothing holds the drain any more.
    delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
    w.settle(DRAIN);
    expect(record(w)).toBeNull();
    expect(w.lostSessions).toEqual([]);
  });

  it('resumes correctly whatever the point a restarted agent comes back at (every step, every prefix)', () => {
    const build = () => {
      const w = world({
        gameServers: [
          gs('a', 'Allocated', { podTolerates: false }),
          gs('r', 'Ready'),
          gs('q', 'RequestReady'),
        ],
      });
      return w;
    };
    const reference = build();
    reference.settle(DRAIN);
    const referenceEvents = reasons(reference);
    const cases = fromEveryInterruption(
      build,
      (w, ref) => {
        expect(w.node).toEqual(ref.node);
        expect(w.lostSessions).toEqual([]);
        // The recommendation's Event is raised at most once however the agent was interrupted (an
        // agent killed between the Node patch and the Event loses it, as it would any Event).
        expect(reasons(w).filter((r) => r === 'RebalanceRecommendation').length).toBeLessThanOrEqual(1);
      },
      { config: DRAIN, prefixes: 7 },
    );
    expect(cases).toBe(48);
    expect(referenceEvents[0]).toBe('RebalanceRecommendation');
    // And the revert after the window, from every prefix of its decision.
    for (let prefix = 0; prefix <= 5; prefix++) {
      const w = build();
      w.settle(DRAIN);
      advance(w, WINDOW);
      w.execute(w.decide(DRAIN), prefix);
      w.settle(DRAIN);
      expect({ prefix, record: record(w) }).toEqual({ prefix, record: null });
      expect(w.node.unschedulable).toBe(false);
      expect(hasDrainTaint(w.node)).toBe(false);
    }
  });

  it('never loses a session while recommendations, FleetIQ flaps, Spot notices, allocations and crashes mix', () => {
    const outcomes = { drained: 0, reverted: 0, spot: 0, fleetiq: 0 };
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = new SeededRandom(seed);
      const names = ['g0', 'g1', 'g2', 'g3', 'g4'];
      const w = walkWorld(rnd, names, ['Ready', 'Allocated', 'Scheduled'], 0.2);
      const operatorCordon = w.node.unschedulable;
      const window = rnd.pick([20_000, 60_000]);
      const config: DecideConfig = { ...DRAIN, rebalanceDrainWindowMs: window };
      let status: InstanceStatus = 'ACTIVE';
      let spot = false;
      for (let step = 0; step < 100; step++) {
        const more = agentWalkStep(w, rnd, {
          seed,
          step,
          names,
          config,
          disturb: (r) => {
            if (r < 0.46) w.rebalance = rnd.next() < 0.8 ? { noticeTime: w.now } : undefined;
            else if (r < 0.49) toggleDrainRequest(w, 'drain');
            else if (r < 0.52 && step < 60)
              status = rnd.pick(['ACTIVE', 'ACTIVE', 'DRAINING']) as InstanceStatus;
            else if (r < 0.525 && step > 20) spot = true;
          },
          status: () => {
            w.killsAllowed = spot;
            return spot
              ? { status: 'SPOT_TERMINATING', source: 'imds', observedAt: w.now }
              : publishedStatus(w, rnd, status);
          },
        });
        if (!more) break;
        if (record(w)?.phase === 'Drained' && record(w)?.reason === 'rebalance') outcomes.drained++;
      }
      expect({ seed, lost: w.lostSessions }).toEqual({ seed, lost: [] });
      if (w.events.some((e) => e.reason === 'DrainReverted' && /rebalance/.test(e.message)))
        outcomes.reverted++;
      if (w.deregistered) {
        if (spot) outcomes.spot++;
        else outcomes.fleetiq++;
      } else {
        // Finally no request, no recommendation in force, FleetIQ ACTIVE: the node is as the operator left it.
        delete w.node.annotations[DRAIN_REQUEST_ANNOTATION];
        w.now += window;
        w.status = fresh('ACTIVE', w.now);
        w.settle(config);
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
    expect(outcomes.spot).toBeGreaterThan(0);
    expect(outcomes.fleetiq).toBeGreaterThan(0);
  });
});
