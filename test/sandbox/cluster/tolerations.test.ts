import { describe, expect, it } from '@jest/globals';
import {
  noExecuteDecision,
  tolerates,
  toleratesTaint,
  firstUntoleratedTaint,
} from '../../../sandbox/cluster/tolerations.js';
import { DRAIN_TAINT, DRAIN_TOLERATION } from '../../../shared/contract.js';

const drain = { ...DRAIN_TAINT };

describe('toleratesTaint (Kubernetes ToleratesTaint)', () => {
  it('matches Equal on key, value and effect', () => {
    expect(toleratesTaint(DRAIN_TOLERATION, drain)).toBe(true);
    expect(toleratesTaint({ ...DRAIN_TOLERATION, value: 'false' }, drain)).toBe(false);
    expect(toleratesTaint({ ...DRAIN_TOLERATION, key: 'other' }, drain)).toBe(false);
    expect(toleratesTaint({ ...DRAIN_TOLERATION, effect: 'NoSchedule' }, drain)).toBe(false);
  });

  it('treats a missing operator as Equal and a missing value as the empty string', () => {
    expect(toleratesTaint({ key: 'k', value: 'v' }, { key: 'k', value: 'v', effect: 'NoExecute' })).toBe(
      true,
    );
    expect(toleratesTaint({ key: 'k' }, { key: 'k', effect: 'NoExecute' })).toBe(true);
    expect(toleratesTaint({ key: 'k' }, { key: 'k', value: 'v', effect: 'NoExecute' })).toBe(false);
    expect(
      toleratesTaint(
        { key: 'k', operator: 'Equal', value: '' },
        { key: 'k', value: '', effect: 'NoSchedule' },
      ),
    ).toBe(true);
  });

  it('Exists ignores the value; with an empty key it tolerates every taint', () => {
    expect(toleratesTaint({ key: DRAIN_TAINT.key, operator: 'Exists' }, drain)).toBe(true);
    expect(toleratesTaint({ operator: 'Exists' }, drain)).toBe(true);
    expect(
      toleratesTaint({ operator: 'Exists' }, { key: 'anything', value: 'x', effect: 'NoSchedule' }),
    ).toBe(true);
    expect(toleratesTaint({ operator: 'Exists', effect: 'NoSchedule' }, drain)).toBe(false);
  });

  it('an empty effect matches all effects', () => {
    for (const effect of ['NoSchedule', 'PreferNoSchedule', 'NoExecute']) {
      expect(toleratesTaint({ key: 'k', operator: 'Exists' }, { key: 'k', effect })).toBe(true);
    }
  });

  it('an unknown operator tolerates nothing', () => {
    expect(
      toleratesTaint(
        { key: 'k', operator: 'Gt', value: '1' },
        { key: 'k', value: '2', effect: 'NoSchedule' },
      ),
    ).toBe(false);
  });

  it('tolerationSeconds does not affect matching', () => {
    expect(toleratesTaint({ ...DRAIN_TOLERATION, tolerationSeconds: 0 }, drain)).toBe(true);
  });

  it('tolerates() is any-of and firstUntoleratedTaint reports the first one of the given effects', () => {
    expect(tolerates([{ key: 'a', operator: 'Exists' }, DRAIN_TOLERATION], drain)).toBe(true);
    expect(tolerates([], drain)).toBe(false);
    expect(tolerates(undefined, drain)).toBe(false);
    const taints = [
      { key: 'soft', effect: 'PreferNoSchedule' },
      { key: 'a', value: '1', effect: 'NoSchedule' },
      drain,
    ];
    expect(firstUntoleratedTaint(taints, [], ['NoSchedule', 'NoExecute'])).toEqual(taints[1]);
    expect(
      firstUntoleratedTaint(taints, [{ key: 'a', operator: 'Exists' }], ['NoSchedule', 'NoExecute']),
    ).toEqual(drain);
    expect(
      firstUntoleratedTaint(taints, [{ operator: 'Exists' }], ['NoSchedule', 'NoExecute']),
    ).toBeUndefined();
  });
});

