// The rolling drain's planner (cli/drain-plan.ts): which nodes to request next given only what the
// cluster shows, for every node state, both modes, and a rollout replayed step by step as the cluster
// would move (nodes drained, replaced, added, stuck), checking max-unavailable at every step.
import { describe, expect, it } from '@jest/globals';
import {
  isDone,
  isUnavailable,
  planRollout,
  type RolloutNode,
  type RolloutOptions,
} from '../../cli/drain-plan.js';
import { DRAIN_PHASES, type DrainPhase, type DrainRequestMode } from '../../shared/drain-contract.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const HOUR = 3_600_000;
const opts = (o: Partial<RolloutOptions> = {}): RolloutOptions => ({
  maxUnavailable: 1,
  mode: 'drain',
  now: NOW,
  stuckAfterMs: HOUR,
  ...o,
});
const node = (name: string, o: Partial<RolloutNode> = {}): RolloutNode => ({
  name,
  phase: 'Active',
  sessions: 0,
  ...o,
});

describe('node states', () => {
  const REQUESTS: Array<DrainRequestMode | undefined> = [undefined, 'drain', 'deregister'];
  const MODES: DrainRequestMode[] = ['drain', 'deregister'];

  it('is done on Deregistered whatever asked for it, and on Drained only for a drain request in drain mode', () => {
    for (const phase of DRAIN_PHASES)
      for (const request of REQUESTS)
        for (const mode of MODES) {
          const expected =
            phase === 'Deregistered' || (phase === 'Drained' && mode === 'drain' && request === 'drain');
          expect([phase, request, mode, isDone({ phase, request }, mode)]).toEqual([
            phase,
            request,
            mode,
            expected,
          ]);
        }
  });

  it('is unavailable when not done and requested or in any drain phase; waiting only when Active and unrequested', () => {
    for (const phase of DRAIN_PHASES)
      for (const request of REQUESTS)
        for (const mode of MODES) {
          const done = isDone({ phase, request }, mode);
          const expected = !done && (request !== undefined || phase !== 'Active');
          expect([phase, request, mode, isUnavailable({ phase, request }, mode)]).toEqual([
            phase,
            request,
            mode,
            expected,
          ]);
          // Exactly one of the three states.
          const waiting = !done && !expected;
          expect(waiting).toBe(phase === 'Active' && request === undefined);
        }
  });
});

