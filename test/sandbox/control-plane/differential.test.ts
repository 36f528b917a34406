// The emulator measured against the real thing: the same requests go to the real kube-apiserver of
// the test bed and to the emulator (sandbox/kube), as raw HTTP, through client-node where the
// product uses client-node, and through the kubectl of the test bed's release; the status codes,
// reasons, messages and the fields that matter must agree. uids, timestamps and resourceVersions
// differ by nature and are left out. What is kept different on purpose is listed in
// sandbox/kube/README.md ("Known differences"); where such a difference shows here, the test says so
// and asserts each side's own behaviour.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { controlPlaneBinaries } from '../../../sandbox/control-plane/binaries.js';
import { installAgonesResources } from '../../../sandbox/control-plane/agones-crds.js';
import { remoteClusterHost } from '../../../sandbox/cluster/remote-host.js';
import { ADMIN_USER, startKubeEmulator, type KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { apiRequest, useControlPlane, type ApiResponse } from '../../helpers/control-plane.js';
import { waitFor } from '../../helpers/wait.js';

// No node lifecycle controller: the nodes here have no kubelet, and its NotReady taints would
// change what the node tests compare.
const cp = useControlPlane({ controllers: ['*', '-node-lifecycle-controller'] });

interface Backend {
  name: 'real' | 'emulator';
  server: string;
  caPem: string;
  adminToken: string;
  kubeconfigPath: string;
  kc: k8s.KubeConfig;
}

let emu: KubeEmulator;
let dir: string;
const backends: Backend[] = [];

/** The emulator keeps this many events per resource for watches (the real server: its watch cache's window). */
const EMULATOR_WATCH_HISTORY = 20;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'differential-'));
  const real = cp();
  await installAgonesResources(
    remoteClusterHost({ server: real.server, caPem: real.caPem, token: real.adminToken }).client(),
  );
  emu = await startKubeEmulator({ watchHistorySize: EMULATOR_WATCH_HISTORY });
  const emuKubeconfig = join(dir, 'emulator.kubeconfig');
  await emu.writeKubeconfig(emuKubeconfig);
  // What Agones' allocator answers when it finds a Ready GameServer (the emulator hands GSA creates to it).
  emu.setAllocationHandler(async (ref, body) => ({
    ...body,
    metadata: { ...body.metadata, name: 'simple-game-server-7pjrq-xd8xw', namespace: ref.namespace },
    status: {
      state: 'Allocated',
      gameServerName: 'simple-game-server-7pjrq-xd8xw',
      address: '10.0.0.7',
      nodeName: 'diff-node-1',
      ports: [{ name: 'default', port: 7072 }],
    },
  }));
  const kcOf = (path: string) => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(path);
    return kc;
  };
  backends.push(
    {
      name: 'real',
      server: real.server,
      caPem: real.caPem,
      adminToken: real.adminToken,
      kubeconfigPath: real.kubeconfigPath,
      kc: kcOf(real.kubeconfigPath),
    },
    {
      name: 'emulator',
      server: emu.url,
      caPem: emu.ca,
      adminToken: emu.addIdentity(ADMIN_USER),
      kubeconfigPath: emuKubeconfig,
      kc: kcOf(emuKubeconfig),
    },
  );
  for (const b of backends) {
    for (const name of ['diff-node-1', 'diff-node-2'])
      expectCode(await req(b, 'POST', '/api/v1/nodes', node(name)), 201);
  }
}, 120_000);

afterAll(async () => {
  await emu?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** One request as the admin, JSON in and out (the shared helper, against either backend). */
function req(
  b: Backend,
  method: string,
  path: string,
  body?: unknown,
  options: { contentType?: string } = {},
): Promise<ApiResponse> {
  return apiRequest(b, method, path, body, options);
}

function expectCode(res: ApiResponse, code: number): ApiResponse {
  if (res.status !== code)
    throw new Error(`expected ${code}, got ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
  return res;
}

/** The same scenario on both backends (real first), each result named by its backend. */
async function onBoth<T>(scenario: (b: Backend) => Promise<T>): Promise<{ real: T; emulator: T }> {
  const out: Partial<Record<Backend['name'], T>> = {};
  for (const b of backends) out[b.name] = await scenario(b);
  return out as { real: T; emulator: T };
}

/** Runs the scenario on both, expects the same result, and returns it (for assertions of its own). */
async function same<T>(
  scenario: (b: Backend) => Promise<T>,
  options: { concurrently?: boolean } = {},
): Promise<T> {
  const { real, emulator } = options.concurrently
    ? await Promise.all(backends.map(scenario)).then(([real, emulator]) => ({ real, emulator }))
    : await onBoth(scenario);
  expect(emulator).toEqual(real);
  return real;
}

/** Digits, uids and the like differ between servers by nature. */
function normalize(message: unknown): unknown {
  if (typeof message !== 'string') return message;
  return message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uid>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, '<time>')
    .replace(/\d+/g, '<n>');
}

/** What a failure (or success Status) says, without what differs by nature. */
function outcome(res: ApiResponse): Record<string, unknown> {
  const b = res.body ?? {};
  const out: Record<string, unknown> = { status: res.status };
  if (b.kind === 'Status') {
    out.reason = b.reason;
    out.code = b.code;
    out.message = normalize(b.message);
    if (b.details) {
      out.details = {
        name: b.details.name,
        group: b.details.group,
        kind: b.details.kind,
        causes: b.details.causes?.map((c: any) => ({
          reason: c.reason,
          field: c.field,
          message: normalize(c.message),
        })),
      };
    }
  }
  return out;
}

/** The Warning headers of a response, as their text. */
function warnings(res: ApiResponse): string[] {
  const raw = res.headers.warning;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : raw.split(/,(?=\s*299 )/);
  return list.map((w) => w.trim().replace(/^299 - /, '')).map((w) => JSON.parse(w) as string);
}

function node(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, role: 'game-servers' } },
    spec: { providerID: `aws:///us-west-2a/i-${name}` },
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
      ],
    },
  };
}

function pod(
  name: string,
  extra: { nodeName?: string; labels?: Record<string, string>; spec?: object } = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      // Without a node, a pod stays unscheduled: the real scheduler must not bind it meanwhile.
      ...(extra.nodeName
        ? { nodeName: extra.nodeName }
        : { nodeSelector: { 'example.com/no-such-node': 'true' } }),
      containers: [{ name: 'game', image: 'example.invalid/game:1' }],
      ...extra.spec,
    },
  };
}

function configMap(name: string, labels: Record<string, string> = {}, data: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data };
}

function gameServer(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: { name, ...extra },
    spec: { ports: [{ name: 'default', containerPort: 7654 }] },
  };
}

const PODS = '/api/v1/namespaces/default/pods';
const CMS = '/api/v1/namespaces/default/configmaps';
const GSS = '/apis/agones.dev/v1/namespaces/default/gameservers';

