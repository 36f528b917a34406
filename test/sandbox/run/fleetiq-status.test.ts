// `kubectl fleetiq status`: the rows from a cluster's objects (pure), and the plugin reading a real
// API server (the emulator over HTTPS with a kubeconfig, as kubectl hands it over).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  buildStatusRows,
  compareNodeNames,
  formatAge,
  formatStatusDocument,
  formatStatusTable,
  type ClusterState,
} from '../../../cli/fleetiq-status.js';
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE, runFleetIQPlugin } from '../../../cli/plugin.js';
import { unsupportedNodeMessage } from '../../../cli/node-version.js';
import { startKubeEmulator, type KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { waitFor } from '../../helpers/wait.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const REPO = process.cwd();

function state(): ClusterState {
  return {
    nodes: [
      {
        metadata: {
          name: 'ip-10-0-0-5.ec2.internal',
          labels: { role: 'game-servers', 'gamelift.status/instance-status': 'DRAINING' },
          annotations: {
            'gamelift.status/drain-phase': 'Tainted',
            'gamelift.status/drain-reason': 'request',
            'gamelift.status/drain-started-at': '2026-01-01T11:57:30.000Z',
            'gamelift.status/drain-request': 'deregister',
            'gamelift.status/drain-requested-at': '2026-01-01T11:57:29.000Z',
            // FleetIQ made the instance ACTIVE again: the label still says what the agent acted on.
            'gamelift.status/fleetiq-status': 'ACTIVE',
            'gamelift.status/fleetiq-status-observed-at': '2026-01-01T11:59:48.000Z',
          },
        },
        spec: {
          providerID: 'aws:///us-east-1a/i-0aaaaaaaaaaaaaaa1',
          unschedulable: true,
          taints: [{ key: 'gamelift.status/draining' }],
        },
      },
      {
        metadata: { name: 'ip-10-0-0-10.ec2.internal', labels: { role: 'game-servers' } },
        spec: { providerID: 'aws:///us-east-1b/i-0ddddddddddddddd4' },
      },
      {
        metadata: {
          name: 'ip-10-0-0-4.ec2.internal',
          labels: { role: 'game-servers' },
          // Recorded by an older agent, without a reason: read as what it drained for.
          annotations: { 'gamelift.status/drain-phase': 'SpotEvicting' },
        },
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
  it('joins nodes, their game server pods and the GameServers by namespace and name, in natural node order', () => {
    expect(buildStatusRows(state())).toEqual([
      {
        node: 'ip-10-0-0-4.ec2.internal',
        instanceId: 'i-0bbbbbbbbbbbbbbb2',
        fleetiqStatus: '-',
        instanceStatusLabel: '-',
        drainPhase: 'SpotEvicting',
        drainReason: 'spot',
        drainRequest: '-',
        cordoned: false,
        tainted: false,
        allocated: 1,
        ready: 2,
        gameServers: 3,
      },
      {
        node: 'ip-10-0-0-5.ec2.internal',
        instanceId: 'i-0aaaaaaaaaaaaaaa1',
        fleetiqStatus: 'ACTIVE',
        fleetiqStatusObservedAt: NOW - 12_000,
        instanceStatusLabel: 'DRAINING',
        drainPhase: 'Tainted',
        drainReason: 'request',
        drainStartedAt: NOW - 150_000,
        drainRequest: 'deregister',
        drainRequestedAt: NOW - 151_000,
        cordoned: true,
        tainted: true,
        allocated: 1,
        ready: 0,
        gameServers: 2,
      },
      {
        node: 'ip-10-0-0-10.ec2.internal',
        instanceId: 'i-0ddddddddddddddd4',
        fleetiqStatus: '-',
        instanceStatusLabel: '-',
        drainPhase: 'Active',
        drainReason: '-',
        drainRequest: '-',
        cordoned: false,
        tainted: false,
        allocated: 0,
        ready: 0,
        gameServers: 0,
      },
    ]);
  });

  it('sorts node names as a person counts', () => {
    const names = ['ip-10-0-0-10', 'ip-10-0-0-4', 'ip-10-0-1-2', 'ip-10-0-0-40', 'b', 'a'];
    expect(names.sort(compareNodeNames)).toEqual([
      'a',
      'b',
      'ip-10-0-0-4',
      'ip-10-0-0-10',
      'ip-10-0-0-40',
      'ip-10-0-1-2',
    ]);
  });

  it('prints a kubectl-style table: FLEETIQ-STATUS is what the agent observed, not the node label; REASON and REQUEST', () => {
    expect(formatStatusTable(buildStatusRows(state()), NOW)).toBe(
      [
        'NODE                        INSTANCE              FLEETIQ-STATUS   SEEN   DRAIN-PHASE    REASON    DRAINING-FOR   REQUEST      ALLOCATED   READY',
        'ip-10-0-0-4.ec2.internal    i-0bbbbbbbbbbbbbbb2   -                -      SpotEvicting   spot      -              -            1           2',
        'ip-10-0-0-5.ec2.internal    i-0aaaaaaaaaaaaaaa1   ACTIVE           12s    Tainted        request   2m30s          deregister   1           0',
        'ip-10-0-0-10.ec2.internal   i-0ddddddddddddddd4   -                -      Active         -         -              -            0           0',
      ].join('\n'),
    );
    expect(formatStatusTable([], NOW)).toBe('No game server nodes (label role=game-servers) found.');
  });

  it('adds the node label, the game server count and scheduling with -o wide', () => {
    const lines = formatStatusTable(buildStatusRows(state()), NOW, true).split('\n');
    expect(lines[0]).toMatch(/READY\s+NODE-LABEL\s+GAME-SERVERS\s+SCHEDULING$/);
    expect(lines[2]).toMatch(/\s+0\s+DRAINING\s+2\s+Cordoned,DrainTaint$/);
    expect(lines[1]).toMatch(/\s+2\s+-\s+3\s+Schedulable$/);
  });

  it('gives json and yaml documents with times, not ages', () => {
    const rows = buildStatusRows(state());
    const json = JSON.parse(formatStatusDocument(rows, 'json'));
    expect(json.kind).toBe('List');
    expect(json.items.map((i: { node: string }) => i.node)).toEqual(rows.map((r) => r.node));
    expect(json.items[1]).toEqual({
      node: 'ip-10-0-0-5.ec2.internal',
      instanceId: 'i-0aaaaaaaaaaaaaaa1',
      fleetiqStatus: 'ACTIVE',
      fleetiqStatusObservedAt: '2026-01-01T11:59:48.000Z',
      instanceStatusLabel: 'DRAINING',
      drainPhase: 'Tainted',
      drainReason: 'request',
      drainStartedAt: '2026-01-01T11:57:30.000Z',
      drainRequest: 'deregister',
      drainRequestedAt: '2026-01-01T11:57:29.000Z',
      cordoned: true,
      tainted: true,
      allocated: 1,
      ready: 0,
      gameServers: 2,
    });
    expect(json.items[0].fleetiqStatus).toBeNull();
    expect(json.items[2]).toMatchObject({ drainReason: null, drainRequest: null, drainRequestedAt: null });
    expect(parseYaml(formatStatusDocument(rows, 'yaml'))).toEqual(json);
  });

  it('formats ages like kubectl', () => {
    expect(formatAge(4_000)).toBe('4s');
    expect(formatAge(120_000)).toBe('2m');
    expect(formatAge(95_000)).toBe('1m35s');
    expect(formatAge(3_720_000)).toBe('1h2m');
    expect(formatAge(90_000_000)).toBe('1d1h');
    expect(formatAge(-5_000)).toBe('0s');
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
        labels: {
          role: 'game-servers',
          'gamelift.status/instance-status': 'SPOT_TERMINATING',
          'gamelift.status/drain-phase': 'SpotEvicting',
        },
        annotations: {
          'gamelift.status/drain-phase': 'SpotEvicting',
          'gamelift.status/drain-started-at': new Date(Date.now() - 65_000).toISOString(),
          'gamelift.status/fleetiq-status': 'SPOT_TERMINATING',
          'gamelift.status/fleetiq-status-observed-at': new Date(Date.now() - 3_000).toISOString(),
        },
      },
      spec: { providerID: 'aws:///us-east-1c/i-0ccccccccccccccc3', unschedulable: true },
    });
    await admin.create(nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'ip-10-0-0-10.ec2.internal', labels: { role: 'game-servers' } },
      spec: { providerID: 'aws:///us-east-1c/i-0eeeeeeeeeeeeeee5' },
    });
    await admin.create(
      { group: '', version: 'v1', resource: 'namespaces' },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'games' } },
    );
    // One game server per node: Allocated in default on -9, Ready in games on -10.
    for (const [name, namespace, node, state] of [
      ['gs-a', 'default', 'ip-10-0-0-9.ec2.internal', 'Allocated'],
      ['gs-b', 'games', 'ip-10-0-0-10.ec2.internal', 'Ready'],
    ] as const) {
      await admin.create(
        { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace },
        {
          apiVersion: 'agones.dev/v1',
          kind: 'GameServer',
          metadata: { name, namespace },
          spec: { container: 'game', ports: [] },
          status: { state, nodeName: node },
        },
      );
      await admin.create(
        { group: '', version: 'v1', resource: 'pods', namespace },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace, labels: { 'agones.dev/role': 'gameserver' } },
          spec: { nodeName: node, containers: [{ name: 'game', image: 'game:1' }] },
        },
      );
    }
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
      expect(await runFleetIQPlugin([...args], c.io(env))).toBe(EXIT_OK);
      const lines = c.out.join('').trim().split('\n');
      expect(lines.map((l) => l.split(/\s+/)[0])).toEqual([
        'NODE',
        'ip-10-0-0-9.ec2.internal',
        'ip-10-0-0-10.ec2.internal',
      ]);
      expect(lines[1]).toMatch(
        /^ip-10-0-0-9\.ec2\.internal\s+i-0ccccccccccccccc3\s+SPOT_TERMINATING\s+\d+s\s+SpotEvicting\s+spot\s+1m\d+s\s+-\s+1\s+0$/,
      );
    }
  });

  it('uses --context, and names the contexts it has when the one asked for is missing', async () => {
    // The current context points nowhere; the one named on the command line is the emulator.
    const doc = parseYaml(emu.kubeconfig());
    const good = doc['current-context'];
    doc.clusters.push({ name: 'nowhere', cluster: { server: 'https://127.0.0.1:1' } });
    doc.contexts.push({
      name: 'nowhere',
      context: { cluster: 'nowhere', user: doc.contexts[0].context.user },
    });
    doc['current-context'] = 'nowhere';
    const kubeconfig = join(dir, 'two-contexts');
    writeFileSync(kubeconfig, stringifyYaml(doc));

    const c = capture();
    expect(await runFleetIQPlugin(['status', '--context', good], c.io({ KUBECONFIG: kubeconfig }))).toBe(
      EXIT_OK,
    );
    expect(c.out.join('')).toContain('ip-10-0-0-9.ec2.internal');
    const missing = capture();
    expect(
      await runFleetIQPlugin(['status', '--context', 'prod'], missing.io({ KUBECONFIG: kubeconfig })),
    ).toBe(EXIT_ERROR);
    expect(missing.err.join('')).toBe(
      `error: cannot load the kubeconfig: context "prod" not found (the kubeconfig has: ${good}, nowhere)\n`,
    );
  });

  it('selects nodes with -l and counts game servers of one namespace with -n', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    const rows = async (...args: string[]) => {
      const c = capture();
      expect(
        await runFleetIQPlugin(['status', '-o', 'json', ...args], c.io({ KUBECONFIG: kubeconfig })),
      ).toBe(EXIT_OK);
      return JSON.parse(c.out.join('')).items as Array<{ node: string; allocated: number; ready: number }>;
    };
    expect((await rows()).map((r) => [r.node, r.allocated, r.ready])).toEqual([
      ['ip-10-0-0-9.ec2.internal', 1, 0],
      ['ip-10-0-0-10.ec2.internal', 0, 1],
    ]);
    expect((await rows('-l', 'gamelift.status/drain-phase=SpotEvicting')).map((r) => r.node)).toEqual([
      'ip-10-0-0-9.ec2.internal',
    ]);
    expect((await rows('-n', 'games')).map((r) => [r.node, r.allocated, r.ready])).toEqual([
      ['ip-10-0-0-9.ec2.internal', 0, 0],
      ['ip-10-0-0-10.ec2.internal', 0, 1],
    ]);
  });

  it('prints yaml and wide output', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    const yaml = capture();
    expect(await runFleetIQPlugin(['status', '-o', 'yaml', '--kubeconfig', kubeconfig], yaml.io({}))).toBe(0);
    expect(parseYaml(yaml.out.join('')).items[0]).toMatchObject({
      node: 'ip-10-0-0-9.ec2.internal',
      fleetiqStatus: 'SPOT_TERMINATING',
      instanceStatusLabel: 'SPOT_TERMINATING',
      drainPhase: 'SpotEvicting',
    });
    const wide = capture();
    expect(await runFleetIQPlugin(['status', '-owide', '--kubeconfig', kubeconfig], wide.io({}))).toBe(0);
    expect(wide.out.join('').split('\n')[1]).toMatch(/\s+SPOT_TERMINATING\s+1\s+Cordoned$/);
  });

  it('says why when the cluster cannot be read, and exits 1', async () => {
    // An identity without any RBAC binding: 403 on the node list.
    const kubeconfig = join(dir, 'nobody');
    await emu.writeKubeconfig(kubeconfig, { username: 'nobody', groups: ['system:authenticated'] });
    const c = capture();
    expect(await runFleetIQPlugin(['status'], c.io({ KUBECONFIG: kubeconfig }))).toBe(EXIT_ERROR);
    expect(c.err.join('')).toMatch(
      /^error: cannot read the cluster \(https:\/\/127\.0\.0\.1:\d+\): the API server answered 403/,
    );
  });

  it('watches until stopped, printing again only on a change', async () => {
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
    await emu
      .client()
      .patch({ group: '', version: 'v1', resource: 'nodes', name: 'ip-10-0-0-10.ec2.internal' }, 'merge', {
        metadata: { annotations: { 'gamelift.status/drain-phase': 'Cordoned' } },
      });
    await waitFor('the changed table', () => c.out.length > 1, 10_000);
    controller.abort();
    expect(await done).toBe(EXIT_OK);
    expect(c.out).toHaveLength(2);
    expect(c.out[1]).toMatch(/ip-10-0-0-10\.ec2\.internal.*Cordoned/);
  });

  it('exits 2 on a usage error: a bad --interval or -o, an unknown flag', async () => {
    for (const [args, message] of [
      [['status', '--watch', '--interval', 'soon'], '--interval must be a positive number of seconds'],
      [['status', '-o', 'xml'], "argument 'xml' is invalid"],
      [['status', '--frobnicate'], "unknown option '--frobnicate'"],
      [['status', '-n', 'a', '-A'], '--namespace and --all-namespaces cannot be combined'],
    ] as const) {
      const c = capture();
      expect(await runFleetIQPlugin([...args], c.io({}))).toBe(EXIT_USAGE);
      expect(c.err.join('')).toContain(message);
    }
    const help = capture();
    expect(await runFleetIQPlugin(['status', '--help'], help.io({}))).toBe(EXIT_OK);
    expect(help.out.join('')).toContain('Exit codes: 0 done; 1');
  });
});

describe('the plugin on an unsupported Node.js', () => {
  it('says it needs Node.js 24 instead of crashing while loading its libraries', async () => {
    expect(unsupportedNodeMessage('24.0.0', 'p')).toBeUndefined();
    expect(unsupportedNodeMessage('v25.1.0', 'p')).toBeUndefined();
    expect(unsupportedNodeMessage('20.20.2', 'p')).toMatch(
      /^p needs Node\.js 24 or later; this is Node\.js 20\.20\.2/,
    );
    // The real entry point, on a Node that reports version 20 (as the machine's own Node would).
    const fake = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.20.2'})`;
    const child = spawn(
      process.execPath,
      ['--import', fake, '--import', 'tsx', 'cli/kubectl-fleetiq.ts', 'status'],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(err).toMatch(/^error: kubectl fleetiq needs Node\.js 24 or later; this is Node\.js 20\.20\.2\./);
    expect(err).not.toMatch(/TypeError|undici/);
    expect(code).toBe(EXIT_ERROR);
  }, 30_000);
});
