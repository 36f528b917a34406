// The emulated API server through @kubernetes/client-node over HTTPS: CRUD, optimistic
// concurrency, subresources, patches, validation, selectors, pagination, dry runs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import {
  apis,
  expectStatus,
  failure,
  jsonPatch,
  merge,
  node,
  pod,
  startEmulator,
  strategic,
  POD_REF,
} from './support.js';
import * as k8s from '@kubernetes/client-node';

let emu: KubeEmulator;
let a: ReturnType<typeof apis>;
const ns = 'default';

beforeAll(async () => {
  emu = await startEmulator({ watchHistorySize: 50 });
  a = apis(emu);
});
afterAll(async () => {
  await emu.stop();
});

describe('objects and versions', () => {
  it('starts with the four system namespaces, each with a default ServiceAccount', async () => {
    const list = await a.core.listNamespace();
    expect(list.items.map((n) => n.metadata!.name).sort()).toEqual([
      'default',
      'kube-node-lease',
      'kube-public',
      'kube-system',
    ]);
    expect(list.items.every((n) => n.status?.phase === 'Active')).toBe(true);
    const sa = await a.core.readNamespacedServiceAccount({ name: 'default', namespace: 'kube-system' });
    expect(sa.metadata?.uid).toBeTruthy();
  });

  it('creates with generateName, server-set metadata and the pod defaults', async () => {
    const created = await a.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { generateName: 'gen-' },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      } as any,
    });
    expect(created.metadata!.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(created.metadata!.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(created.metadata!.resourceVersion)).toBeGreaterThan(0);
    expect(created.metadata!.creationTimestamp).toBeInstanceOf(Date);
    expect(created.status!.phase).toBe('Pending');
    expect(created.spec!.restartPolicy).toBe('Always');
    expect(created.spec!.terminationGracePeriodSeconds).toBe(30);
    expect(created.spec!.containers[0].imagePullPolicy).toBe('Always');
    expect(created.spec!.tolerations!.map((t) => `${t.key}:${t.effect}:${t.tolerationSeconds}`)).toEqual([
      'node.kubernetes.io/not-ready:NoExecute:300',
      'node.kubernetes.io/unreachable:NoExecute:300',
    ]);
  });

  it('answers AlreadyExists, NotFound and a missing namespace with real Status bodies', async () => {
    await a.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'dup' }, data: { a: '1' } },
    });
    await expectStatus(
      a.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'dup' } } }),
      409,
      'AlreadyExists',
      'configmaps "dup" already exists',
    );
    const nf = await expectStatus(
      a.core.readNamespacedPod({ name: 'nope', namespace: ns }),
      404,
      'NotFound',
      'pods "nope" not found',
    );
    expect(nf.details).toEqual({ name: 'nope', kind: 'pods' });
    await expectStatus(
      a.core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }),
      404,
      'NotFound',
      'namespaces "nowhere" not found',
    );
  });

  it('rejects a stale update with the real Conflict message and allows an unconditional one', async () => {
    const cm = await a.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'occ' }, data: { v: '1' } },
    });
    const updated = await a.core.replaceNamespacedConfigMap({
      name: 'occ',
      namespace: ns,
      body: { ...cm, data: { v: '2' } },
    });
    expect(Number(updated.metadata!.resourceVersion)).toBeGreaterThan(Number(cm.metadata!.resourceVersion));
    await expectStatus(
      a.core.replaceNamespacedConfigMap({
        name: 'occ',
        namespace: ns,
        body: { ...cm, data: { v: 'stale' } },
      }),
      409,
      'Conflict',
      'Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again',
    );
    const unconditional = await a.core.replaceNamespacedConfigMap({
      name: 'occ',
      namespace: ns,
      body: { metadata: { name: 'occ' }, data: { v: '3' } },
    });
    expect(unconditional.data).toEqual({ v: '3' });
    expect(unconditional.metadata!.uid).toBe(cm.metadata!.uid);
  });

  it('does not bump resourceVersion for an update that changes nothing', async () => {
    const cm = await a.core.readNamespacedConfigMap({ name: 'occ', namespace: ns });
    const same = await a.core.replaceNamespacedConfigMap({ name: 'occ', namespace: ns, body: cm });
    expect(same.metadata!.resourceVersion).toBe(cm.metadata!.resourceVersion);
  });

  it('rejects a body whose name does not match the URL', async () => {
    await expectStatus(
      a.core.replaceNamespacedConfigMap({
        name: 'occ',
        namespace: ns,
        body: { metadata: { name: 'other' } },
      }),
      400,
      'BadRequest',
      'the name of the object (other) does not match the name on the URL (occ)',
    );
  });
});

