// `kubectl fleetiq status`: the rows from a cluster's objects (pure), and the plugin reading a real
// API server (the emulator over HTTPS with a kubeconfig, as kubectl hands it over).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  buildStatusRows,
  formatAge,
  formatStatusTable,
  runFleetIQPlugin,
  type ClusterState,
} from '../../cli/fleetiq-status.js';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import { waitFor } from '../helpers/wait.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');

function state(): ClusterState {
  return {
    nodes: [
      {
        metadata: {
          name: 'ip-10-0-0-5.ec2.internal',
          labels: { role: 'game-servers', 'gamelift.status/instance-status': 'DRAINING' },
          annotations: {
            'gamelift.status/drain-phase': 'Tainted',
            'gamelift.status/drain-started-at': '2026-01-01T11:57:30.000Z',
          },
        },
        spec: {
          providerID: 'aws:///us-east-1a/i-0aaaaaaaaaaaaaaa1',
          unschedulable: true,
          taints: [{ key: 'gamelift.status/draining' }],
        },
      },
      {
        metadata: { name: 'ip-10-0-0-4.ec2.internal', labels: { role: 'game-servers' } },
        spec: { providerID: 'aws:///us-east-1b/i-0bbbbbbbbbbbbbbb2' },
      },
    ],
    pods: [
      { metadata: { name: 'gs-1', namespace: 'default' }, spec: { nodeName: 'ip-10-0-0-5.ec2.internal' } },
      { metadata: { name: 'gs-2', namespace: 'default' }, spec: { nodeName: 'ip-10-0-0-5.ec2.internal' } },
      { metadata: { name: 'gs-3', namespace: 'games' }, spec: { nodeName: 'ip-10-0-0-4.ec2.internal' } },
      { metadata: { name: 'gs-4', namespace: 'default' }, spec: { nodeName: 'ip-10-0-0-4.ec2.internal' } },
      { metadata: { name: 'gs-5', namespace: 'default' }, spec: { nodeName: 'ip-10-0-0-4.ec2.internal' } },
      { metadata: { name: 'pending', namespace: 'default' }, spec: {} },
    ],
    gameServers: [
      { metadata: { name: 'gs-1', namespace: 'default' }, status: { state: 'Allocated' } },
      { metadata: { name: 'gs-2', namespace: 'default' }, status: { state: 'Shutdown' } },
      { metadata: { name: 'gs-3', namespace: 'games' }, status: { state: 'Allocated' } },
      // Same name, other namespace: not the pod's GameServer.
      { metadata: { name: 'gs-3', namespace: 'default' }, status: { state: 'Ready' } },
      { metadata: { name: 'gs-4', namespace: 'default' }, status: { state: 'Ready' } },
      { metadata: { name: 'gs-5', namespace: 'default' }, status: { state: 'Ready' } },
    ],
  };
}

describe('status rows', () => {
  it('joins nodes, their game server pods and the GameServers by namespace and name', () => {
    expect(buildStatusRows(state(), NOW)).toEqual([
      {
        node: 'ip-10-0-0-4.ec2.internal',
        instanceId: 'i-0bbbbbbbbbbbbbbb2',
        fleetiqStatus: '-',
        drainPhase: 'Active',
        cordoned: false,
        tainted: false,
        allocated: 1,
        ready: 2,
        gameServers: 3,
      },
      {
        node: 'ip-10-0-0-5.ec2.internal',
        instanceId: 'i-0aaaaaaaaaaaaaaa1',
        fleetiqStatus: 'DRAINING',
        drainPhase: 'Tainted',
        drainingForMs: 150_000,
        cordoned: true,
        tainted: true,
        allocated: 1,
        ready: 0,
        gameServers: 2,
      },
    ]);
  });

  it('prints a kubectl-style table', () => {
    expect(formatStatusTable(buildStatusRows(state(), NOW))).toBe(
      [
        'NODE                       INSTANCE              FLEETIQ-STATUS   DRAIN-PHASE   DRAINING-FOR   ALLOCATED   READY   SCHEDULING',
        'ip-10-0-0-4.ec2.internal   i-0bbbbbbbbbbbbbbb2   -                Active        -              1           2       Schedulable',
        'ip-10-0-0-5.ec2.internal   i-0aaaaaaaaaaaaaaa1   DRAINING         Tainted       2m30s          1           0       Cordoned,DrainTaint',
      ].join('\n'),
    );
    expect(formatStatusTable([])).toBe('No game server nodes (label role=game-servers) found.');
  });

  it('formats ages like kubectl', () => {
    expect(formatAge(4_000)).toBe('4s');
    expect(formatAge(120_000)).toBe('2m');
    expect(formatAge(95_000)).toBe('1m35s');
    expect(formatAge(3_720_000)).toBe('1h2m');
    expect(formatAge(90_000_000)).toBe('1d1h');
  });
});

