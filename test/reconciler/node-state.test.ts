import { describe, expect, it } from '@jest/globals';
import {
  CORDONED_BY_AGENT_ANNOTATION,
  DRAIN_ANNOTATIONS,
  DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION,
  DRAIN_PHASE_ANNOTATION,
  DRAIN_STARTED_AT_ANNOTATION,
  NODE_ANNOTATION_PREFIX,
  SPOT_NOTICE_AT_ANNOTATION,
  drainRecordAnnotations,
  hasAnyDrainKeyTaint,
  hasDrainTaint,
  readDrainRecord,
  withDrainRecord,
  type DrainRecord,
} from '../../reconciler/node-state.js';
import { makeNode } from './world.js';

const NOW = Date.parse('2026-11-21T10:00:00.000Z');

describe('node drain record', () => {
  it('keeps every annotation under gamelift.status/ (never agones.dev/)', () => {
    for (const a of DRAIN_ANNOTATIONS) expect(a.startsWith(NODE_ANNOTATION_PREFIX)).toBe(true);
  });

  it('round-trips a full record through annotations', () => {
    const record: DrainRecord = {
      phase: 'SpotEvicting',
      startedAt: NOW - 5000,
      cordonedByAgent: true,
      spotNoticeAt: NOW - 1000,
      maxWaitWarnedAt: NOW,
    };
    const annotations = withDrainRecord({ other: 'kept' }, record);
    expect(annotations).toEqual({
      other: 'kept',
      [DRAIN_PHASE_ANNOTATION]: 'SpotEvicting',
      [DRAIN_STARTED_AT_ANNOTATION]: '2026-11-21T09:59:55.000Z',
      [CORDONED_BY_AGENT_ANNOTATION]: 'true',
      [SPOT_NOTICE_AT_ANNOTATION]: '2026-11-21T09:59:59.000Z',
      [DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION]: '2026-11-21T10:00:00.000Z',
    });
    expect(readDrainRecord(annotations, NOW)).toEqual(record);
  });

  it('removes optional annotations a new record no longer has, and all of them for null', () => {
    const full = withDrainRecord(
      {},
      { phase: 'Tainted', startedAt: NOW, cordonedByAgent: false, maxWaitWarnedAt: NOW },
    );
    const patch = drainRecordAnnotations({ phase: 'Tainted', startedAt: NOW, cordonedByAgent: false });
    expect(patch[DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION]).toBeNull();
    expect(withDrainRecord(full, null)).toEqual({});
  });

  it('reads no drain from a node without annotations or marked Active', () => {
    expect(readDrainRecord({}, NOW)).toBeNull();
    expect(readDrainRecord({ [DRAIN_PHASE_ANNOTATION]: 'Active' }, NOW)).toBeNull();
  });

  it('distrusts values someone else wrote', () => {
    expect(
      readDrainRecord(
        {
          [DRAIN_PHASE_ANNOTATION]: 'Exploding',
          [DRAIN_STARTED_AT_ANNOTATION]: 'yesterday',
          [CORDONED_BY_AGENT_ANNOTATION]: 'True',
          [SPOT_NOTICE_AT_ANNOTATION]: 'soon',
        },
        NOW,
      ),
    ).toEqual({ phase: 'Cordoned', startedAt: NOW, cordonedByAgent: false });
  });

  it('tells the exact drain taint from a malformed one with the same key', () => {
    const node = makeNode({ tainted: true });
    expect(hasDrainTaint(node)).toBe(true);
    node.taints = [{ key: 'gamelift.status/draining', value: 'false', effect: 'NoExecute' }];
    expect(hasDrainTaint(node)).toBe(false);
    expect(hasAnyDrainKeyTaint(node)).toBe(true);
    node.taints = [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoSchedule' }];
    expect(hasDrainTaint(node)).toBe(false);
  });
});
