import { describe, expect, it } from '@jest/globals';
import {
  CORDONED_BY_AGENT_ANNOTATION,
  DRAIN_ANNOTATIONS,
  DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION,
  DRAIN_PHASE_ANNOTATION,
  DRAIN_PHASE_LABEL,
  DRAIN_PHASES,
  DRAIN_STARTED_AT_ANNOTATION,
  FLEETIQ_STATUS_ANNOTATION,
  FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION,
  OBSERVED_STATUS_REFRESH_MS,
  NODE_ANNOTATION_PREFIX,
  SPOT_NOTICE_AT_ANNOTATION,
  drainPhaseLabel,
  drainRecordAnnotations,
  hasAnyDrainKeyTaint,
  hasDrainTaint,
  observedStatusAnnotations,
  readDrainRecord,
  readObservedStatus,
  withDrainPhaseLabel,
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

describe('drain phase label', () => {
  it('carries every phase as a valid label value, under the same key as the annotation', () => {
    // Kubernetes label values: at most 63 characters, alphanumerics with -_. inside.
    const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
    for (const phase of DRAIN_PHASES.filter((p) => p !== 'Active')) {
      const v = drainPhaseLabel({ phase, startedAt: NOW, cordonedByAgent: true });
      expect(v).toBe(phase);
      expect(v).toMatch(labelValue);
    }
    expect(DRAIN_PHASE_LABEL).toBe(DRAIN_PHASE_ANNOTATION);
  });

  it('says Active without a record, other labels kept', () => {
    const labels = withDrainPhaseLabel(
      { role: 'game-servers' },
      { phase: 'Tainted', startedAt: NOW, cordonedByAgent: true },
    );
    expect(labels).toEqual({ role: 'game-servers', [DRAIN_PHASE_LABEL]: 'Tainted' });
    expect(withDrainPhaseLabel(labels, null)).toEqual({
      role: 'game-servers',
      [DRAIN_PHASE_LABEL]: 'Active',
    });
    expect(drainPhaseLabel(null)).toBe('Active');
  });
});

describe('observed FleetIQ status', () => {
  const at = (iso: string) => Date.parse(iso);

  it('is recorded when there is none, and read back', () => {
    const patch = observedStatusAnnotations({}, { status: 'DRAINING', observedAt: NOW });
    expect(patch).toEqual({
      [FLEETIQ_STATUS_ANNOTATION]: 'DRAINING',
      [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: '2026-11-21T10:00:00.000Z',
    });
    expect(readObservedStatus(patch!)).toEqual({ status: 'DRAINING', observedAt: NOW });
  });

  it('is rewritten when the status changes, however recently the last one was recorded', () => {
    const recorded = observedStatusAnnotations({}, { status: 'DRAINING', observedAt: NOW })!;
    expect(observedStatusAnnotations(recorded, { status: 'ACTIVE', observedAt: NOW + 1 })).toEqual({
      [FLEETIQ_STATUS_ANNOTATION]: 'ACTIVE',
      [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: '2026-11-21T10:00:00.001Z',
    });
  });

  it('is refreshed for the same status only once the refresh interval has passed', () => {
    const recorded = observedStatusAnnotations({}, { status: 'ACTIVE', observedAt: NOW })!;
    const same = (ms: number) => ({ status: 'ACTIVE' as const, observedAt: NOW + ms });
    expect(observedStatusAnnotations(recorded, same(OBSERVED_STATUS_REFRESH_MS - 1))).toBeNull();
    expect(observedStatusAnnotations(recorded, same(-60_000))).toBeNull();
    expect(observedStatusAnnotations(recorded, same(OBSERVED_STATUS_REFRESH_MS))).not.toBeNull();
    expect(observedStatusAnnotations(recorded, same(10), 10)).not.toBeNull();
  });

  it('writes nothing without a status, and ignores malformed records (rewrites them)', () => {
    expect(observedStatusAnnotations({}, undefined)).toBeNull();
    const junk = { [FLEETIQ_STATUS_ANNOTATION]: 'ON_FIRE', [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: 'now' };
    expect(readObservedStatus(junk)).toBeUndefined();
    expect(
      observedStatusAnnotations(junk, { status: 'ACTIVE', observedAt: at('2026-11-21T10:00:00Z') }),
    ).not.toBeNull();
    expect(
      readObservedStatus({
        [FLEETIQ_STATUS_ANNOTATION]: 'ACTIVE',
        [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: 'later',
      }),
    ).toBeUndefined();
  });

  it('is not drain state: a revert leaves it', () => {
    expect(DRAIN_ANNOTATIONS).not.toContain(FLEETIQ_STATUS_ANNOTATION);
    expect(DRAIN_ANNOTATIONS).not.toContain(FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION);
    expect(FLEETIQ_STATUS_ANNOTATION.startsWith(NODE_ANNOTATION_PREFIX)).toBe(true);
  });
});
