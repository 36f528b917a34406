// The real kubectl against the emulator, with a kubeconfig the emulator wrote: what an operator
// (and the runbooks) do must work and print what it prints on a cluster.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { eventually, merge, node, pod, startEmulator, GS_REF, NODE_REF, POD_REF } from './support.js';

const KUBECTL = '/usr/bin/kubectl';
let emu: KubeEmulator;
let dir: string;
let kubeconfig: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The whitespace-separated columns of each output line. */
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));

beforeAll(async () => {
  emu = await startEmulator();
  dir = await mkdtemp(join(tmpdir(), 'kubectl-test-'));
  kubeconfig = join(dir, 'kubeconfig');
  await emu.writeKubeconfig(kubeconfig);
  const c = emu.client();
  await c.create(NODE_REF, {
    ...node('ip-10-0-0-1'),
    metadata: { name: 'ip-10-0-0-1', labels: { 'node-role.kubernetes.io/game': '', role: 'game-servers' } },
  });
  await c.create(NODE_REF, node('ip-10-0-0-2'));
  const gs = await c.create(GS_REF, {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: { name: 'gs-1' },
    spec: { ports: [{ name: 'default', containerPort: 7654 }] },
  });
  await c.update(
    { ...GS_REF, name: 'gs-1' },
    {
      ...gs,
      status: {
        state: 'Allocated',
        address: '10.0.0.1',
        ports: [{ name: 'default', port: 7001 }],
        nodeName: 'ip-10-0-0-1',
      },
    },
  );
  const owner = {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    name: 'gs-1',
    uid: gs.metadata.uid,
    controller: true,
  };
  await c.create(
    POD_REF,
    pod('gs-1', {
      nodeName: 'ip-10-0-0-1',
      ownerReferences: [owner],
      labels: { 'agones.dev/safe-to-evict': 'false' },
    }),
  );
  await c
    .patch({ ...POD_REF, name: 'gs-1' }, 'merge', {
      status: {
        phase: 'Running',
        podIP: '10.1.0.7',
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [
          {
            name: 'main',
            ready: true,
            restartCount: 2,
            image: 'game:1.0',
            imageID: '',
            state: { running: {} },
          },
        ],
      },
    })
    .catch(() => undefined);
  await c.update(
    { ...POD_REF, name: 'gs-1', subresource: 'status' },
    {
      ...(await c.get({ ...POD_REF, name: 'gs-1' })),
      status: {
        phase: 'Running',
        podIP: '10.1.0.7',
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [
          {
            name: 'main',
            ready: true,
            restartCount: 2,
            image: 'game:1.0',
            imageID: '',
            state: { running: {} },
          },
        ],
      },
    },
  );
  const ds = await c.create(
    { group: 'apps', version: 'v1', resource: 'daemonsets', namespace: 'kube-system' },
    {
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: { containers: [{ name: 'a', image: 'agent:1' }] },
        },
      },
    },
  );
  await c.create(
    { ...POD_REF, namespace: 'kube-system' },
    pod('agent-abcde', {
      nodeName: 'ip-10-0-0-1',
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: ds.metadata.uid, controller: true },
      ],
    }),
  );
  await c.create(
    { group: '', version: 'v1', resource: 'events', namespace: 'default' },
    {
      metadata: { name: 'ip-10-0-0-1.drain' },
      involvedObject: { kind: 'Node', name: 'ip-10-0-0-1', uid: 'ip-10-0-0-1' },
      reason: 'FleetIQDraining',
      message: 'instance is DRAINING in FleetIQ',
      type: 'Warning',
      source: { component: 'fleetiq-reconciler' },
      firstTimestamp: new Date().toISOString(),
      lastTimestamp: new Date().toISOString(),
      count: 1,
    },
  );
});

