import { describe, expect, it } from '@jest/globals';
import {
  NodeInfo,
  StaticFilterCache,
  filterReasons,
  numFeasibleNodesToFind,
  schedulePod,
} from '../../../sandbox/cluster/scheduling.js';
import { SeededRandom } from '../../../sandbox/clock.js';
import { DRAIN_TAINT, DRAIN_TOLERATION } from '../../../shared/contract.js';
import { PACKED_AFFINITY, gsPod, node, pod } from './fixtures.js';

const infos = (...nodes: ReturnType<typeof node>[]) => nodes.map((n) => NodeInfo.of(n));

function expectUnschedulable(r: ReturnType<typeof schedulePod>): string {
  expect(r.nodeName).toBeUndefined();
  return (r as { message: string }).message;
}

describe('scheduler filters', () => {
  it('refuses cordoned and tainted nodes with the real message', () => {
    const nodes = infos(
      node('a', { unschedulable: true }),
      node('b', { taints: [{ ...DRAIN_TAINT }] }),
      node('c', { taints: [{ ...DRAIN_TAINT }] }),
    );
    const msg = expectUnschedulable(schedulePod(pod('p'), nodes));
    expect(msg).toBe(
      '0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) had untolerated taint {gamelift.status/draining: true}. ' +
        'preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
    );
  });

  it('a cordoned node is unschedulable even for a pod tolerating its other taints', () => {
    const nodes = infos(node('a', { unschedulable: true, taints: [{ ...DRAIN_TAINT }] }));
    expect(filterReasons(pod('p', { tolerations: [DRAIN_TOLERATION] }), nodes[0])).toEqual([
      'node(s) were unschedulable',
    ]);
  });

  it('a pod tolerating node.kubernetes.io/unschedulable may go to a cordoned node', () => {
    const nodes = infos(node('a', { unschedulable: true }));
    const p = pod('ds', {
      tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
    });
    expect(schedulePod(p, nodes).nodeName).toBe('a');
  });

  it('a pod whose toleration matches a NoExecute taint can be scheduled there; PreferNoSchedule never filters', () => {
    const nodes = infos(
      node('a', { taints: [{ ...DRAIN_TAINT }] }),
      node('b', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }),
    );
    expect(schedulePod(pod('p', { tolerations: [DRAIN_TOLERATION] }), [nodes[0]]).nodeName).toBe('a');
    expect(schedulePod(pod('p'), [nodes[1]]).nodeName).toBe('b');
  });

  it('PreferNoSchedule lowers the score of a node', () => {
    const nodes = infos(node('a', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }), node('b'));
    expect(schedulePod(pod('p'), nodes).nodeName).toBe('b');
  });

  it('a node that is not Ready carries the not-ready (or unreachable) condition taint', () => {
    expect(expectUnschedulable(schedulePod(pod('p'), infos(node('a', { ready: 'False' }))))).toContain(
      '1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }',
    );
    expect(expectUnschedulable(schedulePod(pod('p'), infos(node('a', { ready: 'Unknown' }))))).toContain(
      '1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }',
    );
    expect(expectUnschedulable(schedulePod(pod('p'), infos(node('a', { ready: null }))))).toContain(
      'node.kubernetes.io/not-ready',
    );
    const tolerant = pod('p', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] });
    expect(schedulePod(tolerant, infos(node('a', { ready: 'False' }))).nodeName).toBe('a');
  });

  it('honours nodeSelector and required node affinity', () => {
    const nodes = infos(
      node('a', { labels: { role: 'game-servers', size: '8' } }),
      node('b', { labels: { role: 'system', size: '2' } }),
    );
    expect(schedulePod(pod('p', { nodeSelector: { role: 'game-servers' } }), nodes).nodeName).toBe('a');
    const affinity = (op: string, values?: string[], key = 'role') => ({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key, operator: op, values }] }],
        },
      },
    });
    expect(schedulePod(pod('p', { affinity: affinity('In', ['system']) }), nodes).nodeName).toBe('b');
    expect(schedulePod(pod('p', { affinity: affinity('NotIn', ['system']) }), nodes).nodeName).toBe('a');
    expect(schedulePod(pod('p', { affinity: affinity('Gt', ['4'], 'size') }), nodes).nodeName).toBe('a');
    expect(schedulePod(pod('p', { affinity: affinity('Lt', ['4'], 'size') }), nodes).nodeName).toBe('b');
    expect(
      schedulePod(pod('p', { affinity: affinity('DoesNotExist', undefined, 'size') }), nodes).nodeName,
    ).toBeUndefined();
    const msg = expectUnschedulable(schedulePod(pod('p', { nodeSelector: { role: 'nope' } }), nodes));
    expect(msg).toBe(
      "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. " +
        'preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.',
    );
    // Terms are ORed.
    const either = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'role', operator: 'In', values: ['nope'] }] },
            {
              matchExpressions: [
                { key: 'size', operator: 'Exists' },
                { key: 'role', operator: 'In', values: ['system'] },
              ],
            },
          ],
        },
      },
    };
    expect(schedulePod(pod('p', { affinity: either }), nodes).nodeName).toBe('b');
  });

  it('counts pods against the pod capacity, terminating ones included, finished ones not', () => {
    const n = NodeInfo.of(node('a', { pods: 2 }), [
      pod('x', { nodeName: 'a' }),
      pod('y', { nodeName: 'a', deletionTimestamp: '2026-01-01T00:00:00Z' }),
      pod('done', { nodeName: 'a', phase: 'Succeeded' }),
    ]);
    expect(n.podCount).toBe(2);
    const msg = expectUnschedulable(schedulePod(pod('p'), [n]));
    expect(msg).toBe(
      '0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    );
    n.removePod('default/y');
    expect(schedulePod(pod('p'), [n]).nodeName).toBe('a');
  });

  it('checks cpu and memory requests against allocatable, reporting every shortfall', () => {
    const n = NodeInfo.of(node('a', { cpu: '1', memory: '1Gi' }), [
      pod('x', { nodeName: 'a', cpu: '600m', memory: '512Mi' }),
    ]);
    expect(schedulePod(pod('p', { cpu: '400m' }), [n]).nodeName).toBe('a');
    expect(filterReasons(pod('p', { cpu: '401m', memory: '600Mi' }), n)).toEqual([
      'Insufficient cpu',
      'Insufficient memory',
    ]);
    const full = NodeInfo.of(node('b', { pods: 1, cpu: '1' }), [pod('x', { nodeName: 'b', cpu: '1' })]);
    expect(filterReasons(pod('p', { cpu: '1' }), full)).toEqual(['Too many pods', 'Insufficient cpu']);
    const msg = expectUnschedulable(schedulePod(pod('p', { cpu: '2' }), [n, full]));
    expect(msg).toBe(
      '0/2 nodes are available: 1 Too many pods, 2 Insufficient cpu. ' +
        'preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.',
    );
  });

  it('keeps two pods with the same host port off one node', () => {
    const a = NodeInfo.of(node('a'), [gsPod('x', 'a', { hostPort: 7001 })]);
    const b = NodeInfo.of(node('b'), [gsPod('y', 'b', { hostPort: 7002 })]);
    expect(schedulePod(gsPod('p', undefined, { hostPort: 7001 }), [a, b]).nodeName).toBe('b');
    expect(expectUnschedulable(schedulePod(gsPod('p', undefined, { hostPort: 7001 }), [a]))).toContain(
      "1 node(s) didn't have free ports for the requested pod ports",
    );
  });

  it('caches static verdicts per pod shape and node resourceVersion', () => {
    const cache = new StaticFilterCache();
    const n1 = node('a', { unschedulable: true, rv: '5' });
    expect(cache.reasons(pod('p'), n1)).toEqual(['node(s) were unschedulable']);
    // Same resourceVersion: the cached verdict stands (the node object is not re-read).
    expect(cache.reasons(pod('q'), { ...n1, spec: {} })).toEqual(['node(s) were unschedulable']);
    // A new resourceVersion is re-evaluated.
    expect(cache.reasons(pod('q'), { ...node('a', { rv: '6' }) })).toEqual([]);
  });
});

