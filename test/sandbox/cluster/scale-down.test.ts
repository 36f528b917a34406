import { describe, expect, it } from '@jest/globals';
import { countByNode } from '../../../sandbox/cluster/allocation.js';
import {
  computeReconciliationAction,
  computeSetStatus,
  sortForScaleDown,
} from '../../../sandbox/cluster/scale-down.js';
import { gameServer } from './fixtures.js';

const names = (l: { metadata: { name?: string } }[]) => l.map((g) => g.metadata.name);

describe('scale-down order', () => {
  it('Packed: unscheduled first, then the emptiest node (fewest Ready+Allocated), not-yet-Ready before Ready on it, then node name', () => {
    const list = [
      gameServer('big-r1', { state: 'Ready', nodeName: 'node-big' }),
      gameServer('big-r2', { state: 'Ready', nodeName: 'node-big' }),
      gameServer('big-a1', { state: 'Allocated', nodeName: 'node-big' }),
      gameServer('small-r', { state: 'Ready', nodeName: 'node-small' }),
      gameServer('small-s', { state: 'Scheduled', nodeName: 'node-small' }),
      gameServer('pending', { state: 'Creating' }),
      gameServer('tie-r', { state: 'Ready', nodeName: 'node-tie' }),
    ];
    const counts = countByNode(list);
    const deletable = list.filter((g) => g.status.state !== 'Allocated');
    expect(names(sortForScaleDown('Packed', deletable, counts))).toEqual([
      'pending',
      'small-s',
      'small-r',
      'tie-r',
      'big-r1',
      'big-r2',
    ]);
  });

  it('Distributed: oldest first', () => {
    const list = [
      gameServer('new', { state: 'Ready', created: '2026-01-03T00:00:00Z' }),
      gameServer('old', { state: 'Ready', created: '2026-01-01T00:00:00Z' }),
      gameServer('mid', { state: 'Ready', created: '2026-01-02T00:00:00Z' }),
    ];
    expect(names(sortForScaleDown('Distributed', list, new Map()))).toEqual(['old', 'mid', 'new']);
  });
});

describe('computeReconciliationAction', () => {
  it('scales up by the missing replicas', () => {
    const list = [gameServer('a', { state: 'Ready', nodeName: 'n' })];
    expect(computeReconciliationAction('Packed', list, countByNode(list), 3)).toEqual({
      toAdd: 2,
      toDelete: [],
      partial: false,
    });
  });

  it('never deletes Allocated or Reserved GameServers, even far above the target', () => {
    const list = [
      gameServer('a1', { state: 'Allocated', nodeName: 'n' }),
      gameServer('a2', { state: 'Allocated', nodeName: 'n' }),
      gameServer('r1', { state: 'Reserved', nodeName: 'n' }),
      gameServer('ready', { state: 'Ready', nodeName: 'm' }),
    ];
    const act = computeReconciliationAction('Packed', list, countByNode(list), 0);
    expect(names(act.toDelete)).toEqual(['ready']);
    expect(act.toAdd).toBe(0);
  });

  it('shuts down Unhealthy ones and replaces them', () => {
    const list = [
      gameServer('sick', { state: 'Unhealthy', nodeName: 'n' }),
      gameServer('ok', { state: 'Ready', nodeName: 'n' }),
    ];
    const act = computeReconciliationAction('Packed', list, countByNode(list), 2);
    expect(names(act.toDelete)).toEqual(['sick']);
    expect(act.toAdd).toBe(1);
  });

  it('does not count GameServers being deleted or Shutdown', () => {
    const list = [
      gameServer('bye', { state: 'Ready', nodeName: 'n', deletionTimestamp: '2026-01-01T00:00:00Z' }),
      gameServer('down', { state: 'Shutdown', nodeName: 'n' }),
    ];
    expect(computeReconciliationAction('Packed', list, countByNode(list), 2).toAdd).toBe(2);
  });

  it('scales down Packed from the emptiest node', () => {
    const list = [
      gameServer('x1', { state: 'Ready', nodeName: 'x' }),
      gameServer('x2', { state: 'Ready', nodeName: 'x' }),
      gameServer('y1', { state: 'Ready', nodeName: 'y' }),
    ];
    expect(names(computeReconciliationAction('Packed', list, countByNode(list), 2).toDelete)).toEqual(['y1']);
  });

  it('limits one pass to the batch sizes and the pending pod count, flagging partial work', () => {
    const many = Array.from({ length: 100 }, (_, i) =>
      gameServer(`g${i}`, { state: 'Ready', nodeName: 'n' }),
    );
    const down = computeReconciliationAction('Packed', many, countByNode(many), 0, {
      maxCreations: 64,
      maxDeletions: 10,
      maxPending: 5000,
    });
    expect(down.toDelete).toHaveLength(10);
    expect(down.partial).toBe(true);
    const up = computeReconciliationAction('Packed', [], new Map(), 100, {
      maxCreations: 64,
      maxDeletions: 64,
      maxPending: 5000,
    });
    expect(up).toMatchObject({ toAdd: 64, partial: true });
    const pending = Array.from({ length: 5 }, (_, i) => gameServer(`p${i}`, { state: 'Creating' }));
    const capped = computeReconciliationAction('Packed', pending, new Map(), 20, {
      maxCreations: 64,
      maxDeletions: 64,
      maxPending: 8,
    });
    expect(capped).toMatchObject({ toAdd: 3, partial: true });
  });

  it('deletes an errored GameServer only 30 s after it errored', () => {
    const errored = gameServer('e', { state: 'Error' });
    errored.metadata.annotations = { 'agones.dev/errored-at': '2026-01-01T00:00:00Z' };
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    expect(
      computeReconciliationAction('Packed', [errored], new Map(), 1, undefined, t0 + 10_000).toDelete,
    ).toEqual([]);
    expect(
      names(computeReconciliationAction('Packed', [errored], new Map(), 1, undefined, t0 + 30_000).toDelete),
    ).toEqual(['e']);
  });

  it('computes the set status', () => {
    const list = [
      gameServer('a', { state: 'Ready' }),
      gameServer('b', { state: 'Allocated' }),
      gameServer('c', { state: 'Reserved' }),
      gameServer('d', { state: 'Scheduled' }),
      gameServer('e', { state: 'Shutdown' }),
    ];
    expect(computeSetStatus(list)).toEqual({
      replicas: 4,
      readyReplicas: 1,
      allocatedReplicas: 1,
      reservedReplicas: 1,
      shutdownReplicas: 1,
    });
  });
});