/** Marks a pod Running and Ready through its status, as a kubelet would. */
async function markRunning(b: Backend, name: string): Promise<void> {
  expectCode(
    await req(
      b,
      'PATCH',
      `${PODS}/${name}/status`,
      {
        status: {
          phase: 'Running',
          conditions: [{ type: 'Ready', status: 'True' }],
          containerStatuses: [
            {
              name: 'game',
              ready: true,
              restartCount: 0,
              image: 'example.invalid/game:1',
              imageID: '',
              state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
            },
          ],
        },
      },
      { contentType: 'application/strategic-merge-patch+json' },
    ),
    200,
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The test bed's kubectl (the same release as the real server) against one backend. */
function kubectl(b: Backend, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      join(controlPlaneBinaries(), 'kubectl'),
      ['--kubeconfig', b.kubeconfigPath, '--cache-dir', join(dir, `kubectl-cache-${b.name}`), ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

/** kubectl's table output cut at the columns' header positions (keeps empty cells). */
function columns(out: string): string[][] {
  const lines = out.replace(/\n+$/, '').split('\n');
  const starts = [...lines[0].matchAll(/\S+/g)].map((m) => m.index);
  return lines.map((line) =>
    starts.map((start, i) => line.slice(start, i + 1 < starts.length ? starts[i + 1] : undefined).trim()),
  );
}

/** The columns of kubectl's table output, one array per line (header first). */
function rows(out: string): string[][] {
  return out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));
}

// ---------------------------------------------------------------------------------------------

describe('creates', () => {
  it('generateName: a name of the prefix and five random characters, 201 with the object', async () => {
    const r = await same(async (b) => {
      const res = await req(b, 'POST', CMS, { ...configMap(''), metadata: { generateName: 'diff-gen-' } });
      return {
        status: res.status,
        name: /^diff-gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/.test(res.body.metadata.name),
        generateName: res.body.metadata.generateName,
        kind: res.body.kind,
        apiVersion: res.body.apiVersion,
      };
    });
    expect(r).toEqual({
      status: 201,
      name: true,
      generateName: 'diff-gen-',
      kind: 'ConfigMap',
      apiVersion: 'v1',
    });
  });

  it('refuses an object with neither name nor generateName, and a duplicate name', async () => {
    const r = await same(async (b) => {
      const missing = outcome(await req(b, 'POST', CMS, { ...configMap(''), metadata: {} }));
      expectCode(await req(b, 'POST', CMS, configMap('diff-dup')), 201);
      const dup = outcome(await req(b, 'POST', CMS, configMap('diff-dup')));
      return { missing, dup };
    });
    expect(r.missing).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(r.dup).toMatchObject({ status: 409, reason: 'AlreadyExists' });
  });

  it('pods get the defaults the product reads (service account, default tolerations, priority)', async () => {
    await same(async (b) => {
      const res = expectCode(await req(b, 'POST', PODS, pod('diff-defaults')), 201);
      const s = res.body.spec;
      return {
        serviceAccountName: s.serviceAccountName,
        tolerations: s.tolerations,
        priority: s.priority,
        preemptionPolicy: s.preemptionPolicy,
        // Known difference: the real ServiceAccount plugin also mounts a projected token volume.
        containerFields: Object.keys(s.containers[0])
          .filter((k) => k !== 'volumeMounts')
          .sort(),
        restartPolicy: s.restartPolicy,
        terminationGracePeriodSeconds: s.terminationGracePeriodSeconds,
        phase: res.body.status.phase,
        qosClass: res.body.status.qosClass,
      };
    });
  });
});

describe('get and list with selectors', () => {
  beforeAll(async () => {
    for (const b of backends) {
      for (const [name, tier] of [
        ['diff-sel-a', 'a'],
        ['diff-sel-b', 'b'],
        ['diff-sel-c', 'c'],
      ])
        expectCode(await req(b, 'POST', CMS, configMap(name, { app: 'diff-sel', tier })), 201);
      expectCode(await req(b, 'POST', CMS, configMap('diff-sel-none', { app: 'diff-sel' })), 201);
      expectCode(
        await req(
          b,
          'POST',
          PODS,
          pod('diff-sel-p1', { nodeName: 'diff-node-1', labels: { app: 'diff-sel' } }),
        ),
        201,
      );
      expectCode(
        await req(
          b,
          'POST',
          PODS,
          pod('diff-sel-p2', { nodeName: 'diff-node-2', labels: { app: 'diff-sel' } }),
        ),
        201,
      );
    }
  });

  const names = (res: ApiResponse) => res.body.items?.map((i: any) => i.metadata.name);

  it.each([
    ['app=diff-sel,tier in (a,b)', ['diff-sel-a', 'diff-sel-b']],
    ['app=diff-sel,tier!=a', ['diff-sel-b', 'diff-sel-c', 'diff-sel-none']],
    ['app=diff-sel,!tier', ['diff-sel-none']],
    ['app=diff-sel,tier', ['diff-sel-a', 'diff-sel-b', 'diff-sel-c']],
    ['app=diff-sel,tier notin (a)', ['diff-sel-b', 'diff-sel-c', 'diff-sel-none']],
  ])('label selector %s', async (selector, expected) => {
    const r = await same(async (b) => {
      const res = await req(b, 'GET', `${CMS}?labelSelector=${encodeURIComponent(selector)}`);
      return { status: res.status, kind: res.body.kind, names: names(res) };
    });
    expect(r).toEqual({ status: 200, kind: 'ConfigMapList', names: expected });
  });

  it('field selectors on pods (spec.nodeName, status.phase, metadata.name), through client-node', async () => {
    const r = await same(async (b) => {
      const core = b.kc.makeApiClient(k8s.CoreV1Api);
      const onNode = await core.listNamespacedPod({
        namespace: 'default',
        fieldSelector: 'spec.nodeName=diff-node-2',
        labelSelector: 'app=diff-sel',
      });
      const pending = await core.listNamespacedPod({
        namespace: 'default',
        fieldSelector: 'status.phase=Pending,metadata.name!=diff-sel-p2',
        labelSelector: 'app=diff-sel',
      });
      const allNodes = await core.listPodForAllNamespaces({
        fieldSelector: 'spec.nodeName=diff-node-1,metadata.name=diff-sel-p1',
      });
      return {
        onNode: onNode.items.map((p) => p.metadata?.name),
        pending: pending.items.map((p) => p.metadata?.name),
        allNodes: allNodes.items.map((p) => p.metadata?.name),
      };
    });
    expect(r).toEqual({ onNode: ['diff-sel-p2'], pending: ['diff-sel-p1'], allNodes: ['diff-sel-p1'] });
  });

  it('refuses an unsupported field selector and a malformed label selector with 400', async () => {
    const r = await same(async (b) => {
      const label = outcome(await req(b, 'GET', `${CMS}?labelSelector=${encodeURIComponent('a b')}`));
      return {
        field: outcome(await req(b, 'GET', `${PODS}?fieldSelector=${encodeURIComponent('spec.hostname=x')}`)),
        // Known difference: the emulator's selector parser words its errors its own way.
        label: { status: label.status, reason: label.reason },
      };
    });
    expect(r.field).toMatchObject({ status: 400, reason: 'BadRequest' });
    expect(r.label).toMatchObject({ status: 400, reason: 'BadRequest' });
  });

  it('get of a missing object is a 404 NotFound naming it', async () => {
    const r = await same(async (b) => ({
      pod: outcome(await req(b, 'GET', `${PODS}/diff-missing`)),
      gs: outcome(await req(b, 'GET', `${GSS}/diff-missing`)),
    }));
    expect(r.pod).toMatchObject({
      status: 404,
      reason: 'NotFound',
      message: 'pods "diff-missing" not found',
    });
    expect(r.gs).toMatchObject({ status: 404, message: 'gameservers.agones.dev "diff-missing" not found' });
  });

  it('paging: limit and continue walk the list', async () => {
    const r = await same(async (b) => {
      const first = await req(b, 'GET', `${CMS}?labelSelector=app%3Ddiff-sel&limit=3`);
      const rest = await req(
        b,
        'GET',
        `${CMS}?labelSelector=app%3Ddiff-sel&limit=3&continue=${encodeURIComponent(first.body.metadata.continue)}`,
      );
      return {
        first: names(first),
        remaining: first.body.metadata.remainingItemCount,
        rest: names(rest),
        done: rest.body.metadata.continue,
      };
    });
    // etcd counts what remains only when no selector filters the list.
    expect(r).toEqual({
      first: ['diff-sel-a', 'diff-sel-b', 'diff-sel-c'],
      remaining: undefined,
      rest: ['diff-sel-none'],
      done: undefined,
    });
  });
});

describe('the three patch types', () => {
  const MERGE = { contentType: 'application/merge-patch+json' };
  const STRATEGIC = { contentType: 'application/strategic-merge-patch+json' };
  const JSON_PATCH = { contentType: 'application/json-patch+json' };

  it('merge patch: null removes a key, maps merge, lists are replaced', async () => {
    const r = await same(async (b) => {
      expectCode(
        await req(b, 'POST', CMS, configMap('diff-merge', { a: '1', b: '2' }, { x: '1', y: '2' })),
        201,
      );
      const res = await req(
        b,
        'PATCH',
        `${CMS}/diff-merge`,
        { metadata: { labels: { a: null, c: '3' } }, data: { y: null, z: '3' } },
        MERGE,
      );
      return { status: res.status, labels: res.body.metadata.labels, data: res.body.data };
    });
    expect(r).toEqual({ status: 200, labels: { b: '2', c: '3' }, data: { x: '1', z: '3' } });
  });

  it('JSON patch: add, replace, remove; a failed test is 422; a bad path is 422', async () => {
    const r = await same(async (b) => {
      expectCode(await req(b, 'POST', CMS, configMap('diff-json', {}, { x: '1' })), 201);
      const ok = await req(
        b,
        'PATCH',
        `${CMS}/diff-json`,
        [
          { op: 'test', path: '/data/x', value: '1' },
          { op: 'add', path: '/data/y', value: '2' },
          { op: 'replace', path: '/data/x', value: '9' },
          { op: 'add', path: '/metadata/annotations', value: { 'a/b': 'c' } },
          { op: 'remove', path: '/data/y' },
        ],
        JSON_PATCH,
      );
      // Known differences: the emulator says why a JSON patch failed (a cause the real server leaves
      // out), and words a body that is not JSON as Node's parser does.
      const withoutCauses = (res: ApiResponse) => {
        const o = outcome(res);
        return { ...o, details: { ...(o.details as object), causes: undefined } };
      };
      const failedTest = withoutCauses(
        await req(b, 'PATCH', `${CMS}/diff-json`, [{ op: 'test', path: '/data/x', value: '1' }], JSON_PATCH),
      );
      const badPath = withoutCauses(
        await req(b, 'PATCH', `${CMS}/diff-json`, [{ op: 'remove', path: '/data/nope' }], JSON_PATCH),
      );
      const bad = outcome(await req(b, 'PATCH', `${CMS}/diff-json`, '{not json', JSON_PATCH));
      const notJson = { status: bad.status, reason: bad.reason, message: String(bad.message).split(':')[0] };
      return {
        status: ok.status,
        data: ok.body.data,
        annotations: ok.body.metadata.annotations,
        failedTest,
        badPath,
        notJson,
      };
    });
    expect(r.data).toEqual({ x: '9' });
    expect(r.failedTest).toMatchObject({
      status: 422,
      reason: 'Invalid',
      message: 'the server rejected our request due to an error in our request',
    });
    expect(r.badPath).toMatchObject({ status: 422 });
    expect(r.notJson).toEqual({ status: 400, reason: 'BadRequest', message: 'error decoding patch' });
  });

  it('strategic merge patch: containers merge by name, env by name, finalizers as a set', async () => {
    const DEPLOYMENTS = '/apis/apps/v1/namespaces/default/deployments';
    const r = await same(async (b) => {
      expectCode(
        await req(b, 'POST', DEPLOYMENTS, {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'diff-smp', finalizers: ['example.com/a'] },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: 'diff-smp' } },
            template: {
              metadata: { labels: { app: 'diff-smp' } },
              spec: {
                containers: [
                  { name: 'game', image: 'example.invalid/game:1', env: [{ name: 'A', value: '1' }] },
                  { name: 'sidecar', image: 'example.invalid/side:1' },
                ],
              },
            },
          },
        }),
        201,
      );
      const res = await req(
        b,
        'PATCH',
        `${DEPLOYMENTS}/diff-smp`,
        {
          metadata: { finalizers: ['example.com/b'] },
          spec: {
            template: {
              spec: {
                containers: [
                  { name: 'game', image: 'example.invalid/game:2', env: [{ name: 'B', value: '2' }] },
                ],
              },
            },
          },
        },
        STRATEGIC,
      );
      const cleanup = await req(
        b,
        'PATCH',
        `${DEPLOYMENTS}/diff-smp`,
        { metadata: { finalizers: null } },
        MERGE,
      );
      return {
        status: res.status,
        finalizers: res.body.metadata.finalizers,
        containers: res.body.spec.template.spec.containers.map((c: any) => ({
          name: c.name,
          image: c.image,
          env: c.env,
        })),
        generation: res.body.metadata.generation,
        cleanup: cleanup.status,
      };
    });
    expect(r.containers).toEqual([
      {
        name: 'game',
        image: 'example.invalid/game:2',
        env: [
          { name: 'B', value: '2' },
          { name: 'A', value: '1' },
        ],
      },
      { name: 'sidecar', image: 'example.invalid/side:1', env: undefined },
    ]);
    // What the patch names comes first (apimachinery's normalizeElementOrder).
    expect(r.finalizers).toEqual(['example.com/b', 'example.com/a']);
  });

  it('a strategic merge patch of a custom resource is 415 Unsupported Media Type', async () => {
    const r = await same(async (b) => {
      expectCode(await req(b, 'POST', GSS, gameServer('diff-gs-smp')), 201);
      return outcome(
        await req(b, 'PATCH', `${GSS}/diff-gs-smp`, { metadata: { labels: { a: 'b' } } }, STRATEGIC),
      );
    });
    expect(r).toMatchObject({ status: 415, reason: 'UnsupportedMediaType' });
  });

  it('an unknown patch content type is 415', async () => {
    const r = await same(async (b) =>
      outcome(await req(b, 'PATCH', `${CMS}/diff-json`, { data: {} }, { contentType: 'text/plain' })),
    );
    expect(r).toMatchObject({ status: 415, reason: 'UnsupportedMediaType' });
  });

  it('client-node patches with the content type it is told (merge, strategic, JSON)', async () => {
    const r = await same(async (b) => {
      const core = b.kc.makeApiClient(k8s.CoreV1Api);
      await core.createNamespacedConfigMap({
        namespace: 'default',
        body: configMap('diff-cn-patch', { a: '1' }),
      });
      const opt = (t: k8s.PatchStrategy) => k8s.setHeaderOptions('Content-Type', t);
      await core.patchNamespacedConfigMap(
        { name: 'diff-cn-patch', namespace: 'default', body: { metadata: { labels: { b: '2' } } } },
        opt(k8s.PatchStrategy.MergePatch),
      );
      await core.patchNamespacedConfigMap(
        { name: 'diff-cn-patch', namespace: 'default', body: { metadata: { labels: { c: '3' } } } },
        opt(k8s.PatchStrategy.StrategicMergePatch),
      );
      const last = await core.patchNamespacedConfigMap(
        { name: 'diff-cn-patch', namespace: 'default', body: [{ op: 'remove', path: '/metadata/labels/a' }] },
        opt(k8s.PatchStrategy.JsonPatch),
      );
      return last.metadata?.labels;
    });
    expect(r).toEqual({ b: '2', c: '3' });
  });
});

