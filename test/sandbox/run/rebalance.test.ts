// The sandbox's rebalance recommendations: which Spot notices get one (seeded), the flags, the spot
// summary (sessions ended early per 100 notices, apart after a recommendation) and the node-minutes
// cordoned by drain reason the recorder keeps.
import { describe, expect, it } from '@jest/globals';
import type { SessionRecord } from '../../../sandbox/cluster/sessions.js';
import { rebalancedSteps } from '../../../sandbox/run/load.js';
import { SandboxRecorder } from '../../../sandbox/run/metrics.js';
import { parseSandboxFlags } from '../../../sandbox/run/options.js';
import { rateSchedule } from '../../../sandbox/run/interruptions.js';
import { spotSummary } from '../../../sandbox/run/report.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';
import { configError } from '../../helpers/config-error.js';

const session = (
  id: number,
  nodeName: string,
  outcome: SessionRecord['outcome'],
  extra: Partial<SessionRecord> = {},
) =>
  ({
    id,
    namespace: 'default',
    gameServer: `gs-${id}`,
    nodeName,
    allocatedAt: 0,
    outcome,
    interruptedBySpotNotice: false,
    ...extra,
  }) as SessionRecord;

describe('sandbox rebalance recommendations', () => {
  it('precede a seeded share of the Spot notices only, the same for a seed whatever else changes', () => {
    const steps = rateSchedule(2, 0.5, 7, 60 * 60_000);
    const a = rebalancedSteps(steps, 0.6, 7);
    expect(a).toEqual(rebalancedSteps(steps, 0.6, 7));
    steps.forEach((s, i) => {
      if (s.status !== 'SPOT_TERMINATING') expect(a[i]).toBe(false);
    });
    const spot = steps.filter((s) => s.status === 'SPOT_TERMINATING').length;
    const share = a.filter(Boolean).length / spot;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.8);
    expect(rebalancedSteps(steps, 0, 7).some(Boolean)).toBe(false);
    expect(rebalancedSteps(steps, 1, 7).filter(Boolean)).toHaveLength(spot);
  });

  it('are configured by flags, each error naming its flag', () => {
    const o = parseSandboxFlags({
      rebalanceShare: '0.25',
      rebalanceLead: '90s',
      rebalanceRecommendation: 'event',
      rebalanceDrainWindow: '5m',
    });
    expect(o.rebalance).toEqual({ share: 0.25, leadMs: 90_000 });
    expect(o.agentRebalance).toEqual({ action: 'event', windowMs: 300_000 });
    expect(parseSandboxFlags({}).rebalance.share).toBe(0);
    expect(configError(() => parseSandboxFlags({ rebalanceShare: '2' })).message).toContain(
      '--rebalance-share',
    );
    expect(configError(() => parseSandboxFlags({ rebalanceLead: 'soon' })).message).toContain(
      '--rebalance-lead',
    );
    expect(configError(() => parseSandboxFlags({ rebalanceRecommendation: 'cordon' })).message).toContain(
      '--rebalance-recommendation',
    );
    expect(configError(() => parseSandboxFlags({ rebalanceDrainWindow: '0s' })).message).toContain(
      '--rebalance-drain-window',
    );
  });

  it('spot summary: sessions ended early per 100 notices, apart after a recommendation; lost ones apart', () => {
    const nodes = {
      spotNoticeAt: new Map([
        ['n1', 100_000],
        ['n2', 200_000],
      ]),
      terminatedAt: new Map([
        ['n1', 220_000],
        ['n2', 320_000],
      ]),
      // n1 was warned before its notice; n3's recommendation had no notice after it.
      rebalanceAt: new Map([
        ['n1', 10_000],
        ['n3', 50_000],
      ]),
    };
    const records = [
      session(1, 'n1', 'lost', { lostReason: 'pod-gone', endedAt: 150_000, interruptedBySpotNotice: true }),
      session(2, 'n2', 'lost', { lostReason: 'pod-gone', endedAt: 250_000, interruptedBySpotNotice: true }),
      session(3, 'n2', 'lost', { lostReason: 'pod-gone', endedAt: 260_000, interruptedBySpotNotice: true }),
      session(4, 'n2', 'lost', { lostReason: 'node-gone', endedAt: 320_000, interruptedBySpotNotice: true }),
      session(5, 'n3', 'completed', { endedAt: 90_000 }),
    ];
    const s = spotSummary(records, nodes, { rebalance: 180_000, spot: 60_000 });
    expect(s).toEqual({
      notices: 2,
      noticesAfterRecommendation: 1,
      recommendations: 2,
      sessionsEndedEarly: 3,
      sessionsEndedEarlyAfterRecommendation: 1,
      sessionsEndedEarlyPer100Notices: 150,
      sessionsLostToNotices: 1,
      cordonedNodeMinutes: { total: 4, byReason: { rebalance: 3, spot: 1 } },
    });
  });

  it('the recorder counts cordoned time by drain reason, a takeover starting a new interval', () => {
    const r = new SandboxRecorder();
    const node = (unschedulable: boolean, reason?: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'n1',
        annotations: reason
          ? { 'gamelift.status/drain-reason': reason, 'gamelift.status/drain-phase': 'Cordoned' }
          : {},
      },
      spec: { providerID: 'aws:///us-east-1a/i-1', ...(unschedulable ? { unschedulable: true } : {}) },
    });
    r.nodeObserved('ADDED', node(false), 0, 0);
    r.nodeObserved('MODIFIED', node(true, 'rebalance'), 60_000, 0);
    r.nodeObserved('MODIFIED', node(true, 'spot'), 240_000, 0);
    expect(r.cordonedMs(300_000)).toEqual({ rebalance: 180_000, spot: 60_000 });
    r.nodeObserved('DELETED', node(true, 'spot'), 330_000, 0);
    expect(r.cordonedMs(900_000)).toEqual({ rebalance: 180_000, spot: 90_000 });
  });
});
