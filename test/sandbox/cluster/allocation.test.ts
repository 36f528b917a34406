import { describe, expect, it } from '@jest/globals';
import {
  allocationResponse,
  comparePacked,
  applyAllocation,
  countByNode,
  findGameServerForAllocation,
  isAllocatable,
  normalizeAllocation,
  sortPacked,
  validateAllocation,
} from '../../../sandbox/cluster/allocation.js';
import { SeededRandom } from '../../../sandbox/clock.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import { gameServer } from './fixtures.js';

const gsa = (spec: any = {}, namespace = 'default'): KubeObject => ({
  apiVersion: 'allocation.agones.dev/v1',
  kind: 'GameServerAllocation',
  metadata: { namespace },
  spec,
});

/** A small cluster: node-a has 2 Allocated + 1 Ready, node-b 1 Allocated + 3 Ready, node-c 0 + 2 Ready. */
function cluster(): KubeObject[] {
  const fleet = { 'agones.dev/fleet': 'f' };
  return [
    gameServer('a1', { state: 'Allocated', nodeName: 'node-a', labels: fleet }),
    gameServer('a2', { state: 'Allocated', nodeName: 'node-a', labels: fleet }),
    gameServer('a3', { state: 'Ready', nodeName: 'node-a', labels: fleet }),
    gameServer('b1', { state: 'Allocated', nodeName: 'node-b', labels: fleet }),
    gameServer('b2', { state: 'Ready', nodeName: 'node-b', labels: fleet }),
    gameServer('b3', { state: 'Ready', nodeName: 'node-b', labels: fleet }),
    gameServer('b4', { state: 'Ready', nodeName: 'node-b', labels: fleet }),
    gameServer('c1', { state: 'Ready', nodeName: 'node-c', labels: fleet }),
    gameServer('c2', { state: 'Ready', nodeName: 'node-c', labels: { 'agones.dev/fleet': 'other' } }),
  ];
}

/** Allocates repeatedly like the allocator does: pick, mark Allocated, recount. */
function allocateMany(list: KubeObject[], spec: any, times: number, random?: SeededRandom): string[] {
  const names: string[] = [];
  const all = [...list];
  for (let i = 0; i < times; i++) {
    const counts = countByNode(all);
    const cache = sortPacked(all.filter(isAllocatable), counts);
    const a = normalizeAllocation(gsa(spec));
    const found = findGameServerForAllocation(
      a,
      a.scheduling === 'Packed' ? cache : all.filter(isAllocatable),
      random,
    );
    if (!found) break;
    names.push(found.gameServer.metadata.name!);
    const idx = all.findIndex((g) => g.metadata.name === found.gameServer.metadata.name);
    all[idx] = applyAllocation(all[idx], a.metadata, 0);
  }
  return names;
}