describe('optimistic concurrency', () => {
  it('a PUT with a stale resourceVersion is 409 Conflict; without one it goes through', async () => {
    const r = await same(async (b) => {
      const created = expectCode(
        await req(b, 'POST', CMS, configMap('diff-conflict', {}, { v: '1' })),
        201,
      ).body;
      expectCode(await req(b, 'PUT', `${CMS}/diff-conflict`, { ...created, data: { v: '2' } }), 200);
      const stale = outcome(await req(b, 'PUT', `${CMS}/diff-conflict`, { ...created, data: { v: '3' } }));
      const { resourceVersion: _rv, ...meta } = created.metadata;
      const unconditional = await req(b, 'PUT', `${CMS}/diff-conflict`, {
        ...created,
        metadata: meta,
        data: { v: '4' },
      });
      const patchStale = outcome(
        await req(
          b,
          'PATCH',
          `${CMS}/diff-conflict`,
          { metadata: { resourceVersion: created.metadata.resourceVersion }, data: { v: '5' } },
          { contentType: 'application/merge-patch+json' },
        ),
      );
      return { stale, unconditional: [unconditional.status, unconditional.body.data], patchStale };
    });
    expect(r.stale).toEqual({
      status: 409,
      reason: 'Conflict',
      code: 409,
      message:
        'Operation cannot be fulfilled on configmaps "diff-conflict": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: 'diff-conflict', group: undefined, kind: 'configmaps', causes: undefined },
    });
    expect(r.unconditional).toEqual([200, { v: '4' }]);
    expect(r.patchStale).toMatchObject({ status: 409, reason: 'Conflict' });
  });

  it('a uid in a PUT is a precondition (409); changed by a patch it is an immutable field (422)', async () => {
    const r = await same(async (b) => {
      const created = expectCode(await req(b, 'POST', CMS, configMap('diff-uid')), 201).body;
      const other = '00000000-0000-0000-0000-000000000000';
      return {
        put: outcome(
          await req(b, 'PUT', `${CMS}/diff-uid`, {
            ...created,
            metadata: { ...created.metadata, uid: other },
          }),
        ),
        patch: outcome(
          await req(
            b,
            'PATCH',
            `${CMS}/diff-uid`,
            { metadata: { uid: other } },
            { contentType: 'application/merge-patch+json' },
          ),
        ),
      };
    });
    expect(r.put).toMatchObject({ status: 409, reason: 'Conflict' });
    expect(r.patch).toMatchObject({ status: 422, reason: 'Invalid' });
  });

  it('client-node sees the 409 as an ApiException with the Status body', async () => {
    const r = await same(async (b) => {
      const core = b.kc.makeApiClient(k8s.CoreV1Api);
      const created = await core.createNamespacedConfigMap({
        namespace: 'default',
        body: configMap('diff-cn-conflict'),
      });
      // A write that changes nothing keeps the resourceVersion: change something.
      await core.replaceNamespacedConfigMap({
        name: 'diff-cn-conflict',
        namespace: 'default',
        body: { ...created, data: { changed: 'yes' } },
      });
      try {
        await core.replaceNamespacedConfigMap({
          name: 'diff-cn-conflict',
          namespace: 'default',
          body: created,
        });
        return 'no error';
      } catch (err: any) {
        const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
        return { code: err.code, reason: body.reason };
      }
    });
    expect(r).toEqual({ code: 409, reason: 'Conflict' });
  });
});