describe('pods: update restrictions and the status subresource', () => {
  it('allows image changes and toleration additions, forbids the rest with the real message', async () => {
    await a.core.createNamespacedPod({ namespace: ns, body: pod('upd') as any });
    const p = await a.core.readNamespacedPod({ name: 'upd', namespace: ns });
    p.spec!.containers[0].image = 'game:2.0';
    p.spec!.tolerations = [
      ...(p.spec!.tolerations ?? []),
      { key: 'gamelift.status/draining', operator: 'Equal', value: 'true', effect: 'NoExecute' },
    ];
    const ok = await a.core.replaceNamespacedPod({ name: 'upd', namespace: ns, body: p });
    expect(ok.spec!.containers[0].image).toBe('game:2.0');
    expect(ok.metadata!.generation).toBe(2);

    const moved = { ...ok, spec: { ...ok.spec!, nodeName: 'elsewhere' } };
    const status = await expectStatus(
      a.core.replaceNamespacedPod({ name: 'upd', namespace: ns, body: moved }),
      422,
      'Invalid',
      /^Pod "upd" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`,`spec.initContainers\[\*\].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` \(only additions to existing tolerations\),`spec.terminationGracePeriodSeconds` \(allow it to be set to 1 if it was previously negative\)/,
    );
    expect(status.details.kind).toBe('Pod');
    expect(status.details.causes[0]).toMatchObject({ reason: 'FieldValueForbidden', field: 'spec' });

    const removed = { ...ok, spec: { ...ok.spec!, tolerations: ok.spec!.tolerations!.slice(1) } };
    await expectStatus(
      a.core.replaceNamespacedPod({ name: 'upd', namespace: ns, body: removed }),
      422,
      'Invalid',
      /spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds/,
    );
  });

  it('ignores status on the main resource and changes only status through /status', async () => {
    const p = await a.core.readNamespacedPod({ name: 'upd', namespace: ns });
    const viaMain = await a.core.replaceNamespacedPod({
      name: 'upd',
      namespace: ns,
      body: { ...p, metadata: { ...p.metadata, labels: { x: '1' } }, status: { phase: 'Running' } },
    });
    expect(viaMain.status!.phase).toBe('Pending');
    expect(viaMain.metadata!.labels).toEqual({ x: '1' });

    const viaStatus = await a.core.replaceNamespacedPodStatus({
      name: 'upd',
      namespace: ns,
      body: {
        ...viaMain,
        metadata: { ...viaMain.metadata, labels: { ignored: 'yes' } },
        status: { phase: 'Running', podIP: '10.1.0.5' },
      },
    });
    expect(viaStatus.status!.phase).toBe('Running');
    expect(viaStatus.metadata!.labels).toEqual({ x: '1' });
    expect(viaStatus.metadata!.generation).toBe(viaMain.metadata!.generation);

    const patched = await a.core.patchNamespacedPodStatus(
      { name: 'upd', namespace: ns, body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } },
      strategic,
    );
    expect(patched.status!.conditions![0].type).toBe('Ready');
    expect(patched.status!.podIP).toBe('10.1.0.5');
  });
});

describe('patches', () => {
  it('applies a JSON patch whose test on resourceVersion fails with 422 Invalid (the Agones SDK pattern)', async () => {
    const p = await a.core.readNamespacedPod({ name: 'upd', namespace: ns });
    const rv = p.metadata!.resourceVersion!;
    const ok = await a.core.patchNamespacedPod(
      {
        name: 'upd',
        namespace: ns,
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: rv },
          { op: 'add', path: '/metadata/annotations', value: { step: '1' } },
        ],
      },
      jsonPatch,
    );
    expect(ok.metadata!.annotations).toEqual({ step: '1' });
    const s = await expectStatus(
      a.core.patchNamespacedPod(
        {
          name: 'upd',
          namespace: ns,
          body: [
            { op: 'test', path: '/metadata/resourceVersion', value: rv },
            { op: 'replace', path: '/metadata/annotations/step', value: '2' },
          ],
        },
        jsonPatch,
      ),
      422,
      'Invalid',
    );
    expect(s.details.causes[0].message).toBe('testing value /metadata/resourceVersion failed: test failed');
  });

  it('merges containers by name and replaces tolerations whole in a strategic merge patch', async () => {
    const p = await a.core.patchNamespacedPod(
      {
        name: 'upd',
        namespace: ns,
        body: {
          metadata: { labels: { y: '2' } },
          spec: {
            containers: [{ name: 'main', image: 'game:3.0' }],
          },
        },
      },
      strategic,
    );
    expect(p.spec!.containers).toHaveLength(1);
    expect(p.spec!.containers[0].image).toBe('game:3.0');
    expect(p.spec!.containers[0].terminationMessagePath).toBe('/dev/termination-log');
    expect(p.metadata!.labels).toEqual({ x: '1', y: '2' });

    await a.core.createNode({ body: node('smp-node') as any });
    await a.core.patchNode(
      { name: 'smp-node', body: { spec: { taints: [{ key: 'a', value: '1', effect: 'NoSchedule' }] } } },
      strategic,
    );
    const n = await a.core.patchNode(
      { name: 'smp-node', body: { spec: { taints: [{ key: 'b', value: '2', effect: 'NoExecute' }] } } },
      strategic,
    );
    expect(n.spec!.taints!.map((t) => t.key)).toEqual(['b']);
  });

  it('removes a key with a merge patch null and rejects apply patches and SMP on custom resources with 415', async () => {
    const p = await a.core.patchNamespacedPod(
      { name: 'upd', namespace: ns, body: { metadata: { labels: { y: null } } } },
      merge,
    );
    expect(p.metadata!.labels).toEqual({ x: '1' });
    const apply = await failure(
      a.core.patchNamespacedPod(
        { name: 'upd', namespace: ns, body: { metadata: { labels: { z: '1' } } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      ),
    );
    expect(apply.code).toBe(415);
    expect(apply.status.reason).toBe('UnsupportedMediaType');
    expect(apply.status.message).toMatch(
      /^server-side apply \(application\/apply-patch\+yaml\) is not served/,
    );

    await a.custom.createNamespacedCustomObject({
      group: 'agones.dev',
      version: 'v1',
      namespace: ns,
      plural: 'gameservers',
      body: { apiVersion: 'agones.dev/v1', kind: 'GameServer', metadata: { name: 'gs-smp' }, spec: {} },
    });
    const crd = await failure(
      a.custom.patchNamespacedCustomObject(
        {
          group: 'agones.dev',
          version: 'v1',
          namespace: ns,
          plural: 'gameservers',
          name: 'gs-smp',
          body: { metadata: { labels: { a: 'b' } } },
        },
        strategic,
      ),
    );
    expect(crd.code).toBe(415);
    expect(crd.status.message).not.toMatch(/strategic/);
  });
});

describe('custom resources (Agones)', () => {
  const gsApi = { group: 'agones.dev', version: 'v1', namespace: ns, plural: 'gameservers' };

  it('bumps generation on a status change (no status subresource) but not on a label change', async () => {
    const gs: any = await a.custom.createNamespacedCustomObject({
      ...gsApi,
      body: {
        apiVersion: 'agones.dev/v1',
        kind: 'GameServer',
        metadata: { name: 'gs-gen' },
        spec: { ports: [] },
      },
    });
    expect(gs.metadata.generation).toBe(1);
    const labelled: any = await a.custom.patchNamespacedCustomObject(
      { ...gsApi, name: 'gs-gen', body: { metadata: { labels: { 'agones.dev/fleet': 'f' } } } },
      merge,
    );
    expect(labelled.metadata.generation).toBe(1);
    const ready: any = await a.custom.replaceNamespacedCustomObject({
      ...gsApi,
      name: 'gs-gen',
      body: { ...labelled, status: { state: 'Ready' } },
    });
    expect(ready.status.state).toBe('Ready');
    expect(ready.metadata.generation).toBe(2);
    const listed: any = await a.custom.listNamespacedCustomObject({
      ...gsApi,
      labelSelector: 'agones.dev/fleet=f',
    });
    expect(listed.items.map((i: any) => i.metadata.name)).toEqual(['gs-gen']);
    expect(listed.kind).toBe('GameServerList');
  });

  it('answers a GameServerAllocation with 503 without an allocator, and with the hook once registered', async () => {
    const gsa = {
      group: 'allocation.agones.dev',
      version: 'v1',
      namespace: ns,
      plural: 'gameserverallocations',
      body: { apiVersion: 'allocation.agones.dev/v1', kind: 'GameServerAllocation', spec: {} },
    };
    await expectStatus(
      a.custom.createNamespacedCustomObject(gsa),
      503,
      'ServiceUnavailable',
      'the server is currently unable to handle the request (post gameserverallocations.allocation.agones.dev)',
    );
    emu.setAllocationHandler(async (ref, body, user) => ({
      ...body,
      status: { state: 'UnAllocated', namespace: ref.namespace, by: user.username },
    }));
    const out: any = await a.custom.createNamespacedCustomObject(gsa);
    expect(out.status).toEqual({ state: 'UnAllocated', namespace: ns, by: 'system:admin' });
    emu.setAllocationHandler(undefined);
    await expectStatus(a.custom.getNamespacedCustomObject({ ...gsa, name: 'x' }), 405, 'MethodNotAllowed');
  });
});

describe('validation', () => {
  it('rejects invalid names, labels and taints with 422 and field causes', async () => {
    const s = await expectStatus(
      a.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'Bad_Name', labels: { 'ok/key': 'bad value' } } },
      }),
      422,
      'Invalid',
    );
    expect(s.message).toMatch(
      /^ConfigMap "Bad_Name" is invalid: \[metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of/,
    );
    expect(s.details.causes.map((c: any) => c.field)).toEqual(['metadata.name', 'metadata.labels']);

    const bad = node('taints-bad') as any;
    bad.spec.taints = [
      { key: 'a', value: 'x', effect: 'Sometimes' },
      { key: 'b', value: 'x', effect: 'NoSchedule' },
      { key: 'b', value: 'y', effect: 'NoSchedule' },
    ];
    const t = await expectStatus(a.core.createNode({ body: bad }), 422, 'Invalid');
    expect(t.message).toMatch(
      /metadata.taints\[0\].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"/,
    );
    expect(t.message).toMatch(
      /metadata.taints\[2\]: Duplicate value: .*taints must be unique by key and effect pair/,
    );
  });

  it('rejects a pod with an invalid toleration and a PDB with both minAvailable and maxUnavailable', async () => {
    const p = pod('bad-tol') as any;
    p.spec.tolerations = [
      { key: 'k', operator: 'Exists', value: 'v', effect: 'NoSchedule', tolerationSeconds: 5 },
    ];
    const s = await expectStatus(a.core.createNamespacedPod({ namespace: ns, body: p }), 422, 'Invalid');
    expect(s.details.causes.map((c: any) => c.field).sort()).toEqual([
      'spec.tolerations[0].effect',
      'spec.tolerations[0].operator',
    ]);
    await expectStatus(
      a.policy.createNamespacedPodDisruptionBudget({
        namespace: ns,
        body: { metadata: { name: 'both' }, spec: { minAvailable: 1, maxUnavailable: '0%', selector: {} } },
      }),
      422,
      'Invalid',
      /minAvailable and maxUnavailable cannot be both set/,
    );
  });
});

describe('lists', () => {
  beforeAll(async () => {
    await a.core.createNode({ body: node('n1') as any });
    await a.core.createNode({ body: node('n2') as any });
    await a.core.createNamespace({ body: { metadata: { name: 'lists' } } });
    const specs: Array<[string, string, Record<string, string>]> = [
      ['l-a', 'n1', { app: 'game', tier: 'a' }],
      ['l-b', 'n1', { app: 'game', tier: 'b' }],
      ['l-c', 'n2', { app: 'web' }],
      ['l-d', 'n2', {}],
    ];
    for (const [name, nodeName, labels] of specs)
      await a.core.createNamespacedPod({ namespace: 'lists', body: pod(name, { nodeName, labels }) as any });
    await a.core.patchNamespacedPodStatus(
      { name: 'l-b', namespace: 'lists', body: { status: { phase: 'Running' } } },
      merge,
    );
  });
  const names = (l: { items: Array<{ metadata?: { name?: string } }> }) =>
    l.items.map((i) => i.metadata!.name);

  it('filters by label selectors (=, ==, !=, in, notin, exists, !key)', async () => {
    const q = async (labelSelector: string) =>
      names(await a.core.listNamespacedPod({ namespace: 'lists', labelSelector }));
    expect(await q('app=game')).toEqual(['l-a', 'l-b']);
    expect(await q('app==web')).toEqual(['l-c']);
    expect(await q('app!=game')).toEqual(['l-c', 'l-d']);
    expect(await q('tier in (b,c)')).toEqual(['l-b']);
    expect(await q('app notin (game)')).toEqual(['l-c', 'l-d']);
    expect(await q('tier')).toEqual(['l-a', 'l-b']);
    expect(await q('!app')).toEqual(['l-d']);
    expect(await q('app=game,tier!=a')).toEqual(['l-b']);
    await expectStatus(
      a.core.listNamespacedPod({ namespace: 'lists', labelSelector: 'app=(' }),
      400,
      'BadRequest',
    );
  });

  it('filters by field selectors and rejects unsupported fields with the real message', async () => {
    const q = async (fieldSelector: string) =>
      names(await a.core.listPodForAllNamespaces({ fieldSelector, labelSelector: 'app' }));
    expect(await q('spec.nodeName=n1')).toEqual(['l-a', 'l-b']);
    expect(await q('spec.nodeName=n1,status.phase!=Running')).toEqual(['l-a']);
    expect(await q('metadata.name=l-c,metadata.namespace=lists')).toEqual(['l-c']);
    expect(
      names(await a.core.listNode({ fieldSelector: 'spec.unschedulable=false,metadata.name=n2' })),
    ).toEqual(['n2']);
    await expectStatus(
      a.core.listNamespacedPod({ namespace: 'lists', fieldSelector: 'spec.foo=bar' }),
      400,
      'BadRequest',
      'field label not supported: spec.foo',
    );
  });

  it('pages with limit/continue and reports the list resourceVersion', async () => {
    const first = await a.core.listNamespacedPod({ namespace: 'lists', limit: 3 });
    expect(names(first)).toEqual(['l-a', 'l-b', 'l-c']);
    expect(first.metadata!._continue).toBeTruthy();
    expect(first.metadata!.remainingItemCount).toBe(1);
    expect(Number(first.metadata!.resourceVersion)).toBeGreaterThan(0);
    const second = await a.core.listNamespacedPod({
      namespace: 'lists',
      limit: 3,
      _continue: first.metadata!._continue,
    });
    expect(names(second)).toEqual(['l-d']);
    expect(second.metadata!._continue).toBeFalsy();
    await expectStatus(
      a.core.listNamespacedPod({ namespace: 'lists', _continue: 'garbage!' }),
      400,
      'BadRequest',
    );
  });

  it('answers 410 Expired for a continue token older than the retained history', async () => {
    const first = await a.core.listNamespacedPod({ namespace: 'lists', limit: 1 });
    for (let i = 0; i < 80; i++)
      await a.core.patchNamespacedPod(
        { name: 'l-d', namespace: 'lists', body: { metadata: { annotations: { i: String(i) } } } },
        merge,
      );
    await expectStatus(
      a.core.listNamespacedPod({ namespace: 'lists', limit: 1, _continue: first.metadata!._continue }),
      410,
      'Expired',
      /The provided continue parameter is too old/,
    );
  });
});

describe('events', () => {
  it('selects core events by involvedObject fields and serves events.k8s.io/v1 from the same storage', async () => {
    await a.core.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: 'ev-core' },
        involvedObject: { kind: 'Node', name: 'n1', uid: 'uid-n1' },
        reason: 'Cordoned',
        message: 'cordoned by the agent',
        type: 'Normal',
      },
    });
    await a.events.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: 'ev-v1' },
        eventTime: new Date() as any,
        reportingController: 'fleetiq.example.com/reconciler',
        reportingInstance: 'agent-n1',
        action: 'Drain',
        reason: 'Draining',
        regarding: { kind: 'Node', name: 'n1', uid: 'uid-n1' },
        note: 'draining the node',
        type: 'Warning',
      },
    });
    const core = await a.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'involvedObject.kind=Node,involvedObject.name=n1,involvedObject.uid=uid-n1',
    });
    expect(core.items.map((e) => [e.metadata.name, e.reason, e.message])).toEqual([
      ['ev-core', 'Cordoned', 'cordoned by the agent'],
      ['ev-v1', 'Draining', 'draining the node'],
    ]);
    const v1 = await a.events.listNamespacedEvent({ namespace: ns, fieldSelector: 'reason=Draining' });
    expect(v1.items).toHaveLength(1);
    expect(v1.items[0].regarding?.name).toBe('n1');
    expect(v1.items[0].note).toBe('draining the node');
    await expectStatus(
      a.events.createNamespacedEvent({
        namespace: ns,
        body: { metadata: { name: 'ev-bad' }, reason: 'x' } as any,
      }),
      422,
      'Invalid',
      /eventTime: Required value/,
    );
  });
});

describe('leases', () => {
  it('serves coordination.k8s.io leases with optimistic concurrency', async () => {
    const l = await a.coordination.createNamespacedLease({
      namespace: 'kube-node-lease',
      body: { metadata: { name: 'n1' }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 40 } },
    });
    const renewed = await a.coordination.replaceNamespacedLease({
      name: 'n1',
      namespace: 'kube-node-lease',
      body: { ...l, spec: { ...l.spec, renewTime: new k8s.V1MicroTime() } },
    });
    expect(renewed.spec!.holderIdentity).toBe('n1');
    await expectStatus(
      a.coordination.replaceNamespacedLease({ name: 'n1', namespace: 'kube-node-lease', body: l }),
      409,
      'Conflict',
    );
  });
});

describe('dry runs', () => {
  it('runs create, patch and delete with dryRun=All without storing anything', async () => {
    const dry = await a.core.createNamespacedConfigMap({
      namespace: ns,
      dryRun: 'All',
      body: { metadata: { name: 'dry' }, data: { a: '1' } },
    });
    expect(dry.metadata!.name).toBe('dry');
    expect(dry.metadata!.resourceVersion).toBeUndefined();
    await expectStatus(a.core.readNamespacedConfigMap({ name: 'dry', namespace: ns }), 404, 'NotFound');

    await a.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'wet' }, data: { a: '1' } },
    });
    const patched = await a.core.patchNamespacedConfigMap(
      { name: 'wet', namespace: ns, dryRun: 'All', body: { data: { a: '2' } } },
      merge,
    );
    expect(patched.data).toEqual({ a: '2' });
    expect((await a.core.readNamespacedConfigMap({ name: 'wet', namespace: ns })).data).toEqual({ a: '1' });
    await a.core.deleteNamespacedConfigMap({ name: 'wet', namespace: ns, dryRun: 'All' });
    expect((await a.core.readNamespacedConfigMap({ name: 'wet', namespace: ns })).data).toEqual({ a: '1' });
    await expectStatus(
      a.core.createNamespacedConfigMap({ namespace: ns, dryRun: 'Some', body: { metadata: { name: 'x' } } }),
      400,
      'BadRequest',
    );
  });
});

describe('collections and services', () => {
  it('deletes a collection by label selector', async () => {
    for (const [name, keep] of [
      ['dc-1', 'no'],
      ['dc-2', 'no'],
      ['dc-3', 'yes'],
    ])
      await a.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name, labels: { group: 'dc', keep } } },
      });
    await a.core.deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: 'group=dc,keep=no' });
    const left = await a.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'group=dc' });
    expect(left.items.map((i) => i.metadata!.name)).toEqual(['dc-3']);
  });

  it('allocates a cluster IP and resolves registered service endpoints', async () => {
    const svc = await a.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'webhook' }, spec: { ports: [{ port: 443, targetPort: 8443 as any }] } },
    });
    expect(svc.spec!.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(svc.spec!.type).toBe('ClusterIP');
    expect(emu.resolveService(ns, 'webhook', 443)).toBeUndefined();
    emu.registerServiceEndpoint(ns, 'webhook', '127.0.0.1', 18443);
    expect(emu.resolveService(ns, 'webhook', 443)).toEqual({ host: '127.0.0.1', port: 18443 });
  });
});

describe('the in-process client', () => {
  it('goes through the same pipeline and request log as HTTP clients', async () => {
    const bot = { username: 'system:serviceaccount:kube-system:sim', groups: ['system:serviceaccounts'] };
    const c = emu.client(bot);
    const created = await c.create(POD_REF, pod('local-1'));
    created.metadata.labels = { mutated: 'locally' }; // a copy: the store is not affected
    const got = await c.get({ ...POD_REF, name: 'local-1' });
    expect(got.metadata.labels).toBeUndefined();
    await expect(c.get({ ...POD_REF, name: 'missing' })).rejects.toMatchObject({
      code: 404,
      reason: 'NotFound',
    });
    const viaHttp = await a.core.readNamespacedPod({ name: 'local-1', namespace: ns });
    expect(viaHttp.metadata!.uid).toBe(created.metadata.uid);
    const log = emu.requestLog.entries(bot.username);
    expect(log.map((e) => [e.verb, e.resource, e.name ?? '', e.code])).toEqual([
      ['create', 'pods', '', 201],
      ['get', 'pods', 'local-1', 200],
      ['get', 'pods', 'missing', 404],
    ]);
  });
});