describe('allocation selection', () => {
  it('Packed fills the busiest node (most Allocated) first, then the next', () => {
    const picked = allocateMany(cluster(), { selectors: [{ matchLabels: { 'agones.dev/fleet': 'f' } }] }, 6);
    expect(picked).toEqual(['a3', 'b2', 'b3', 'b4', 'c1']);
  });

  it('Packed breaks equal Allocated counts by more Ready, then by GameServer name', () => {
    const list = [
      gameServer('x2', { state: 'Ready', nodeName: 'node-x' }),
      gameServer('y1', { state: 'Ready', nodeName: 'node-y' }),
      gameServer('y2', { state: 'Ready', nodeName: 'node-y' }),
      gameServer('z1', { state: 'Ready', nodeName: 'node-z' }),
      gameServer('z0', { state: 'Ready', nodeName: 'node-z' }),
    ];
    expect(sortPacked(list, countByNode(list)).map((g) => g.metadata.name)).toEqual([
      'y1',
      'y2',
      'z0',
      'z1',
      'x2',
    ]);
  });

  it('GameServers whose node has no count go last', () => {
    const list = [
      gameServer('nowhere', { state: 'Ready' }),
      gameServer('x', { state: 'Ready', nodeName: 'n' }),
    ];
    expect(sortPacked(list, countByNode(list)).map((g) => g.metadata.name)).toEqual(['x', 'nowhere']);
  });

  it('selectors are tried in priority order, each defaulting to Ready', () => {
    const spec = {
      selectors: [
        { matchLabels: { 'agones.dev/fleet': 'missing' } },
        { matchLabels: { 'agones.dev/fleet': 'other' } },
        {},
      ],
    };
    expect(allocateMany(cluster(), spec, 1)).toEqual(['c2']);
  });

  it('converts the legacy preferred/required fields into selectors (preferred first)', () => {
    const a = normalizeAllocation(
      gsa({
        required: { matchLabels: { 'agones.dev/fleet': 'f' } },
        preferred: [{ matchLabels: { 'agones.dev/fleet': 'other' } }],
      }),
    );
    expect(a.selectors).toEqual([
      { matchLabels: { 'agones.dev/fleet': 'other' }, gameServerState: 'Ready' },
      { matchLabels: { 'agones.dev/fleet': 'f' }, gameServerState: 'Ready' },
    ]);
    expect(a.scheduling).toBe('Packed');
    // An empty spec selects any Ready GameServer.
    expect(normalizeAllocation(gsa({})).selectors).toEqual([{ gameServerState: 'Ready' }]);
  });

  it('re-allocation: a gameServerState Allocated selector picks an Allocated one, Allocated sorted first', () => {
    const spec = {
      selectors: [
        { matchLabels: { 'agones.dev/fleet': 'f' }, gameServerState: 'Allocated' },
        { matchLabels: { 'agones.dev/fleet': 'f' } },
      ],
    };
    const list = cluster();
    const a = normalizeAllocation(gsa(spec));
    const sorted = sortPacked(list.filter(isAllocatable), countByNode(list));
    expect(sorted.slice(0, 3).map((g) => g.metadata.name)).toEqual(['a1', 'a2', 'b1']);
    expect(findGameServerForAllocation(a, sorted)!.gameServer.metadata.name).toBe('a1');
  });

  it('only looks in the allocation namespace', () => {
    const list = [gameServer('elsewhere', { state: 'Ready', nodeName: 'n', namespace: 'other' })];
    expect(findGameServerForAllocation(normalizeAllocation(gsa({})), list)).toBeUndefined();
    expect(
      findGameServerForAllocation(normalizeAllocation(gsa({}, 'other')), list)!.gameServer.metadata.name,
    ).toBe('elsewhere');
  });

  it('never looks at nodes: GameServers on cordoned or tainted nodes, or being drained, are allocated', () => {
    // The function has no node input at all; a Ready GameServer on any node is a candidate.
    const list = [gameServer('on-cordoned-node', { state: 'Ready', nodeName: 'cordoned' })];
    expect(findGameServerForAllocation(normalizeAllocation(gsa({})), list)!.gameServer.metadata.name).toBe(
      'on-cordoned-node',
    );
  });

  it('excludes GameServers being deleted and those not Ready/Allocated from the cache', () => {
    expect(
      isAllocatable(gameServer('x', { state: 'Ready', deletionTimestamp: '2026-01-01T00:00:00Z' })),
    ).toBe(false);
    expect(isAllocatable(gameServer('x', { state: 'Reserved' }))).toBe(false);
    expect(isAllocatable(gameServer('x', { state: 'Scheduled' }))).toBe(false);
    expect(isAllocatable(gameServer('x', { state: 'Allocated' }))).toBe(true);
  });

  it('Distributed picks by a seeded shuffle: reproducible, and spread over the candidates', () => {
    const list = cluster().filter(isAllocatable);
    const spec = { scheduling: 'Distributed', selectors: [{ matchLabels: { 'agones.dev/fleet': 'f' } }] };
    const pick = (seed: number) =>
      findGameServerForAllocation(normalizeAllocation(gsa(spec)), list, new SeededRandom(seed))!.gameServer
        .metadata.name;
    expect(pick(11)).toBe(pick(11));
    const seen = new Set(Array.from({ length: 60 }, (_, i) => pick(i)));
    expect(seen).toEqual(new Set(['a3', 'b2', 'b3', 'b4', 'c1']));
  });

  it('matches player capacity when the GameServer tracks players', () => {
    const g = gameServer('p', { state: 'Ready', nodeName: 'n' });
    g.status.players = { count: 8, capacity: 10 };
    const a = (min: number) => normalizeAllocation(gsa({ selectors: [{ players: { minAvailable: min } }] }));
    expect(findGameServerForAllocation(a(2), [g])).toBeDefined();
    expect(findGameServerForAllocation(a(3), [g])).toBeUndefined();
  });
});

