import { describe, expect, it } from '@jest/globals';
import { SessionLedger } from '../../../sandbox/cluster/sessions.js';

const start = (l: SessionLedger, name: string, nodeName = 'node-1', at = 0) =>
  l.start({
    namespace: 'default',
    gameServer: name,
    uid: `uid-${name}`,
    nodeName,
    at,
    plannedEndAt: at + 60_000,
  });

describe('session ledger', () => {
  it('a session that ends with its own shutdown is completed, whatever the GameServer does after', () => {
    const l = new SessionLedger();
    const s = start(l, 'gs1');
    l.beginShutdown(s.id, 60_000);
    // The game server's own shutdown: Shutdown state, pod gone, GameServer deleted.
    expect(l.observeGameServer('default', 'gs1', { uid: 'uid-gs1', state: 'Shutdown' }, 60_001)).toEqual([]);
    expect(l.observePodGone('default', 'gs1', 60_002)).toEqual([]);
    l.complete(s.id, 60_003);
    expect(l.get(s.id)).toMatchObject({ outcome: 'completed', endedAt: 60_003 });
    expect(l.summary()).toMatchObject({ started: 1, completed: 1, lost: 0, active: 0 });
  });

  it('counts a session as lost when its GameServer leaves Allocated before the shutdown', () => {
    const l = new SessionLedger();
    const s = start(l, 'gs1');
    expect(l.observeGameServer('default', 'gs1', { uid: 'uid-gs1', state: 'Allocated' }, 1)).toEqual([]);
    const lost = l.observeGameServer('default', 'gs1', { uid: 'uid-gs1', state: 'Unhealthy' }, 2);
    expect(lost.map((r) => r.id)).toEqual([s.id]);
    expect(l.get(s.id)).toMatchObject({
      outcome: 'lost',
      lostReason: 'gameserver-left-allocated:Unhealthy',
      endedAt: 2,
    });
    // Completing later does not turn it into a success.
    l.complete(s.id, 3);
    expect(l.summary()).toMatchObject({
      started: 1,
      completed: 0,
      lost: 1,
      lostByReason: { 'gameserver-left-allocated': 1 },
    });
  });

  it('counts the GameServer deleted, a new incarnation, its pod gone or its node gone as lost', () => {
    const l = new SessionLedger();
    const a = start(l, 'a');
    const b = start(l, 'b');
    const c = start(l, 'c');
    const d = start(l, 'd', 'node-2');
    const e = start(l, 'e', 'node-2');
    l.observeGameServer('default', 'a', undefined, 5);
    l.observeGameServer('default', 'b', { uid: 'another-uid', state: 'Allocated' }, 5);
    l.observePodGone('default', 'c', 5);
    expect(
      l
        .observeNodeGone('node-2', 6)
        .map((r) => r.id)
        .sort(),
    ).toEqual([d.id, e.id]);
    expect([a, b, c, d, e].map((s) => l.get(s.id)!.lostReason)).toEqual([
      'gameserver-deleted',
      'gameserver-deleted',
      'pod-gone',
      'node-gone',
      'node-gone',
    ]);
    expect(l.summary()).toMatchObject({
      started: 5,
      lost: 5,
      lostByReason: { 'gameserver-deleted': 2, 'pod-gone': 1, 'node-gone': 2 },
    });
  });

  it('lose() is ignored once the driver began its own shutdown or the session ended', () => {
    const l = new SessionLedger();
    const s = start(l, 'gs1');
    l.beginShutdown(s.id, 10);
    expect(l.lose(s.id, 'pod-gone', 11)).toBe(false);
    l.complete(s.id, 12);
    expect(l.lose(s.id, 'pod-gone', 13)).toBe(false);
    expect(l.get(s.id)!.outcome).toBe('completed');
  });

  it('flags sessions reached by a spot notice, per node or by predicate, once', () => {
    const l = new SessionLedger();
    start(l, 'a', 'node-1');
    start(l, 'b', 'node-1');
    const c = start(l, 'c', 'node-2');
    expect(l.markInterruptedBySpotNotice({ nodeName: 'node-1' })).toBe(2);
    expect(l.markInterruptedBySpotNotice({ nodeName: 'node-1' })).toBe(0);
    expect(l.markInterruptedBySpotNotice((r) => r.id === c.id)).toBe(1);
    expect(l.summary().interruptedBySpotNotice).toBe(3);
  });

  it('keeps several sessions on one re-allocated GameServer', () => {
    const l = new SessionLedger();
    const s1 = start(l, 'gs');
    const s2 = start(l, 'gs', 'node-1', 5);
    expect(l.activeFor('default', 'gs').map((r) => r.id)).toEqual([s1.id, s2.id]);
    l.beginShutdown(s2.id, 6);
    const lost = l.observePodGone('default', 'gs', 7);
    expect(lost.map((r) => r.id)).toEqual([s1.id]);
    expect(l.summary()).toMatchObject({ started: 2, lost: 1, active: 1 });
  });
});