describe('noExecuteDecision (the taint manager)', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');

  it('does nothing without NoExecute taints', () => {
    expect(noExecuteDecision([{ key: 'a', effect: 'NoSchedule' }], [], now)).toEqual({ action: 'none' });
    expect(noExecuteDecision(undefined, undefined, now)).toEqual({ action: 'none' });
  });

  it('evicts a pod that does not tolerate a NoExecute taint now', () => {
    expect(noExecuteDecision([drain], [], now)).toMatchObject({ action: 'evict-now', taint: drain });
    expect(noExecuteDecision([drain], [{ key: 'other', operator: 'Exists' }], now).action).toBe('evict-now');
  });

  it('never evicts a pod whose matching toleration has no tolerationSeconds', () => {
    expect(noExecuteDecision([drain], [DRAIN_TOLERATION], now)).toEqual({ action: 'never' });
    expect(noExecuteDecision([drain], [{ operator: 'Exists' }], now)).toEqual({ action: 'never' });
  });

  it('evicts at timeAdded + tolerationSeconds', () => {
    const taint = { ...drain, timeAdded: '2026-03-01T11:59:00Z' };
    const d = noExecuteDecision([taint], [{ ...DRAIN_TOLERATION, tolerationSeconds: 300 }], now);
    expect(d).toMatchObject({ action: 'evict-at', seconds: 300, at: Date.parse('2026-03-01T12:04:00Z') });
  });

  it('counts from the fallback time when the taint has no timeAdded', () => {
    const d = noExecuteDecision([drain], [{ ...DRAIN_TOLERATION, tolerationSeconds: 60 }], now);
    expect(d).toMatchObject({ action: 'evict-at', at: now + 60_000 });
  });

  it('takes the earliest deadline over several tolerated taints', () => {
    const a = { key: 'a', effect: 'NoExecute', timeAdded: '2026-03-01T12:00:00Z' };
    const b = { key: 'b', effect: 'NoExecute', timeAdded: '2026-03-01T11:00:00Z' };
    const d = noExecuteDecision(
      [a, b],
      [
        { key: 'a', operator: 'Exists', tolerationSeconds: 600 },
        { key: 'b', operator: 'Exists', tolerationSeconds: 3900 },
      ],
      now,
    );
    // a: 12:10, b: 12:05 -> b first
    expect(d).toMatchObject({ action: 'evict-at', at: Date.parse('2026-03-01T12:05:00Z'), taint: b });
  });

  it('a tolerated taint with forever does not save the pod from another untolerated one', () => {
    const other = { key: 'other', effect: 'NoExecute' };
    expect(noExecuteDecision([drain, other], [DRAIN_TOLERATION], now)).toMatchObject({
      action: 'evict-now',
      taint: other,
    });
  });

  it('tolerationSeconds <= 0 evicts now', () => {
    expect(noExecuteDecision([drain], [{ ...DRAIN_TOLERATION, tolerationSeconds: 0 }], now).action).toBe(
      'evict-now',
    );
    expect(noExecuteDecision([drain], [{ ...DRAIN_TOLERATION, tolerationSeconds: -5 }], now).action).toBe(
      'evict-now',
    );
  });

  it('uses the FIRST matching toleration for each taint, as GetMatchingTolerations does', () => {
    // The first match has no seconds: tolerated forever, although a later one would limit it.
    expect(
      noExecuteDecision([drain], [DRAIN_TOLERATION, { operator: 'Exists', tolerationSeconds: 10 }], now),
    ).toEqual({ action: 'never' });
    // The other way around: the first match limits it.
    expect(
      noExecuteDecision([drain], [{ operator: 'Exists', tolerationSeconds: 10 }, DRAIN_TOLERATION], now),
    ).toMatchObject({
      action: 'evict-at',
      at: now + 10_000,
    });
  });
});