describe('pod updates', () => {
  // Known difference: after its first line, the real message shows a diff of the Go structs; the
  // emulator lists the fields that changed.
  const firstLines = (res: ApiResponse) => {
    const o = outcome(res);
    const cut = (m: unknown) => (typeof m === 'string' ? m.split('\n')[0] : m);
    const d = o.details as any;
    return {
      ...o,
      message: cut(o.message),
      details: d && { ...d, causes: d.causes?.map((c: any) => ({ ...c, message: cut(c.message) })) },
    };
  };
  const STRATEGIC = { contentType: 'application/strategic-merge-patch+json' };
  const JSON_PATCH = { contentType: 'application/json-patch+json' };

  it('adding a toleration is allowed; changing or removing one, or an immutable field, is 422', async () => {
    const r = await same(async (b) => {
      const created = expectCode(
        await req(
          b,
          'POST',
          PODS,
          pod('diff-upd', {
            nodeName: 'diff-node-1',
            spec: { tolerations: [{ key: 'example.com/a', operator: 'Exists', effect: 'NoSchedule' }] },
          }),
        ),
        201,
      ).body;
      const add = await req(
        b,
        'PATCH',
        `${PODS}/diff-upd`,
        [
          {
            op: 'add',
            path: '/spec/tolerations/-',
            value: { key: 'gamelift.status/draining', operator: 'Equal', value: 'true', effect: 'NoExecute' },
          },
        ],
        JSON_PATCH,
      );
      const change = firstLines(
        await req(
          b,
          'PATCH',
          `${PODS}/diff-upd`,
          [{ op: 'replace', path: '/spec/tolerations/0/effect', value: 'NoExecute' }],
          JSON_PATCH,
        ),
      );
      // Tolerations have no merge key: a strategic patch replaces the list, dropping the others.
      const replaceAll = firstLines(
        await req(
          b,
          'PATCH',
          `${PODS}/diff-upd`,
          { spec: { tolerations: [{ key: 'example.com/z', operator: 'Exists' }] } },
          STRATEGIC,
        ),
      );
      const image = await req(
        b,
        'PATCH',
        `${PODS}/diff-upd`,
        { spec: { containers: [{ name: 'game', image: 'example.invalid/game:2' }] } },
        STRATEGIC,
      );
      const port = firstLines(
        await req(
          b,
          'PATCH',
          `${PODS}/diff-upd`,
          { spec: { containers: [{ name: 'game', ports: [{ containerPort: 80 }] }] } },
          STRATEGIC,
        ),
      );
      const nodeName = outcome(
        await req(b, 'PUT', `${PODS}/diff-upd`, {
          ...created,
          metadata: { ...created.metadata, resourceVersion: undefined },
          spec: { ...created.spec, nodeName: 'diff-node-2' },
        }),
      );
      return {
        add: [add.status, add.body.spec?.tolerations?.map((t: any) => t.key)],
        change,
        replaceAll,
        image: [image.status, image.body.spec?.containers?.[0]?.image],
        port,
        nodeName: { status: nodeName.status, reason: nodeName.reason },
      };
    });
    expect(r.add).toEqual([
      200,
      [
        'example.com/a',
        'node.kubernetes.io/not-ready',
        'node.kubernetes.io/unreachable',
        'gamelift.status/draining',
      ],
    ]);
    expect(r.change).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(r.replaceAll).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(r.image).toEqual([200, 'example.invalid/game:2']);
    expect(r.port).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(r.nodeName).toEqual({ status: 422, reason: 'Invalid' });
  });
});

