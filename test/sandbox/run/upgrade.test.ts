// The sandbox's upgrade scenario (--upgrade) with the real components: while players keep playing,
// every node of the node group is replaced through the rolling drain (the plugin's planner, the
// drain-request annotation, the real node agents draining, each Drained node's instance terminated and
// a new node joining the new group), and no session is lost. Before it, an operator's scripted drain
// request (--interruptions DRAIN, UNDRAIN) drains a node and is withdrawn. Small and fast, like the
// other sandbox scenarios.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GAME_SERVER_GROUP, NODE_GROUP, NODE_GROUP_LABEL } from '../../../sandbox/run/topology.js';
import { UPGRADED_NODE_GROUP } from '../../../sandbox/run/upgrade.js';
import type { Sandbox } from '../../../sandbox/run/sandbox.js';
import type { SandboxReport } from '../../../sandbox/run/report.js';
import { formatSummary } from '../../../sandbox/run/report.js';
import { startTestSandbox } from './support.js';

const NODES = { group: '', version: 'v1', resource: 'nodes' };

describe('--upgrade max-unavailable=2 while players play, after a scripted drain request', () => {
  let sb: Sandbox;
  let report: SandboxReport;
  let originals: string[];

  beforeAll(async () => {
    sb = await startTestSandbox({
      duration: '60s',
      settle: '5m',
      allocationRate: '30/min',
      sessionSeconds: '20-40',
      interruptions: '3s:DRAIN:1,30s:UNDRAIN:1',
      upgrade: 'max-unavailable=2,at=35s',
    });
    originals = sb.topology.sim.nodes.instances().map((i) => i.instanceId);
    await sb.run();
    report = sb.report();
  }, 240_000);

  afterAll(async () => {
    await sb?.stop();
  }, 120_000);

  it('replaces every original node, at most two at a time, and loses no session', async () => {
    const summary = formatSummary(report);
    expect(report.upgrade).toMatchObject({
      complete: true,
      maxUnavailable: 2,
      mode: 'drain',
      selector: `role=game-servers,${NODE_GROUP_LABEL}=${NODE_GROUP}`,
      nodesToReplace: 4,
      nodesReplaced: 4,
      nodesGoneOtherwise: 0,
    });
    expect(report.upgrade!.maxUnavailableSeen).toBeLessThanOrEqual(2);
    expect(report.upgrade!.durationSeconds).toBeGreaterThan(0);
    expect(summary).toMatch(
      /Upgrade: {6}4\/4 nodes replaced through the rolling drain \(max-unavailable 2, at most [12] at once\), complete in .* simulated; sessions lost 0/,
    );
    // Players kept playing during the upgrade, and none of them lost a session.
    expect(report.sessions.started).toBeGreaterThan(10);
    expect(report.sessions.lost).toBe(0);
    expect(report.nodes?.stranded).toBe(0);
    // Every original instance is gone; the nodes now are all new ones, in the upgraded group.
    const fleetiq = sb.topology.fleetiq.control;
    for (const id of originals) expect(fleetiq.instance(id)?.terminated).toBeTruthy();
    const nodes = (await sb.topology.kube.client().list(NODES)).items;
    expect(nodes).toHaveLength(4);
    for (const n of nodes) expect(n.metadata.labels?.[NODE_GROUP_LABEL]).toBe(UPGRADED_NODE_GROUP);
    expect(fleetiq.instances({ group: GAME_SERVER_GROUP }).filter((i) => !i.terminated)).toHaveLength(4);
    // Each replaced node went through the drain to Drained before its instance was terminated.
    for (const t of sb.recorder.nodes.values())
      if (originals.includes(t.instanceId)) expect(t.segments.map((s) => s.phase)).toContain('Drained');
  });

  it('applied the operator’s scripted drain request and its withdrawal: the node drained, then came back', () => {
    const events = sb.recorder.recent.map((e) => e.text);
    const requested = events.find((t) => t.startsWith('operator: drain requested on '));
    expect(requested).toBeDefined();
    const node = /on (\S+) \(drain\)/.exec(requested!)![1]!;
    expect(events).toContain(`operator: undrain ${node}`);
    const track = [...sb.recorder.nodes.values()].find(
      (t) => t.name.startsWith(`${node}.`) || t.name === node,
    )!;
    const phases = track.segments.map((s) => s.phase);
    // Drained for the request (Cordoned at least), then back to Active before the upgrade took it.
    const firstDrain = phases.findIndex((p) => p !== 'Active');
    expect(firstDrain).toBeGreaterThan(0);
    expect(phases.slice(firstDrain).indexOf('Active')).toBeGreaterThan(0);
    expect(report.drains.reverted).toBeGreaterThanOrEqual(1);
  });
});
