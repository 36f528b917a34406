// What the agent writes to remove the old Python adapter's taint: only that taint, pinned to the Node read.
import { describe, expect, it } from '@jest/globals';
import { DRAIN_TAINT } from '../../shared/contract.js';
import { hasLegacyActiveTaint, legacyTaintRemovalPatch } from '../../reconciler/legacy.js';

const LEGACY = { key: 'gamelift.status/active', value: 'true', effect: 'NoExecute' };
const node = (taints?: object[]) => ({
  metadata: { name: 'n', resourceVersion: '42' },
  spec: taints ? { taints } : {},
});

describe('legacyTaintRemovalPatch', () => {
  it('removes every taint with the old key and keeps the rest, the drain taint included', () => {
    const other = { key: 'example.com/dedicated', value: 'games', effect: 'NoSchedule' };
    const n = node([other, LEGACY, DRAIN_TAINT, { ...LEGACY, effect: 'NoSchedule' }]);
    expect(hasLegacyActiveTaint(n)).toBe(true);
    expect(legacyTaintRemovalPatch(n)).toEqual({
      metadata: { resourceVersion: '42' },
      spec: { taints: [other, DRAIN_TAINT] },
    });
  });

  it('clears the list when the old taint was the only one', () => {
    expect(legacyTaintRemovalPatch(node([LEGACY]))).toEqual({
      metadata: { resourceVersion: '42' },
      spec: { taints: null },
    });
  });

  it('writes nothing when there is nothing to remove', () => {
    expect(legacyTaintRemovalPatch(node())).toBeUndefined();
    expect(legacyTaintRemovalPatch(node([DRAIN_TAINT]))).toBeUndefined();
    expect(hasLegacyActiveTaint(node([{ key: 'gamelift.status/activeX', effect: 'NoExecute' }]))).toBe(false);
  });
});