describe('scheduler scoring', () => {
  it('Packed: prefers the node running the most game server pods', () => {
    const nodes = [
      NodeInfo.of(node('a'), [gsPod('a1', 'a')]),
      NodeInfo.of(node('b'), [gsPod('b1', 'b'), gsPod('b2', 'b'), gsPod('b3', 'b')]),
      NodeInfo.of(node('c')),
      NodeInfo.of(node('d'), [
        pod('other1', { nodeName: 'd' }),
        pod('other2', { nodeName: 'd' }),
        pod('other3', { nodeName: 'd' }),
        pod('other4', { nodeName: 'd' }),
      ]),
    ];
    const p = gsPod('new', undefined, { affinity: PACKED_AFFINITY });
    for (const seed of [1, 2, 3, 4, 5]) {
      expect(schedulePod(p, nodes, { random: new SeededRandom(seed) }).nodeName).toBe('b');
    }
  });

  it('Packed: pods of another namespace do not attract', () => {
    const nodes = [
      NodeInfo.of(node('a'), [
        gsPod('a1', 'a', { namespace: 'other' }),
        gsPod('a2', 'a', { namespace: 'other' }),
      ]),
      NodeInfo.of(node('b'), [gsPod('b1', 'b')]),
    ];
    expect(schedulePod(gsPod('new', undefined, { affinity: PACKED_AFFINITY }), nodes).nodeName).toBe('b');
  });

  it('without affinity the least allocated node wins (spread)', () => {
    const nodes = [
      NodeInfo.of(node('a'), [pod('a1', { nodeName: 'a' }), pod('a2', { nodeName: 'a' })]),
      NodeInfo.of(node('b'), [pod('b1', { nodeName: 'b' })]),
      NodeInfo.of(node('c'), [
        pod('c1', { nodeName: 'c' }),
        pod('c2', { nodeName: 'c' }),
        pod('c3', { nodeName: 'c' }),
      ]),
    ];
    for (const seed of [1, 2, 3])
      expect(schedulePod(pod('p'), nodes, { random: new SeededRandom(seed) }).nodeName).toBe('b');
  });

  it('breaks ties by seeded random: same seed same choice, and different seeds spread', () => {
    const nodes = infos(node('a'), node('b'), node('c'), node('d'));
    const pick = (seed: number) => schedulePod(pod('p'), nodes, { random: new SeededRandom(seed) }).nodeName;
    for (const seed of [7, 8, 9]) expect(pick(seed)).toBe(pick(seed));
    const seen = new Set(Array.from({ length: 40 }, (_, i) => pick(i)));
    expect(seen.size).toBeGreaterThan(1);
    // Without a random source the first node in order wins.
    expect(schedulePod(pod('p'), nodes).nodeName).toBe('a');
  });

  it('looks for only numFeasibleNodesToFind nodes, starting where the last search stopped', () => {
    expect(numFeasibleNodesToFind(50)).toBe(50);
    expect(numFeasibleNodesToFind(100)).toBe(100);
    expect(numFeasibleNodesToFind(1000)).toBe(420);
    expect(numFeasibleNodesToFind(5000)).toBe(500);
    expect(numFeasibleNodesToFind(200, 10)).toBe(100);
    const many = Array.from({ length: 1000 }, (_, i) => NodeInfo.of(node(`n${String(i).padStart(4, '0')}`)));
    const r = schedulePod(pod('p'), many, { startIndex: 990 });
    expect(r.nextStartIndex).toBe((990 + 420) % 1000);
    // The chosen node lies inside the searched window [990, 1000) ∪ [0, 410).
    const idx = Number(r.nodeName!.slice(1));
    expect(idx >= 990 || idx < 410).toBe(true);
  });

  it('reports an empty cluster', () => {
    expect(expectUnschedulable(schedulePod(pod('p'), []))).toBe('0/0 nodes are available.');
  });
});