describe('planRollout', () => {
  it('requests up to max-unavailable, fewest sessions first, then in natural name order', () => {
    const nodes = [
      node('ip-10-0-0-10', { sessions: 1 }),
      node('ip-10-0-0-4', { sessions: 3 }),
      node('ip-10-0-0-5', { sessions: 1 }),
      node('ip-10-0-0-6', { sessions: 0 }),
    ];
    expect(planRollout(nodes, opts({ maxUnavailable: 1 })).request).toEqual(['ip-10-0-0-6']);
    expect(planRollout(nodes, opts({ maxUnavailable: 3 })).request).toEqual([
      'ip-10-0-0-6',
      'ip-10-0-0-5',
      'ip-10-0-0-10',
    ]);
    const all = planRollout(nodes, opts({ maxUnavailable: 10 }));
    expect(all.request).toHaveLength(4);
    expect(all.unavailable).toEqual(['ip-10-0-0-4', 'ip-10-0-0-5', 'ip-10-0-0-6', 'ip-10-0-0-10']);
    expect(all.waiting).toEqual([]);
    expect(all.complete).toBe(false);
  });

  it('counts nodes draining for another reason against the budget, and requests them at no cost', () => {
    const nodes = [
      node('a'),
      node('b'),
      node('c', { phase: 'Tainted', reason: 'fleetiq', sessions: 2 }),
      node('d', { phase: 'SpotEvicting', reason: 'spot' }),
    ];
    const p = planRollout(nodes, opts({ maxUnavailable: 2 }));
    // c and d already take both slots: they get the request (so the rollout owns them once FleetIQ
    // lets go), nobody else does.
    expect(p.request).toEqual(['c', 'd']);
    expect(p.unavailable).toEqual(['c', 'd']);
    expect(p.waiting).toEqual(['a', 'b']);
    const three = planRollout(nodes, opts({ maxUnavailable: 3 }));
    expect(three.request).toEqual(['c', 'd', 'a']);
  });

  it('counts a node drained for another reason (rebalance) as unavailable until our request has it', () => {
    const nodes = [node('a'), node('b', { phase: 'Drained', reason: 'rebalance' })];
    const p = planRollout(nodes, opts());
    expect(p.states).toEqual({ a: 'waiting', b: 'unavailable' });
    expect(p.request).toEqual(['b']);
    // Once the request has taken it over, it is done and the slot frees.
    const q = planRollout(
      [node('a'), node('b', { phase: 'Drained', reason: 'request', request: 'drain' })],
      opts(),
    );
    expect(q.states).toEqual({ a: 'waiting', b: 'done' });
    expect(q.request).toEqual(['a']);
  });

  it('never requests beyond the budget when more nodes are already unavailable than allowed', () => {
    const nodes = [
      node('a', { request: 'drain', phase: 'Tainted', reason: 'request' }),
      node('b', { request: 'drain', phase: 'Cordoned', reason: 'request' }),
      node('c', { phase: 'Fenced', reason: 'fleetiq' }),
      node('d'),
    ];
    const p = planRollout(nodes, opts({ maxUnavailable: 2 }));
    expect(p.request).toEqual(['c']);
    expect(p.unavailable).toEqual(['a', 'b', 'c']);
    expect(p.waiting).toEqual(['d']);
  });

  it('does not write a request again that is already there', () => {
    const nodes = [node('a', { request: 'drain' }), node('b')];
    expect(planRollout(nodes, opts()).request).toEqual([]);
    expect(planRollout(nodes, opts({ maxUnavailable: 2 })).request).toEqual(['b']);
  });

  it('raises drain requests to deregister in deregister mode; a drain rollout leaves deregister requests alone', () => {
    const nodes = [
      node('a', { request: 'drain', phase: 'Drained', reason: 'request' }),
      node('b', { request: 'deregister', phase: 'Tainted', reason: 'request', sessions: 1 }),
    ];
    const dereg = planRollout(nodes, opts({ mode: 'deregister', maxUnavailable: 2 }));
    expect(dereg.states).toEqual({ a: 'unavailable', b: 'unavailable' });
    expect(dereg.request).toEqual(['a']);
    const drain = planRollout(nodes, opts({ mode: 'drain', maxUnavailable: 2 }));
    expect(drain.states).toEqual({ a: 'done', b: 'unavailable' });
    expect(drain.request).toEqual([]);
  });

  it('is complete when every selected node is done, and when none is selected', () => {
    expect(planRollout([], opts()).complete).toBe(true);
    expect(planRollout([], opts()).request).toEqual([]);
    const p = planRollout(
      [
        node('a', { request: 'drain', phase: 'Drained', reason: 'request' }),
        node('b', { phase: 'Deregistered', reason: 'fleetiq' }),
      ],
      opts(),
    );
    expect(p.complete).toBe(true);
    expect(p.done).toEqual(['a', 'b']);
    expect(p.request).toEqual([]);
  });

  it('reports a node stuck past the timeout, from its drain start or else its request, and keeps its slot', () => {
    const nodes = [
      node('a', {
        request: 'drain',
        phase: 'Tainted',
        reason: 'request',
        sessions: 2,
        requestedAt: NOW - 3 * HOUR,
        drainStartedAt: NOW - 2 * HOUR,
      }),
      // No agent acted yet: measured from the request.
      node('b', { request: 'drain', requestedAt: NOW - HOUR - 1 }),
      // Not long enough yet.
      node('c', { request: 'drain', phase: 'Cordoned', reason: 'request', drainStartedAt: NOW - HOUR + 1 }),
      // No time known at all: never reported (nothing to measure from).
      node('d', { request: 'drain' }),
      node('e'),
    ];
    const p = planRollout(nodes, opts({ maxUnavailable: 2 }));
    expect(p.stuck).toEqual([
      { node: 'a', forMs: 2 * HOUR, sessions: 2, phase: 'Tainted', reason: 'request' },
      { node: 'b', forMs: HOUR + 1, sessions: 0, phase: 'Active' },
    ]);
    // Four unavailable against a budget of two: nothing more is requested, stuck or not.
    expect(p.request).toEqual([]);
    expect(p.waiting).toEqual(['e']);
  });

  it('refuses a budget below 1', () => {
    expect(() => planRollout([], opts({ maxUnavailable: 0 }))).toThrow(/maxUnavailable/);
    expect(() => planRollout([], opts({ maxUnavailable: 1.5 }))).toThrow(/maxUnavailable/);
  });
});

/**
 * A small cluster the planner is run against step by step: each step the agent moves one requested
 * node one phase on (sessions end), Drained nodes are replaced by new nodes outside the selection, and
 * scripted events (a node vanishing, one joining, a FleetIQ drain) happen in between.
 */