describe('evictions', () => {
  const evict = (b: Backend, name: string) =>
    req(b, 'POST', `${PODS}/${name}/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name, namespace: 'default' },
    });

  it('without a budget the pod is evicted (201) and terminates gracefully', async () => {
    const r = await same(async (b) => {
      expectCode(await req(b, 'POST', PODS, pod('diff-evict-free', { nodeName: 'diff-node-1' })), 201);
      await markRunning(b, 'diff-evict-free');
      const res = await evict(b, 'diff-evict-free');
      const after = await req(b, 'GET', `${PODS}/diff-evict-free`);
      return {
        eviction: outcome(res),
        terminating: !!after.body.metadata.deletionTimestamp,
        grace: after.body.metadata.deletionGracePeriodSeconds,
      };
    });
    expect(r).toEqual({ eviction: { status: 201, code: 201 }, terminating: true, grace: 30 });
  });

  it('a budget that allows no disruption refuses with 429 TooManyRequests; missing pods are 404', async () => {
    const r = await same(async (b) => {
      expectCode(
        await req(
          b,
          'POST',
          PODS,
          pod('diff-evict-pdb', { nodeName: 'diff-node-1', labels: { app: 'diff-pdb' } }),
        ),
        201,
      );
      await markRunning(b, 'diff-evict-pdb');
      const pdb = expectCode(
        await req(b, 'POST', '/apis/policy/v1/namespaces/default/poddisruptionbudgets', {
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: { name: 'diff-pdb' },
          // minAvailable as a number: the disruption controller needs no workload controller to count.
          spec: { minAvailable: 1, selector: { matchLabels: { app: 'diff-pdb' } } },
        }),
        201,
      ).body;
      if (b.name === 'real') {
        // The real eviction reads the budget's status, written by the disruption controller.
        await waitFor('the disruption controller to process the budget', async () => {
          const s = (await req(b, 'GET', `/apis/policy/v1/namespaces/default/poddisruptionbudgets/diff-pdb`))
            .body.status;
          return s?.observedGeneration === pdb.metadata.generation && s?.currentHealthy === 1;
        });
      }
      const refused = outcome(await evict(b, 'diff-evict-pdb'));
      const still = (await req(b, 'GET', `${PODS}/diff-evict-pdb`)).body.metadata.deletionTimestamp;
      const missing = outcome(await evict(b, 'diff-evict-missing'));
      return { refused, still: still ?? null, missing };
    });
    expect(r.refused).toMatchObject({
      status: 429,
      reason: 'TooManyRequests',
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
    });
    expect(r.still).toBeNull();
    expect(r.missing).toMatchObject({ status: 404, reason: 'NotFound' });
  });

  it('client-node evicts through createNamespacedPodEviction', async () => {
    const r = await same(async (b) => {
      expectCode(await req(b, 'POST', PODS, pod('diff-evict-cn')), 201);
      const core = b.kc.makeApiClient(k8s.CoreV1Api);
      await core.createNamespacedPodEviction({
        name: 'diff-evict-cn',
        namespace: 'default',
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: 'diff-evict-cn', namespace: 'default' },
        },
      });
      // An unscheduled pod has no kubelet to wait for: it goes at once.
      return (await req(b, 'GET', `${PODS}/diff-evict-cn`)).status;
    });
    expect(r).toBe(404);
  });
});

describe('node taints', () => {
  it('taints are replaced whole by strategic and merge patches, and validated', async () => {
    const r = await same(async (b) => {
      const core = b.kc.makeApiClient(k8s.CoreV1Api);
      const smp = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
      await core.patchNode(
        {
          name: 'diff-node-2',
          body: { spec: { taints: [{ key: 'example.com/a', value: 'x', effect: 'NoSchedule' }] } },
        },
        smp,
      );
      const both = await core.patchNode(
        {
          name: 'diff-node-2',
          body: {
            spec: {
              unschedulable: true,
              taints: [
                { key: 'example.com/a', value: 'x', effect: 'NoSchedule' },
                { key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' },
              ],
            },
          },
        },
        smp,
      );
      const invalid = outcome(
        await req(
          b,
          'PATCH',
          '/api/v1/nodes/diff-node-2',
          { spec: { taints: [{ key: 'example.com/b', effect: 'Sometimes' }] } },
          { contentType: 'application/merge-patch+json' },
        ),
      );
      const noEffect = outcome(
        await req(
          b,
          'PATCH',
          '/api/v1/nodes/diff-node-2',
          { spec: { taints: [{ key: 'example.com/b' }] } },
          { contentType: 'application/merge-patch+json' },
        ),
      );
      const duplicate = outcome(
        await req(
          b,
          'PATCH',
          '/api/v1/nodes/diff-node-2',
          {
            spec: {
              taints: [
                { key: 'example.com/b', effect: 'NoSchedule' },
                { key: 'example.com/b', effect: 'NoSchedule', value: 'y' },
              ],
            },
          },
          { contentType: 'application/merge-patch+json' },
        ),
      );
      const cleared = await core.patchNode(
        { name: 'diff-node-2', body: { spec: { taints: null, unschedulable: null } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      const cordoned = await req(b, 'GET', '/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue');
      return {
        taints: both.spec?.taints?.map((t) => ({
          key: t.key,
          value: t.value,
          effect: t.effect,
          timeAdded: !!t.timeAdded,
        })),
        unschedulable: both.spec?.unschedulable,
        invalid,
        noEffect,
        duplicate,
        cleared: cleared.spec?.taints ?? null,
        cordoned: cordoned.body.items.map((n: any) => n.metadata.name),
      };
    });
    expect(r.taints?.map((t) => t.key)).toEqual(['example.com/a', 'gamelift.status/draining']);
    expect(r.invalid).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(r.noEffect).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(r.duplicate).toMatchObject({ status: 422, reason: 'Invalid' });
    expect(r.cleared).toBeNull();
  });
});

describe('deletes', () => {
  it('preconditions on resourceVersion and uid: 409 when stale, 200 when they hold', async () => {
    const r = await same(async (b) => {
      const created = expectCode(await req(b, 'POST', CMS, configMap('diff-pre')), 201).body;
      expectCode(
        await req(
          b,
          'PATCH',
          `${CMS}/diff-pre`,
          { data: { a: 'b' } },
          { contentType: 'application/merge-patch+json' },
        ),
        200,
      );
      const staleRv = outcome(
        await req(b, 'DELETE', `${CMS}/diff-pre`, {
          preconditions: { resourceVersion: created.metadata.resourceVersion },
        }),
      );
      const wrongUid = outcome(
        await req(b, 'DELETE', `${CMS}/diff-pre`, {
          preconditions: { uid: '00000000-0000-0000-0000-000000000000' },
        }),
      );
      const ok = await req(b, 'DELETE', `${CMS}/diff-pre`, { preconditions: { uid: created.metadata.uid } });
      const gone = outcome(await req(b, 'DELETE', `${CMS}/diff-pre`));
      return { staleRv, wrongUid, ok: outcome(ok), okDetails: ok.body.details?.name, gone };
    });
    expect(r.staleRv).toMatchObject({ status: 409, reason: 'Conflict' });
    expect(r.wrongUid).toMatchObject({ status: 409, reason: 'Conflict' });
    expect(r.ok).toMatchObject({ status: 200 });
    expect(r.gone).toMatchObject({ status: 404, reason: 'NotFound' });
  });

  it('a pod on a node terminates gracefully (deletionTimestamp, 30 s); grace 0 removes it; an unscheduled pod goes at once', async () => {
    const r = await same(async (b) => {
      expectCode(await req(b, 'POST', PODS, pod('diff-grace', { nodeName: 'diff-node-1' })), 201);
      const first = await req(b, 'DELETE', `${PODS}/diff-grace`);
      const again = await req(b, 'DELETE', `${PODS}/diff-grace`);
      const now = await req(b, 'DELETE', `${PODS}/diff-grace`, { gracePeriodSeconds: 0 });
      const after = await req(b, 'GET', `${PODS}/diff-grace`);
      expectCode(await req(b, 'POST', PODS, pod('diff-nograce')), 201);
      const unscheduled = await req(b, 'DELETE', `${PODS}/diff-nograce`);
      const view = (res: ApiResponse) => ({
        status: res.status,
        kind: res.body.kind,
        terminating: !!res.body.metadata?.deletionTimestamp,
        grace: res.body.metadata?.deletionGracePeriodSeconds,
      });
      return {
        first: view(first),
        again: view(again),
        now: view(now),
        after: after.status,
        unscheduled: view(unscheduled),
      };
    });
    expect(r.first).toEqual({ status: 200, kind: 'Pod', terminating: true, grace: 30 });
    expect(r.after).toBe(404);
    // Even a pod that goes at once is deleted 'gracefully' with a period of 0.
    expect(r.unscheduled).toEqual({ status: 200, kind: 'Pod', terminating: true, grace: 0 });
  });

  it('a custom resource with a finalizer stays, marked for deletion, until the finalizer goes', async () => {
    const r = await same(async (b) => {
      expectCode(
        await req(b, 'POST', GSS, gameServer('diff-fin', { finalizers: ['agones.dev/controller'] })),
        201,
      );
      const del = await req(b, 'DELETE', `${GSS}/diff-fin`);
      const during = await req(b, 'GET', `${GSS}/diff-fin`);
      expectCode(
        await req(
          b,
          'PATCH',
          `${GSS}/diff-fin`,
          { metadata: { finalizers: null } },
          { contentType: 'application/merge-patch+json' },
        ),
        200,
      );
      const after = await req(b, 'GET', `${GSS}/diff-fin`);
      const plain =
        expectCode(await req(b, 'POST', GSS, gameServer('diff-nofin')), 201) &&
        (await req(b, 'DELETE', `${GSS}/diff-nofin`));
      return {
        del: { status: del.status, kind: del.body.kind, terminating: !!del.body.metadata?.deletionTimestamp },
        during: { status: during.status, terminating: !!during.body.metadata?.deletionTimestamp },
        after: after.status,
        plain: {
          ...outcome(plain),
          kind: plain.body.kind,
          details: plain.body.details && {
            name: plain.body.details.name,
            kind: plain.body.details.kind,
            group: plain.body.details.group,
          },
        },
      };
    });
    expect(r.del).toEqual({ status: 200, kind: 'GameServer', terminating: true });
    expect(r.after).toBe(404);
  });
});

describe('watches', () => {
  /** Reads a raw watch until it ends (the server closes it at timeoutSeconds) or `until` is met. */
  function rawWatch(
    b: Backend,
    path: string,
    until: (events: any[]) => boolean = () => false,
  ): { events: any[]; done: Promise<{ status: number; events: any[] }>; close(): void } {
    const events: any[] = [];
    let close = () => {};
    const done = new Promise<{ status: number; events: any[] }>((resolve, reject) => {
      const r = https.request(
        new URL(path, b.server),
        {
          method: 'GET',
          ca: b.caPem,
          headers: { Authorization: `Bearer ${b.adminToken}`, Accept: 'application/json' },
        },
        (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i).trim();
              buf = buf.slice(i + 1);
              if (line) events.push(JSON.parse(line));
            }
            if (until(events)) {
              resolve({ status: res.statusCode ?? 0, events });
              r.destroy();
            }
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, events }));
          res.on('error', () => resolve({ status: res.statusCode ?? 0, events }));
        },
      );
      r.on('error', reject);
      close = () => {
        r.destroy();
        resolve({ status: 0, events });
      };
      r.end();
    });
    return { events, done, close: () => close() };
  }

  it('events come in order, filtered by the selector: ADDED, MODIFIED, DELETED (client-node Watch)', async () => {
    const r = await same(async (b) => {
      const list = await req(b, 'GET', `${CMS}?labelSelector=app%3Ddiff-watch`);
      const seen: string[] = [];
      const w = new k8s.Watch(b.kc);
      let ended = false;
      const controller = await w.watch(
        `${CMS}`,
        { labelSelector: 'app=diff-watch', resourceVersion: list.body.metadata.resourceVersion },
        (type, obj: any) => seen.push(`${type} ${obj.metadata.name} ${JSON.stringify(obj.data ?? {})}`),
        () => (ended = true),
      );
      expectCode(await req(b, 'POST', CMS, configMap('diff-w1', { app: 'diff-watch' }, { v: '1' })), 201);
      expectCode(await req(b, 'POST', CMS, configMap('diff-w-other', { app: 'other' })), 201);
      const merge = { contentType: 'application/merge-patch+json' };
      expectCode(await req(b, 'PATCH', `${CMS}/diff-w1`, { data: { v: '2' } }, merge), 200);
      // Leaving the selector is a DELETED for this watch; entering it an ADDED.
      expectCode(
        await req(b, 'PATCH', `${CMS}/diff-w-other`, { metadata: { labels: { app: 'diff-watch' } } }, merge),
        200,
      );
      expectCode(
        await req(b, 'PATCH', `${CMS}/diff-w1`, { metadata: { labels: { app: 'gone' } } }, merge),
        200,
      );
      expectCode(await req(b, 'DELETE', `${CMS}/diff-w-other`), 200);
      await waitFor('five events', () => seen.length >= 5);
      controller.abort();
      return { seen, ended };
    });
    expect(r.seen).toEqual([
      'ADDED diff-w1 {"v":"1"}',
      'MODIFIED diff-w1 {"v":"2"}',
      'ADDED diff-w-other {}',
      'DELETED diff-w1 {"v":"2"}',
      'DELETED diff-w-other {}',
    ]);
  });

  it("the node agent's pod watch (all namespaces, by node and label): scheduled, updated, terminating, gone", async () => {
    const { real, emulator } = await onBoth(async (b) => {
      const list = await req(
        b,
        'GET',
        '/api/v1/pods?fieldSelector=spec.nodeName%3Ddiff-node-1&labelSelector=agones.dev%2Frole%3Dgameserver',
      );
      const seen: string[] = [];
      const w = new k8s.Watch(b.kc);
      const controller = await w.watch(
        '/api/v1/pods',
        {
          fieldSelector: 'spec.nodeName=diff-node-1',
          labelSelector: 'agones.dev/role=gameserver',
          resourceVersion: list.body.metadata.resourceVersion,
          allowWatchBookmarks: true,
        },
        (type, obj: any) => {
          if (type !== 'BOOKMARK')
            seen.push(
              `${type} ${obj.metadata.name} ${obj.status?.phase ?? ''} ${obj.metadata.deletionTimestamp ? 'terminating' : ''}`.trim(),
            );
        },
        () => {},
      );
      const labels = { 'agones.dev/role': 'gameserver' };
      // Another node's game server and this node's other pods are not this agent's.
      expectCode(
        await req(b, 'POST', PODS, pod('diff-agent-other', { nodeName: 'diff-node-2', labels })),
        201,
      );
      expectCode(await req(b, 'POST', PODS, pod('diff-agent-plain', { nodeName: 'diff-node-1' })), 201);
      expectCode(await req(b, 'POST', PODS, pod('diff-agent-gs', { nodeName: 'diff-node-1', labels })), 201);
      await markRunning(b, 'diff-agent-gs');
      expectCode(await req(b, 'DELETE', `${PODS}/diff-agent-gs`), 200);
      expectCode(await req(b, 'DELETE', `${PODS}/diff-agent-gs`, { gracePeriodSeconds: 0 }), 200);
      // The real server's final delete (period 0) writes the pod once more before it goes.
      await waitFor('the DELETED event', () => seen.some((e) => e.startsWith('DELETED')));
      controller.abort();
      return seen;
    });
    const expected = [
      'ADDED diff-agent-gs Pending',
      'MODIFIED diff-agent-gs Running',
      'MODIFIED diff-agent-gs Running terminating',
      'MODIFIED diff-agent-gs Running terminating',
      'DELETED diff-agent-gs Running terminating',
    ];
    expect(real).toEqual(expected);
    // Known difference (sandbox/kube/README.md): the emulator removes the pod without writing it
    // once more, so its watchers miss the second MODIFIED.
    expect(emulator).toEqual(expected.filter((_, i) => i !== 3));
  });

  it('a watch from a resourceVersion older than the server keeps answers 200 and an ERROR 410 Expired', async () => {
    // The real server's window starts where its watch cache started (when the CRD was installed);
    // the emulator's is its last EMULATOR_WATCH_HISTORY events per resource: push RV 1 out of it.
    for (let i = 0; i < EMULATOR_WATCH_HISTORY * 2; i++)
      await emu
        .client()
        .create(
          { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace: 'default' },
          gameServer(`diff-churn-${i}`),
        );
    const r = await same(async (b) => {
      const w = rawWatch(b, `${GSS}?watch=1&resourceVersion=1&timeoutSeconds=10`, (ev) => ev.length > 0);
      const { status, events } = await w.done;
      return {
        status,
        events: events.map((e) => ({ type: e.type, ...outcome({ status: 0, body: e.object, headers: {} }) })),
      };
    });
    expect(r.status).toBe(200);
    expect(r.events).toEqual([
      {
        type: 'ERROR',
        status: 0,
        reason: 'Expired',
        code: 410,
        message: 'too old resource version: <n> (<n>)',
      },
    ]);
  });

  it("with allowWatchBookmarks, a BOOKMARK 2 s before the deadline carries the resource's newer resourceVersion", async () => {
    const r = await same(
      async (b) => {
        const list = await req(b, 'GET', `${CMS}?labelSelector=app%3Ddiff-bookmark`);
        const w = rawWatch(
          b,
          `${CMS}?watch=1&labelSelector=app%3Ddiff-bookmark&allowWatchBookmarks=true&timeoutSeconds=4&resourceVersion=${list.body.metadata.resourceVersion}`,
        );
        // A change the selector filters out: no event for this watch, but a newer resourceVersion to
        // bookmark (without one, neither server sends a bookmark).
        const other = expectCode(await req(b, 'POST', CMS, configMap('diff-bookmark-other')), 201).body;
        const { status, events } = await w.done;
        // How many bookmarks come depends on timing (the real server may send a second): their shape
        // and resourceVersion are what clients rely on.
        return {
          status,
          bookmarks: events.length > 0,
          events: [
            ...new Set(
              events.map((e) =>
                JSON.stringify({
                  type: e.type,
                  kind: e.object.kind,
                  apiVersion: e.object.apiVersion,
                  newer: Number(e.object.metadata.resourceVersion) >= Number(other.metadata.resourceVersion),
                  keys: Object.keys(e.object.metadata).sort(),
                }),
              ),
            ),
          ].map((e) => JSON.parse(e)),
        };
        // The two watches wait out their deadlines side by side.
      },
      { concurrently: true },
    );
    expect(r).toEqual({
      status: 200,
      bookmarks: true,
      events: [
        { type: 'BOOKMARK', kind: 'ConfigMap', apiVersion: 'v1', newer: true, keys: ['resourceVersion'] },
      ],
    });
  });
});

describe('what the components write through client-node', () => {
  it('leases (leader election): MicroTime kept to the microsecond, a stale replace is 409', async () => {
    const r = await same(async (b) => {
      const api = b.kc.makeApiClient(k8s.CoordinationV1Api);
      const created = await api.createNamespacedLease({
        namespace: 'default',
        body: {
          metadata: { name: 'diff-lease' },
          spec: {
            holderIdentity: 'pubsub-a',
            leaseDurationSeconds: 15,
            acquireTime: '2026-01-02T03:04:05.123456Z' as never,
            renewTime: '2026-01-02T03:04:05.123456Z' as never,
            leaseTransitions: 0,
          },
        },
      });
      const replace = async (renewTime: string, resourceVersion?: string) => {
        try {
          const out = await api.replaceNamespacedLease({
            name: 'diff-lease',
            namespace: 'default',
            body: {
              ...created,
              metadata: {
                ...created.metadata,
                resourceVersion: resourceVersion ?? created.metadata?.resourceVersion,
              },
              spec: { ...created.spec, acquireTime: undefined, renewTime: renewTime as never },
            },
          });
          return { code: 200, holder: out.spec?.holderIdentity };
        } catch (err: any) {
          const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
          return { code: err.code, reason: body?.reason, message: body?.message };
        }
      };
      // MicroTime takes exactly six fractional digits.
      const short = await replace('2026-01-02T03:04:07.5Z');
      const renewed = await replace('2026-01-02T03:04:07.500000Z');
      const stale = await replace('2026-01-02T03:04:09.000000Z');
      const raw = (await req(b, 'GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases/diff-lease'))
        .body;
      return {
        short,
        renewed,
        stale: stale.code,
        acquireTime: raw.spec.acquireTime ?? null,
        renewTime: raw.spec.renewTime,
      };
    });
    expect(r).toMatchObject({
      short: { code: 400, reason: 'BadRequest' },
      renewed: { code: 200, holder: 'pubsub-a' },
      stale: 409,
      acquireTime: null,
      renewTime: '2026-01-02T03:04:07.500000Z',
    });
  });

  it('core Events (reconciler, webhook): created, and found by involvedObject and reason', async () => {
    const r = await same(async (b) => {
      const core = b.kc.makeApiClient(k8s.CoreV1Api);
      await core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { generateName: 'diff-node-1.' },
          involvedObject: { kind: 'Node', name: 'diff-node-1', apiVersion: 'v1' },
          reason: 'DrainStarted',
          message: 'FleetIQ reports DRAINING',
          type: 'Normal',
          source: { component: 'fleetiq-agones-reconciler', host: 'diff-node-1' },
          reportingComponent: 'fleetiq-agones-reconciler',
          reportingInstance: 'diff-node-1',
          firstTimestamp: new Date('2026-01-02T03:04:05Z'),
          lastTimestamp: new Date('2026-01-02T03:04:05Z'),
          count: 1,
        },
      });
      const found = await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: 'involvedObject.kind=Node,involvedObject.name=diff-node-1,reason=DrainStarted',
      });
      return found.items.map((e) => ({
        name: /^diff-node-1\.[a-z0-9]{5}$/.test(e.metadata?.name ?? ''),
        reason: e.reason,
        type: e.type,
        count: e.count,
        source: e.source,
        firstTimestamp: e.firstTimestamp?.toISOString(),
        reportingComponent: e.reportingComponent,
      }));
    });
    expect(r).toHaveLength(1);
    expect(r[0].name).toBe(true);
  });

  it('JSON patches of a GameServer (custom objects API), with a failed test as 422', async () => {
    const r = await same(async (b) => {
      expectCode(await req(b, 'POST', GSS, gameServer('diff-gs-json')), 201);
      const custom = b.kc.makeApiClient(k8s.CustomObjectsApi);
      const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
      const gs = { group: 'agones.dev', version: 'v1', namespace: 'default', plural: 'gameservers' };
      const patched: any = await custom.patchNamespacedCustomObject(
        {
          ...gs,
          name: 'diff-gs-json',
          body: [
            { op: 'add', path: '/metadata/annotations', value: {} },
            { op: 'add', path: '/metadata/annotations/gamelift.status~1drain-toleration', value: 'true' },
          ],
        },
        jsonPatch,
      );
      let failed: unknown = 'no error';
      try {
        await custom.patchNamespacedCustomObject(
          {
            ...gs,
            name: 'diff-gs-json',
            body: [
              { op: 'test', path: '/metadata/annotations/gamelift.status~1drain-toleration', value: 'no' },
            ],
          },
          jsonPatch,
        );
      } catch (err: any) {
        failed = err.code;
      }
      return { annotations: patched.metadata.annotations, generation: patched.metadata.generation, failed };
    });
    expect(r).toEqual({
      annotations: { 'gamelift.status/drain-toleration': 'true' },
      generation: 1,
      failed: 422,
    });
  });
});

describe('RBAC', () => {
  it('a service account gets what its Role grants, and 403s worded alike for the rest', async () => {
    const SA = 'system:serviceaccount:default:diff-agent';
    const RBAC = '/apis/rbac.authorization.k8s.io/v1';
    const r = await same(async (b) => {
      expectCode(
        await req(b, 'POST', '/api/v1/namespaces/default/serviceaccounts', {
          metadata: { name: 'diff-agent' },
        }),
        201,
      );
      expectCode(
        await req(b, 'POST', `${RBAC}/namespaces/default/roles`, {
          metadata: { name: 'diff-agent' },
          rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
        }),
        201,
      );
      expectCode(
        await req(b, 'POST', `${RBAC}/namespaces/default/rolebindings`, {
          metadata: { name: 'diff-agent' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'diff-agent' },
          subjects: [{ kind: 'ServiceAccount', name: 'diff-agent', namespace: 'default' }],
        }),
        201,
      );
      // The real server issues the account a token; the emulator registers the identity.
      const token =
        b.name === 'real'
          ? expectCode(
              await req(b, 'POST', '/api/v1/namespaces/default/serviceaccounts/diff-agent/token', {
                apiVersion: 'authentication.k8s.io/v1',
                kind: 'TokenRequest',
                spec: { expirationSeconds: 600 },
              }),
              201,
            ).body.status.token
          : emu.addIdentity({
              username: SA,
              groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'],
            });
      const as = { ...b, adminToken: token };
      // The real authorizer sees new bindings through its informers: wait until the grant holds.
      await waitFor('the binding to take effect', async () => (await req(as, 'GET', PODS)).status === 200);
      return {
        list: (await req(as, 'GET', PODS)).status,
        delete: outcome(await req(as, 'DELETE', `${PODS}/diff-kubectl`)),
        create: outcome(await req(as, 'POST', PODS, pod('diff-rbac'))),
        nodes: outcome(await req(as, 'GET', '/api/v1/nodes/diff-node-1')),
        secrets: outcome(await req(as, 'GET', '/api/v1/namespaces/kube-system/secrets')),
        apis: (await req(as, 'GET', '/apis')).status,
      };
    });
    expect(r.list).toBe(200);
    expect(r.delete).toMatchObject({
      status: 403,
      reason: 'Forbidden',
      message: `pods "diff-kubectl" is forbidden: User "system:serviceaccount:default:diff-agent" cannot delete resource "pods" in API group "" in the namespace "default"`,
    });
    expect(r.apis).toBe(200);
  });
});

describe('garbage collection', () => {
  it('deleting an owner deletes its dependents (background), or leaves them without the reference (orphan)', async () => {
    const r = await same(async (b) => {
      // A built-in owner: the real garbage collector watches custom resources only from its next
      // discovery (up to 30 s after the CRD appears).
      const owned = async (owner: string, podName: string) => {
        const cm = expectCode(await req(b, 'POST', CMS, configMap(owner)), 201).body;
        const ref = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          name: owner,
          uid: cm.metadata.uid,
          controller: true,
        };
        const p = pod(podName);
        expectCode(
          await req(b, 'POST', PODS, { ...p, metadata: { ...p.metadata, ownerReferences: [ref] } }),
          201,
        );
      };
      await owned('diff-gc-bg', 'diff-gc-bg');
      await owned('diff-gc-orphan', 'diff-gc-orphan');
      expectCode(await req(b, 'DELETE', `${CMS}/diff-gc-bg`), 200);
      expectCode(await req(b, 'DELETE', `${CMS}/diff-gc-orphan`, { propagationPolicy: 'Orphan' }), 200);
      await waitFor('the garbage collector to delete the dependent', async () => {
        return (await req(b, 'GET', `${PODS}/diff-gc-bg`)).status === 404;
      });
      const orphan = await waitFor('the orphaned pod to lose its owner reference', async () => {
        const p = (await req(b, 'GET', `${PODS}/diff-gc-orphan`)).body;
        return (p.metadata.ownerReferences ?? []).length === 0 && p;
      });
      const owner = await waitFor('the orphaning owner to go', async () => {
        const res = await req(b, 'GET', `${CMS}/diff-gc-orphan`);
        return res.status === 404 ? res : undefined;
      });
      return { orphan: orphan.metadata.name, ownerGone: owner.status };
    });
    expect(r).toEqual({ orphan: 'diff-gc-orphan', ownerGone: 404 });
  });
});

describe('kubectl', () => {
  beforeAll(async () => {
    for (const b of backends) {
      expectCode(await req(b, 'POST', PODS, pod('diff-kubectl', { nodeName: 'diff-node-1' })), 201);
      await markRunning(b, 'diff-kubectl');
      const gs = expectCode(await req(b, 'POST', GSS, gameServer('diff-kubectl-gs')), 201).body;
      expectCode(
        await req(b, 'PUT', `${GSS}/diff-kubectl-gs`, {
          ...gs,
          status: {
            state: 'Allocated',
            address: '10.0.0.7',
            nodeName: 'diff-node-1',
            ports: [{ name: 'default', port: 7072 }],
          },
        }),
        200,
      );
    }
  });

  const withoutAge = (table: string[][]) => table.map((row) => row.filter((_, i) => table[0][i] !== 'AGE'));

  it('kubectl get pods: the same columns and values (server-side Table)', async () => {
    const r = await same(async (b) => {
      const out = await kubectl(b, ['get', 'pods', 'diff-kubectl']);
      const wide = await kubectl(b, ['get', 'pods', 'diff-kubectl', '-o', 'wide']);
      return { code: out.code, table: withoutAge(rows(out.stdout)), wide: rows(wide.stdout)[0] };
    });
    expect(r.table).toEqual([
      ['NAME', 'READY', 'STATUS', 'RESTARTS'],
      ['diff-kubectl', '1/1', 'Running', '0'],
    ]);
  });

  it('kubectl get nodes and kubectl get events: the same columns', async () => {
    const r = await same(async (b) => {
      const nodes = await kubectl(b, ['get', 'nodes', 'diff-node-1', '-L', 'role']);
      const wide = await kubectl(b, ['get', 'nodes', 'diff-node-1', '-o', 'wide']);
      const events = await kubectl(b, [
        'get',
        'events',
        '--field-selector',
        'reason=DrainStarted',
        '-o',
        'custom-columns=REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message',
      ]);
      return {
        nodes: withoutAge(rows(nodes.stdout)),
        // Split on runs of spaces, an empty cell vanishes: -o wide is cut where its headers start.
        wide: withoutAge(columns(wide.stdout)),
        events: rows(events.stdout),
        stderr: nodes.stderr + events.stderr,
      };
    });
    expect(r.nodes[0]).toEqual(['NAME', 'STATUS', 'ROLES', 'VERSION', 'ROLE']);
    expect(r.wide[1]).toEqual([
      'diff-node-1',
      'Ready',
      '<none>',
      '',
      '<none>',
      '<none>',
      '<unknown>',
      '<unknown>',
      '<unknown>',
    ]);
  });

  it('kubectl get gs: the printer columns of Agones’ CRD', async () => {
    const r = await same(async (b) => {
      const out = await kubectl(b, ['get', 'gs', 'diff-kubectl-gs']);
      return { code: out.code, table: withoutAge(rows(out.stdout)) };
    });
    expect(r.table).toEqual([
      ['NAME', 'STATE', 'ADDRESS', 'PORT', 'NODE'],
      ['diff-kubectl-gs', 'Allocated', '10.0.0.7', '7072', 'diff-node-1'],
    ]);
  });

  it('kubectl cordon, taint and uncordon: the same outputs and the same node', async () => {
    const r = await same(async (b) => {
      const run = async (...args: string[]) => {
        const out = await kubectl(b, args);
        return [out.code, out.stdout.trim(), out.stderr.trim()];
      };
      const steps = [
        await run('cordon', 'diff-node-2'),
        await run('taint', 'nodes', 'diff-node-2', 'example.com/maintenance=true:NoSchedule'),
        await run('taint', 'nodes', 'diff-node-2', 'example.com/maintenance=true:NoSchedule'),
        await run('taint', 'nodes', 'diff-node-2', 'example.com/bad=x:Sometimes'),
      ];
      const node = (await req(b, 'GET', '/api/v1/nodes/diff-node-2')).body;
      steps.push(await run('taint', 'nodes', 'diff-node-2', 'example.com/maintenance-'));
      steps.push(await run('uncordon', 'diff-node-2'));
      return {
        steps,
        unschedulable: node.spec.unschedulable,
        // Known difference: the real server's NodeTaint admission plugin taints a new node
        // node.kubernetes.io/not-ready:NoSchedule, which its node lifecycle controller (not
        // running here) removes once the node is Ready; the emulator adds no such taint.
        taints: node.spec.taints
          .filter((t: any) => !t.key.startsWith('node.kubernetes.io/'))
          .map((t: any) => `${t.key}=${t.value}:${t.effect}`),
      };
    });
    expect(r.steps[0]).toEqual([0, 'node/diff-node-2 cordoned', '']);
    expect(r.taints).toEqual(['example.com/maintenance=true:NoSchedule']);
    expect(r.unschedulable).toBe(true);
  });

  it('kubectl version: the same release', async () => {
    const r = await same(async (b) => {
      const out = await kubectl(b, ['version', '-o', 'json']);
      const v = JSON.parse(out.stdout).serverVersion;
      return { code: out.code, stderr: out.stderr, major: v.major, minor: v.minor, gitVersion: v.gitVersion };
    });
    expect(r).toEqual({ code: 0, stderr: '', major: '1', minor: '34', gitVersion: 'v1.34.4' });
  });

  it('kubectl api-resources: every resource the emulator serves, as the real server lists it', async () => {
    const { real, emulator } = await onBoth(async (b) => {
      const out = await kubectl(b, ['api-resources', '--no-headers=false']);
      expect(out.code).toBe(0);
      return rows(out.stdout);
    });
    expect(emulator[0]).toEqual(real[0]);
    const realByName = new Map(real.slice(1).map((row) => [`${row[0]} ${row[row.length - 3]}`, row]));
    const missing: string[] = [];
    for (const row of emulator.slice(1)) {
      // GameServerAllocation is Agones' aggregated API, which the real server here does not serve.
      if (row[0] === 'gameserverallocations') continue;
      const twin = realByName.get(`${row[0]} ${row[row.length - 3]}`);
      if (!twin) {
        missing.push(row.join(' '));
        continue;
      }
      expect(row).toEqual(twin);
    }
    expect(missing).toEqual([]);
  });

  it('discovery: each resource and subresource the emulator serves, with the real verbs, kind and scope', async () => {
    const serving = async (b: Backend) => {
      const out = new Map<string, unknown>();
      const groups = (await req(b, 'GET', '/apis')).body.groups.map(
        (g: any) => g.preferredVersion.groupVersion,
      );
      for (const gv of ['v1', ...groups]) {
        const list = (await req(b, 'GET', gv === 'v1' ? '/api/v1' : `/apis/${gv}`)).body;
        for (const r of list.resources ?? [])
          out.set(`${gv} ${r.name}`, {
            namespaced: r.namespaced,
            kind: r.kind,
            group: r.group,
            version: r.version,
            verbs: [...r.verbs].sort(),
            shortNames: r.shortNames,
            categories: r.categories,
          });
      }
      return out;
    };
    const real = await serving(backends[0]);
    const emulator = await serving(backends[1]);
    const differences: string[] = [];
    for (const [key, e] of emulator) {
      // Agones' allocation API is not served by the real server here.
      if (key.startsWith('allocation.agones.dev/')) continue;
      const r = real.get(key) as any;
      const mine = e as any;
      if (JSON.stringify(r) !== JSON.stringify(mine))
        differences.push(`${key}: real ${JSON.stringify(r)}, emulator ${JSON.stringify(mine)}`);
    }
    expect(differences).toEqual([]);
  });

  it('kubectl create -f of a GameServerAllocation (Agones quick start) works against the emulator', async () => {
    const gsa = [
      'apiVersion: "allocation.agones.dev/v1"',
      'kind: GameServerAllocation',
      'spec:',
      '  selectors:',
      '    - matchLabels:',
      '        agones.dev/fleet: simple-game-server',
      '',
    ].join('\n');
    const file = join(dir, 'gameserverallocation.yaml');
    await writeFile(file, gsa);
    const out = await kubectl(backends[1], [
      'create',
      '-f',
      file,
      '-o',
      'jsonpath={.status.state} {.status.gameServerName}',
    ]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('Allocated simple-game-server-7pjrq-xd8xw');
    expect(out.code).toBe(0);
  });
});

describe('unknown fields', () => {
  const withUnknown = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { generateName: 'diff-unknown-', labels: { a: 'b' }, bogusMeta: 1 },
    data: { x: '1' },
    bogus: 2,
  };

  it('the default and fieldValidation=Warn accept the object with a Warning header per unknown field', async () => {
    const r = await same(async (b) => {
      const dflt = await req(b, 'POST', CMS, withUnknown);
      const warn = await req(b, 'POST', `${CMS}?fieldValidation=Warn`, withUnknown);
      const ignore = await req(b, 'POST', `${CMS}?fieldValidation=Ignore`, withUnknown);
      return {
        dflt: [dflt.status, warnings(dflt), dflt.body.bogus ?? null],
        warn: [warn.status, warnings(warn)],
        ignore: [ignore.status, warnings(ignore)],
      };
    });
    expect(r.warn[0]).toBe(201);
    expect([...(r.warn[1] as string[])].sort()).toEqual([
      'unknown field "bogus"',
      'unknown field "metadata.bogusMeta"',
    ]);
    expect(r.ignore).toEqual([201, []]);
  });

  it('fieldValidation=Strict refuses with 400 naming the fields, in pods, nested fields and custom resources', async () => {
    const r = await same(async (b) => ({
      cm: outcome(await req(b, 'POST', `${CMS}?fieldValidation=Strict`, withUnknown)),
      pod: outcome(
        await req(b, 'POST', `${PODS}?fieldValidation=Strict`, {
          ...pod('diff-strict'),
          spec: {
            containers: [
              {
                name: 'game',
                image: 'example.invalid/game:1',
                imagePullPolicyX: 'x',
                ports: [{ containerPort: 1, zz: 1 }],
              },
            ],
            tolerations: [{ key: 'a', operator: 'Exists', q: 1 }],
          },
        }),
      ),
      gs: outcome(
        await req(b, 'POST', `${GSS}?fieldValidation=Strict`, {
          ...gameServer('diff-strict'),
          bogus: 1,
          spec: { anything: 1 },
        }),
      ),
      badValue: outcome(await req(b, 'POST', `${CMS}?fieldValidation=strict`, configMap('diff-bad-fv'))),
    }));
    expect(r.cm).toMatchObject({ status: 400, reason: 'BadRequest' });
    expect(r.pod).toMatchObject({ status: 400, reason: 'BadRequest' });
    expect(r.gs).toMatchObject({ status: 400, reason: 'BadRequest' });
    expect(r.badValue).toMatchObject({ status: 422, reason: 'Invalid' });
  });

  it('kubectl create -f with an unknown field fails under the default --validate=strict, and warns with --validate=warn', async () => {
    const manifest = JSON.stringify({
      ...withUnknown,
      metadata: { name: 'diff-kubectl-unknown', bogusMeta: 1 },
    });
    const file = join(dir, 'unknown.json');
    await writeFile(file, manifest);
    const r = await same(async (b) => {
      const strict = await kubectl(b, ['create', '-f', file]);
      const warn = await kubectl(b, ['create', '-f', file, '--validate=warn']);
      return {
        strict: { code: strict.code, stderr: strict.stderr.trim() },
        warn: { code: warn.code, stdout: warn.stdout.trim(), stderr: warn.stderr.trim().split('\n').sort() },
      };
    });
    expect(r.strict.code).not.toBe(0);
    expect(r.warn.code).toBe(0);
  });
});