describe('the plugin against an API server', () => {
  let emu: KubeEmulator;
  let dir: string;

  beforeAll(async () => {
    emu = await startKubeEmulator({ authorization: 'rbac' });
    dir = mkdtempSync(join(tmpdir(), 'fleetiq-status-'));
    const admin = emu.client();
    const nodes = { group: '', version: 'v1', resource: 'nodes' };
    await admin.create(nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'ip-10-0-0-9.ec2.internal',
        labels: { role: 'game-servers', 'gamelift.status/instance-status': 'SPOT_TERMINATING' },
        annotations: {
          'gamelift.status/drain-phase': 'SpotEvicting',
          'gamelift.status/drain-started-at': new Date(Date.now() - 65_000).toISOString(),
        },
      },
      spec: { providerID: 'aws:///us-east-1c/i-0ccccccccccccccc3', unschedulable: true },
    });
    // Not a game server node: not listed.
    await admin.create(nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'system-node' },
      spec: {},
    });
  });

  afterAll(async () => {
    await emu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      io: (env: Record<string, string | undefined>) => ({
        stdout: { write: (s: string) => out.push(s) },
        stderr: { write: (s: string) => err.push(s) },
        env,
      }),
    };
  };

  it('reads the game server nodes with the kubeconfig from KUBECONFIG or --kubeconfig', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await emu.writeKubeconfig(kubeconfig);
    for (const [args, env] of [
      [['status'], { KUBECONFIG: kubeconfig }],
      [['status', '--kubeconfig', kubeconfig], {}],
    ] as const) {
      const c = capture();
      expect(await runFleetIQPlugin([...args], c.io(env))).toBe(0);
      const lines = c.out.join('').trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatch(
        /^ip-10-0-0-9\.ec2\.internal\s+i-0ccccccccccccccc3\s+SPOT_TERMINATING\s+SpotEvicting\s+1m\d+s\s+0\s+0\s+Cordoned$/,
      );
    }
  });

  it('says why when the cluster cannot be read, and exits 1', async () => {
    // An identity without any RBAC binding: 403 on the node list.
    const kubeconfig = join(dir, 'nobody');
    await emu.writeKubeconfig(kubeconfig, { username: 'nobody', groups: ['system:authenticated'] });
    const c = capture();
    expect(await runFleetIQPlugin(['status'], c.io({ KUBECONFIG: kubeconfig }))).toBe(1);
    expect(c.err.join('')).toMatch(
      /^error: cannot read the cluster \(https:\/\/127\.0\.0\.1:\d+\): the API server answered 403/,
    );
  });

  it('watches until stopped', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    const c = capture();
    const controller = new AbortController();
    const done = runFleetIQPlugin(
      ['status', '--watch', '--interval', '0.05', '--kubeconfig', kubeconfig],
      c.io({}),
      controller.signal,
    );
    // Not a terminal: the table is printed once, then again only if it changes.
    await waitFor('the first table', () => c.out.length > 0, 10_000);
    controller.abort();
    expect(await done).toBe(0);
    expect(c.out.join('')).toContain('SpotEvicting');
  });

  it('rejects a bad --interval', async () => {
    const c = capture();
    expect(await runFleetIQPlugin(['status', '--watch', '--interval', 'soon'], c.io({}))).toBe(1);
    expect(c.err.join('')).toContain('--interval must be a positive number of seconds');
  });
});