afterAll(async () => {
  await emu.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('kubectl get', () => {
  it('lists nodes with STATUS, ROLES and VERSION', async () => {
    const out = rows(await ok('get', 'nodes'));
    expect(out[0]).toEqual(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    expect(out[1][0]).toBe('ip-10-0-0-1');
    expect(out[1].slice(1, 3)).toEqual(['Ready', 'game']);
    expect(out[1][4]).toBe('v1.32.4');
    expect(out[2].slice(0, 3)).toEqual(['ip-10-0-0-2', 'Ready', '<none>']);
  });

  it('lists pods -o wide with READY, STATUS, RESTARTS, IP and NODE', async () => {
    const out = rows(await ok('get', 'pods', '-o', 'wide'));
    expect(out[0]).toEqual([
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES',
    ]);
    expect(out[1][0]).toBe('gs-1');
    expect(out[1].slice(1, 4)).toEqual(['1/1', 'Running', '2']);
    expect(out[1].slice(5, 7)).toEqual(['10.1.0.7', 'ip-10-0-0-1']);
  });

  it('lists game servers by short name with the Agones printer columns', async () => {
    for (const name of ['gs', 'gameservers', 'gameservers.agones.dev']) {
      const out = rows(await ok('get', name));
      expect(out[0]).toEqual(['NAME', 'STATE', 'ADDRESS', 'PORT', 'NODE', 'AGE']);
      expect(out[1].slice(0, 5)).toEqual(['gs-1', 'Allocated', '10.0.0.1', '7001', 'ip-10-0-0-1']);
    }
  });

  it('lists events', async () => {
    const out = rows(await ok('get', 'events'));
    expect(out[0]).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(out[1].slice(1)).toEqual([
      'Warning',
      'FleetIQDraining',
      'node/ip-10-0-0-1',
      'instance is DRAINING in FleetIQ',
    ]);
  });

  it('prints -o json and -o jsonpath from the stored object', async () => {
    const n = JSON.parse(await ok('get', 'node', 'ip-10-0-0-1', '-o', 'json'));
    expect(n.spec.providerID).toBe('aws:///us-east-1a/i-ip-10-0-0-1');
    expect(await ok('get', 'gs', 'gs-1', '-o', 'jsonpath={.status.state}')).toBe('Allocated');
    const missing = await kubectl('get', 'pod', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Error from server \(NotFound\): pods "nope" not found/);
  });
});

describe('kubectl describe', () => {
  it('describes a node with its pods (field selector) and events (involvedObject selector)', async () => {
    const out = await ok('describe', 'node', 'ip-10-0-0-1');
    expect(out).toMatch(/^Name:\s+ip-10-0-0-1$/m);
    expect(out).toMatch(/^Roles:\s+game$/m);
    expect(out).toMatch(/^ProviderID:\s+aws:\/\/\/us-east-1a\/i-ip-10-0-0-1$/m);
    expect(out).toMatch(/^Non-terminated Pods:\s+\(2 in total\)$/m);
    expect(out).toMatch(/^\s+default\s+gs-1\s/m);
    expect(out).toMatch(/^\s+kube-system\s+agent-abcde\s/m);
    expect(out).toMatch(/Warning\s+FleetIQDraining\s+.*fleetiq-reconciler\s+instance is DRAINING in FleetIQ/);
  });
});

describe('kubectl changes nodes', () => {
  it('cordons and uncordons', async () => {
    expect(await ok('cordon', 'ip-10-0-0-2')).toBe('node/ip-10-0-0-2 cordoned\n');
    expect((await emu.client().get({ ...NODE_REF, name: 'ip-10-0-0-2' })).spec.unschedulable).toBe(true);
    expect(rows(await ok('get', 'node', 'ip-10-0-0-2'))[1][1]).toBe('Ready,SchedulingDisabled');
    expect(await ok('uncordon', 'ip-10-0-0-2')).toBe('node/ip-10-0-0-2 uncordoned\n');
    expect((await emu.client().get({ ...NODE_REF, name: 'ip-10-0-0-2' })).spec.unschedulable).toBeUndefined();
  });

  it('adds and removes a taint, and fails on an invalid one', async () => {
    expect(await ok('taint', 'nodes', 'ip-10-0-0-2', 'gamelift.status/draining=true:NoExecute')).toBe(
      'node/ip-10-0-0-2 tainted\n',
    );
    expect((await emu.client().get({ ...NODE_REF, name: 'ip-10-0-0-2' })).spec.taints).toEqual([
      { key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' },
    ]);
    expect(await ok('taint', 'nodes', 'ip-10-0-0-2', 'gamelift.status/draining:NoExecute-')).toBe(
      'node/ip-10-0-0-2 untainted\n',
    );
    expect((await emu.client().get({ ...NODE_REF, name: 'ip-10-0-0-2' })).spec.taints ?? []).toEqual([]);
    const bad = await kubectl('taint', 'nodes', 'ip-10-0-0-2', 'k=v:Whenever');
    expect(bad.code).not.toBe(0);
  });

  it('labels and annotates', async () => {
    expect(await ok('label', 'node', 'ip-10-0-0-2', 'gamelift.status/instance-status=DRAINING')).toBe(
      'node/ip-10-0-0-2 labeled\n',
    );
    expect(await ok('annotate', 'pod', 'gs-1', 'example.com/note=hi')).toBe('pod/gs-1 annotated\n');
    expect(
      (await emu.client().get({ ...NODE_REF, name: 'ip-10-0-0-2' })).metadata.labels?.[
        'gamelift.status/instance-status'
      ],
    ).toBe('DRAINING');
    expect(
      (await emu.client().get({ ...POD_REF, name: 'gs-1' })).metadata.annotations?.['example.com/note'],
    ).toBe('hi');
    const invalid = await kubectl('label', 'node', 'ip-10-0-0-2', 'bad=not ok');
    expect(invalid.code).not.toBe(0);
  });
});

describe('kubectl create, patch and delete', () => {
  it('creates from a file (no client-side schema needed), patches three ways, and deletes', async () => {
    const file = join(dir, 'objects.yaml');
    await writeFile(
      file,
      [
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: spot\n',
        'apiVersion: agones.dev/v1\nkind: GameServer\nmetadata:\n  name: gs-from-file\nspec:\n  ports:\n  - name: default\n    containerPort: 7654\n',
        'apiVersion: v1\nkind: Pod\nmetadata:\n  name: plain\nspec:\n  containers:\n  - name: c\n    image: nginx:1.27\n',
      ].join('---\n'),
    );
    expect(await ok('create', '-f', file)).toBe(
      'configmap/settings created\ngameserver.agones.dev/gs-from-file created\npod/plain created\n',
    );
    const again = await kubectl('create', '-f', file);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Error from server \(AlreadyExists\).*configmaps "settings" already exists/);

    expect(
      await ok('patch', 'configmap', 'settings', '--type', 'merge', '-p', '{"data":{"mode":"on-demand"}}'),
    ).toBe('configmap/settings patched\n');
    expect(
      await ok(
        'patch',
        'configmap',
        'settings',
        '--type',
        'json',
        '-p',
        '[{"op":"add","path":"/data/extra","value":"1"}]',
      ),
    ).toBe('configmap/settings patched\n');
    expect(
      await ok('patch', 'pod', 'plain', '-p', '{"spec":{"containers":[{"name":"c","image":"nginx:1.28"}]}}'),
    ).toBe('pod/plain patched\n');
    const cm = await emu
      .client()
      .get({ group: '', version: 'v1', resource: 'configmaps', namespace: 'default', name: 'settings' });
    expect(cm.data).toEqual({ mode: 'on-demand', extra: '1' });
    expect((await emu.client().get({ ...POD_REF, name: 'plain' })).spec.containers[0].image).toBe(
      'nginx:1.28',
    );
    const forbidden = await kubectl('patch', 'pod', 'plain', '-p', '{"spec":{"nodeName":"ip-10-0-0-2"}}');
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/pod updates may not change fields other than/);
    const failedTest = await kubectl(
      'patch',
      'pod',
      'plain',
      '--type',
      'json',
      '-p',
      '[{"op":"test","path":"/metadata/resourceVersion","value":"1"}]',
    );
    expect(failedTest.code).toBe(1);

    expect(await ok('delete', 'pod', 'plain')).toBe('pod "plain" deleted\n');
    expect(await ok('delete', '-f', file, '--ignore-not-found')).toMatch(/configmap "settings" deleted/);
    expect(
      (await emu.client().list({ group: '', version: 'v1', resource: 'configmaps', namespace: 'default' }))
        .items,
    ).toEqual([]);
  });
});

describe('kubectl create of a GameServerAllocation', () => {
  it("works as in Agones' quick start, with the default client-side validation", async () => {
    emu.setAllocationHandler(async (ref, body) => ({
      ...body,
      metadata: { ...body.metadata, name: 'gs-1', namespace: ref.namespace },
      status: { state: 'Allocated', gameServerName: 'gs-1', nodeName: 'ip-10-0-0-1' },
    }));
    try {
      const file = join(dir, 'gameserverallocation.yaml');
      await writeFile(
        file,
        'apiVersion: "allocation.agones.dev/v1"\nkind: GameServerAllocation\nspec:\n  selectors:\n    - matchLabels:\n        agones.dev/fleet: simple-game-server\n',
      );
      // Without an OpenAPI v2 document, kubectl stops at "failed to download openapi".
      const r = await kubectl(
        'create',
        '-f',
        file,
        '-o',
        'jsonpath={.status.state} {.status.gameServerName}',
      );
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('Allocated gs-1');
    } finally {
      emu.setAllocationHandler(undefined);
    }
  });
});

describe('kubectl get --watch', () => {
  it('prints a line for a change made while it watches', async () => {
    const child = spawn(KUBECTL, [
      '--kubeconfig',
      kubeconfig,
      '--cache-dir',
      join(dir, 'cache'),
      'get',
      'gs',
      '--watch',
    ]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      await eventually(() => out.includes('gs-1'), 15_000, 'initial listing');
      const gs = await emu.client().get({ ...GS_REF, name: 'gs-1' });
      await emu
        .client()
        .update({ ...GS_REF, name: 'gs-1' }, { ...gs, status: { ...gs.status, state: 'Shutdown' } });
      await eventually(
        () => /gs-1\s+Shutdown\s+10\.0\.0\.1\s+7001\s+ip-10-0-0-1/.test(out),
        15_000,
        'the watch line',
      );
    } finally {
      child.kill('SIGTERM');
    }
    await emu.client().patch({ ...GS_REF, name: 'gs-1' }, 'merge', { status: { state: 'Allocated' } });
  });
});

describe('kubectl drain', () => {
  it('drains with a server dry run: cordon, list by node, evict with dryRun, DaemonSet pods ignored', async () => {
    const r = await kubectl('drain', 'ip-10-0-0-2', '--dry-run=server', '--ignore-daemonsets');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/node\/ip-10-0-0-2 cordoned \(server dry run\)/);
    expect(r.stdout).toMatch(/node\/ip-10-0-0-2 drained \(server dry run\)/);

    const c = emu.client();
    await c.create(
      { group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', namespace: 'default' },
      {
        metadata: { name: 'agones-gameserver-safe-to-evict-false' },
        spec: { maxUnavailable: '0%', selector: { matchLabels: { 'agones.dev/safe-to-evict': 'false' } } },
      },
    );
    const blocked = await kubectl(
      'drain',
      'ip-10-0-0-1',
      '--dry-run=server',
      '--ignore-daemonsets',
      '--timeout=2s',
    );
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toMatch(/evicting pod default\/gs-1 \(server dry run\)/);
    expect(blocked.stderr).toMatch(/Cannot evict pod as it would violate the pod's disruption budget/);
    expect(blocked.stderr).toMatch(/ignoring DaemonSet-managed Pods: kube-system\/agent-abcde/);
    // A server dry run changes nothing.
    expect((await c.get({ ...NODE_REF, name: 'ip-10-0-0-1' })).spec.unschedulable).toBeUndefined();
    expect((await c.get({ ...POD_REF, name: 'gs-1' })).metadata.deletionTimestamp).toBeUndefined();
    const evictions = emu.requestLog.entries('system:admin').filter((e) => e.subresource === 'eviction');
    expect(evictions.length).toBeGreaterThan(0);
    expect(evictions.every((e) => e.dryRun)).toBe(true);
    void merge;
  });
});