describe('the allocated GameServer and the response', () => {
  it('merges the metadata patch, stamps last-allocated with nanoseconds and sets Allocated, keeping the cached resourceVersion', () => {
    const gs = gameServer('g', {
      state: 'Ready',
      nodeName: 'n',
      labels: { keep: 'yes', over: 'old' },
      rv: '42',
    });
    gs.metadata.annotations = { a: '1' };
    const now = Date.parse('2026-04-05T06:07:08.009Z');
    const out = applyAllocation(
      gs,
      { labels: { over: 'new', added: 'x' }, annotations: { b: '2' } },
      now,
      123456,
    );
    expect(out.metadata.labels).toEqual({ keep: 'yes', over: 'new', added: 'x' });
    expect(out.metadata.annotations).toEqual({
      a: '1',
      b: '2',
      'agones.dev/last-allocated': '2026-04-05T06:07:08.009123456Z',
    });
    expect(out.metadata.resourceVersion).toBe('42');
    expect(out.status.state).toBe('Allocated');
    expect(gs.status.state).toBe('Ready'); // input untouched
  });

  it('answers Allocated with the GameServer details and source local, or UnAllocated', () => {
    const gs = gameServer('g', { state: 'Allocated', nodeName: 'node-1' });
    gs.status.address = '10.0.0.1';
    gs.status.addresses = [{ type: 'InternalIP', address: '10.0.0.1' }];
    gs.status.ports = [{ name: 'default', port: 7001 }];
    const res = allocationResponse(gsa({ selectors: [{}] }), { state: 'Allocated', gameServer: gs });
    expect(res.metadata.name).toBe('g');
    expect(res.status).toEqual({
      state: 'Allocated',
      gameServerName: 'g',
      ports: [{ name: 'default', port: 7001 }],
      address: '10.0.0.1',
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      nodeName: 'node-1',
      source: 'local',
      metadata: { labels: {}, annotations: undefined },
    });
    expect(allocationResponse(gsa({}), { state: 'UnAllocated' }).status).toEqual({ state: 'UnAllocated' });
    expect(allocationResponse(gsa({}), { state: 'Contention' }).status).toEqual({ state: 'Contention' });
  });

  it('validates like Agones: state, scheduling, selector operators and label names', () => {
    expect(validateAllocation(gsa({ selectors: [{ matchLabels: { 'agones.dev/fleet': 'f' } }] }))).toEqual(
      [],
    );
    const errs = validateAllocation(
      gsa({
        scheduling: 'Random',
        selectors: [{ gameServerState: 'Reserved', matchExpressions: [{ key: 'a', operator: 'In' }] }],
        metadata: { labels: { 'bad key!': 'v' } },
      }),
    );
    expect(errs.map((e) => e.field)).toEqual([
      'spec.scheduling',
      'spec.selectors[0].matchExpressions[0].values',
      'spec.selectors[0].gameServerState',
      'spec.metadata.labels',
    ]);
  });
});

describe('sortPacked', () => {
  it('orders exactly like the comparator over a random cluster', () => {
    const random = new SeededRandom(99);
    const states = ['Ready', 'Ready', 'Ready', 'Allocated'];
    const list = Array.from({ length: 300 }, (_, i) => {
      const g = gameServer(`gs-${random.string(4)}-${i}`, {
        state: random.pick(states),
        nodeName: random.int(10) === 0 ? undefined : `node-${random.int(12)}`,
      });
      if (random.int(4) === 0) g.status.players = { count: random.int(5), capacity: 5 };
      return g;
    });
    const counts = countByNode(list);
    const expected = [...list].sort((a, b) => comparePacked(a, b, counts)).map((g) => g.metadata.name);
    expect(sortPacked(list, counts).map((g) => g.metadata.name)).toEqual(expected);
  });
});