describe('a rollout replayed against a moving cluster', () => {
  const NEXT: Partial<Record<DrainPhase, DrainPhase>> = {
    Active: 'Cordoned',
    Cordoned: 'Fenced',
    Fenced: 'Tainted',
    Tainted: 'Drained',
  };

  function simulate(
    initial: RolloutNode[],
    o: Partial<RolloutOptions> & { maxUnavailable: number },
    events: Record<number, (nodes: Map<string, RolloutNode>) => void> = {},
    hold: ReadonlySet<string> = new Set(),
  ) {
    const nodes = new Map(initial.map((n) => [n.name, { ...n }]));
    const replaced: string[] = [];
    const maxSeen: number[] = [];
    for (let step = 0; step < 200; step++) {
      events[step]?.(nodes);
      const plan = planRollout([...nodes.values()], opts(o));
      // The budget holds after every step's writes, unless the cluster itself was already over it.
      const alreadyOver = [...nodes.values()].filter((n) => isUnavailable(n, o.mode ?? 'drain')).length;
      expect(plan.unavailable.length).toBeLessThanOrEqual(Math.max(o.maxUnavailable, alreadyOver));
      maxSeen.push(plan.unavailable.length);
      if (plan.complete) return { step, replaced, maxSeen, nodes };
      for (const name of plan.request) nodes.get(name)!.request = o.mode ?? 'drain';
      // The agents move on; a held node never gets past Tainted (a session that does not end).
      for (const n of nodes.values()) {
        if (n.request === undefined || (hold.has(n.name) && n.phase === 'Tainted')) continue;
        const next = NEXT[n.phase];
        if (next) {
          n.phase = next;
          n.reason = 'request';
          n.drainStartedAt ??= NOW;
        } else if (n.phase === 'Drained' && n.request === 'deregister') n.phase = 'Deregistered';
      }
      // The node group replaces what is drained: the old node goes, the new one is not selected.
      for (const n of [...nodes.values()])
        if (isDone(n, o.mode ?? 'drain')) {
          nodes.delete(n.name);
          replaced.push(n.name);
        }
    }
    return { step: -1, replaced, maxSeen, nodes };
  }

  const six = () => ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((n, i) => node(n, { sessions: i % 3 }));

  it('drains every node, never more than N at once, for N = 1, 2, 3 and 6, in both modes', () => {
    for (const mode of ['drain', 'deregister'] as const)
      for (const maxUnavailable of [1, 2, 3, 6]) {
        const r = simulate(six(), { maxUnavailable, mode });
        expect(r.step).toBeGreaterThan(0);
        expect(r.replaced.sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
        expect(Math.max(...r.maxSeen)).toBe(maxUnavailable);
      }
  });

  it('goes faster with a larger budget', () => {
    const steps = [1, 2, 3].map((n) => simulate(six(), { maxUnavailable: n }).step);
    expect(steps[0]!).toBeGreaterThan(steps[1]!);
    expect(steps[1]!).toBeGreaterThan(steps[2]!);
  });

  it('treats a node that disappears mid-drain (replaced under it) as no longer to do, and frees its slot', () => {
    const r = simulate(
      six(),
      { maxUnavailable: 1 },
      {
        // After the first request went out, that node is terminated by someone else.
        2: (nodes) => {
          const requested = [...nodes.values()].find((n) => n.request !== undefined);
          if (requested) nodes.delete(requested.name);
        },
      },
    );
    expect(r.step).toBeGreaterThan(0);
    expect(r.replaced).toHaveLength(5);
  });

  it('includes a node that joins mid-rollout and matches the selector', () => {
    const r = simulate(six(), { maxUnavailable: 2 }, { 3: (nodes) => void nodes.set('n7', node('n7')) });
    expect(r.replaced.sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
  });

  it('lets a FleetIQ drain that appears mid-rollout take a slot, and finishes it with the rest', () => {
    const r = simulate(
      six(),
      { maxUnavailable: 2 },
      {
        1: (nodes) => {
          const waiting = [...nodes.values()].find((n) => n.request === undefined)!;
          waiting.phase = 'Tainted';
          waiting.reason = 'fleetiq';
        },
      },
    );
    expect(r.replaced).toHaveLength(6);
  });

  it('with a node stuck (a session that never ends), reports it and never exceeds N: the rest roll through the other slots', () => {
    const held = new Set(['n1']);
    const r = simulate(six(), { maxUnavailable: 2, stuckAfterMs: 0 }, {}, held);
    // Never complete: n1 holds one slot for good, the others go through the second.
    expect(r.step).toBe(-1);
    expect([...r.nodes.keys()]).toEqual(['n1']);
    expect(r.replaced.sort()).toEqual(['n2', 'n3', 'n4', 'n5', 'n6']);
    expect(Math.max(...r.maxSeen)).toBe(2);
    const p = planRollout([...r.nodes.values()], opts({ maxUnavailable: 2, stuckAfterMs: 0 }));
    expect(p.stuck.map((s) => s.node)).toEqual(['n1']);
    // With N = 1 and the first node stuck, nothing else is ever requested.
    const one = simulate(six(), { maxUnavailable: 1 }, {}, new Set(['n1']));
    expect(one.step).toBe(-1);
    expect(one.replaced).toEqual([]);
    expect(Math.max(...one.maxSeen)).toBe(1);
  });

  it('continues after an interruption from what the nodes show (no memory between runs)', () => {
    // The state a first run left: two requested and mid-drain, one done and replaced already.
    const left = [
      node('n2', { request: 'drain', phase: 'Tainted', reason: 'request', sessions: 1 }),
      node('n3', { request: 'drain', phase: 'Cordoned', reason: 'request' }),
      node('n4'),
      node('n5'),
    ];
    const first = planRollout(left, opts({ maxUnavailable: 2 }));
    expect(first.request).toEqual([]);
    const r = simulate(left, { maxUnavailable: 2 });
    expect(r.replaced.sort()).toEqual(['n2', 'n3', 'n4', 'n5']);
  });
});
