// Deletion semantics: graceful pod deletion, finalizers, ownerReference garbage collection,
// namespace deletion, and the Eviction API with PodDisruptionBudgets.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { apis, eventually, expectStatus, failure, merge, node, pod, startEmulator } from './support.js';

let emu: KubeEmulator;
let a: ReturnType<typeof apis>;

beforeAll(async () => {
  emu = await startEmulator();
  a = apis(emu);
  await a.core.createNode({ body: node('life-1') as any });
  await a.core.createNamespace({ body: { metadata: { name: 'life' } } });
});
afterAll(async () => {
  await emu.stop();
});

const exists = async (fn: () => Promise<unknown>) => {
  try {
    await fn();
    return true;
  } catch (err: any) {
    if (err?.code === 404) return false;
    throw err;
  }
};

async function runningReadyPod(name: string, labels: Record<string, string>, namespace = 'life') {
  await a.core.createNamespacedPod({ namespace, body: pod(name, { nodeName: 'life-1', labels }) as any });
  await a.core.patchNamespacedPodStatus(
    {
      name,
      namespace,
      body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
    },
    merge,
  );
}

describe('graceful deletion of pods', () => {
  it('marks a pod on a node as terminating until a grace-0 delete removes it', async () => {
    await a.core.createNamespacedPod({
      namespace: 'life',
      body: pod('graceful', { nodeName: 'life-1' }) as any,
    });
    const marked = await a.core.deleteNamespacedPod({
      name: 'graceful',
      namespace: 'life',
      gracePeriodSeconds: 45,
    });
    expect(marked.metadata!.deletionTimestamp).toBeInstanceOf(Date);
    expect(marked.metadata!.deletionGracePeriodSeconds).toBe(45);
    const still = await a.core.readNamespacedPod({ name: 'graceful', namespace: 'life' });
    expect(still.metadata!.deletionGracePeriodSeconds).toBe(45);
    // A second delete may shorten the grace period but not lengthen it.
    const shorter = await a.core.deleteNamespacedPod({
      name: 'graceful',
      namespace: 'life',
      gracePeriodSeconds: 10,
    });
    expect(shorter.metadata!.deletionGracePeriodSeconds).toBe(10);
    // The kubelet's final delete.
    await a.core.deleteNamespacedPod({ name: 'graceful', namespace: 'life', gracePeriodSeconds: 0 });
    expect(await exists(() => a.core.readNamespacedPod({ name: 'graceful', namespace: 'life' }))).toBe(false);
  });

  it('removes a pod that is not bound to a node at once', async () => {
    await a.core.createNamespacedPod({ namespace: 'life', body: pod('unbound') as any });
    const out = await a.core.deleteNamespacedPod({ name: 'unbound', namespace: 'life' });
    expect(out.metadata!.name).toBe('unbound');
    expect(await exists(() => a.core.readNamespacedPod({ name: 'unbound', namespace: 'life' }))).toBe(false);
  });

  it('checks delete preconditions', async () => {
    await a.core.createNamespacedConfigMap({ namespace: 'life', body: { metadata: { name: 'pre' } } });
    await expectStatus(
      a.core.deleteNamespacedConfigMap({
        name: 'pre',
        namespace: 'life',
        body: { preconditions: { uid: 'other' } },
      }),
      409,
      'Conflict',
      /^Operation cannot be fulfilled on ConfigMap "pre": the UID in the precondition \(other\) does not match the UID in record \([0-9a-f-]+\)\. The object might have been deleted and then recreated$/,
    );
  });
});

describe('finalizers', () => {
  it('keeps an object with a deletionTimestamp until its finalizers are removed', async () => {
    const gsApi = { group: 'agones.dev', version: 'v1', namespace: 'life', plural: 'gameservers' };
    await a.custom.createNamespacedCustomObject({
      ...gsApi,
      body: {
        apiVersion: 'agones.dev/v1',
        kind: 'GameServer',
        metadata: { name: 'fin', finalizers: ['agones.dev/controller'] },
        spec: {},
      },
    });
    await a.custom.deleteNamespacedCustomObject({ ...gsApi, name: 'fin' });
    const terminating: any = await a.custom.getNamespacedCustomObject({ ...gsApi, name: 'fin' });
    expect(terminating.metadata.deletionTimestamp).toBeTruthy();
    expect(terminating.metadata.generation).toBe(2);
    await expectStatus(
      a.custom.patchNamespacedCustomObject(
        {
          ...gsApi,
          name: 'fin',
          body: { metadata: { finalizers: ['agones.dev/controller', 'example.com/more'] } },
        },
        merge,
      ),
      422,
      'Invalid',
      /no new finalizers can be added if the object is being deleted/,
    );
    await a.custom.patchNamespacedCustomObject(
      { ...gsApi, name: 'fin', body: { metadata: { finalizers: null } } },
      merge,
    );
    expect(await exists(() => a.custom.getNamespacedCustomObject({ ...gsApi, name: 'fin' }))).toBe(false);
  });
});

describe('garbage collection', () => {
  const gsApi = { group: 'agones.dev', version: 'v1', namespace: 'life', plural: 'gameservers' };

  async function gameServerWithPod(name: string) {
    const gs: any = await a.custom.createNamespacedCustomObject({
      ...gsApi,
      body: { apiVersion: 'agones.dev/v1', kind: 'GameServer', metadata: { name }, spec: {} },
    });
    const owner = {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      name,
      uid: gs.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    };
    await a.core.createNamespacedPod({
      namespace: 'life',
      body: pod(name, { ownerReferences: [owner] }) as any,
    });
    return gs;
  }

  it('deletes dependents in the background once the owner is gone', async () => {
    await gameServerWithPod('gc-bg');
    await a.custom.deleteNamespacedCustomObject({ ...gsApi, name: 'gc-bg' });
    await eventually(
      async () => !(await exists(() => a.core.readNamespacedPod({ name: 'gc-bg', namespace: 'life' }))),
      5000,
      'pod collected',
    );
  });

  it('orphans dependents with propagationPolicy=Orphan', async () => {
    await gameServerWithPod('gc-orphan');
    await a.custom.deleteNamespacedCustomObject({ ...gsApi, name: 'gc-orphan', propagationPolicy: 'Orphan' });
    await eventually(
      async () => !(await exists(() => a.custom.getNamespacedCustomObject({ ...gsApi, name: 'gc-orphan' }))),
      5000,
      'owner gone',
    );
    await emu.gcIdle();
    const p = await a.core.readNamespacedPod({ name: 'gc-orphan', namespace: 'life' });
    expect(p.metadata!.ownerReferences ?? []).toEqual([]);
  });

  it('deletes dependents first with propagationPolicy=Foreground', async () => {
    await gameServerWithPod('gc-fg');
    const owner: any = await a.custom.deleteNamespacedCustomObject({
      ...gsApi,
      name: 'gc-fg',
      propagationPolicy: 'Foreground',
    });
    expect(
      owner.metadata?.finalizers ??
        ((await a.custom.getNamespacedCustomObject({ ...gsApi, name: 'gc-fg' })) as any).metadata.finalizers,
    ).toContain('foregroundDeletion');
    await eventually(
      async () => !(await exists(() => a.custom.getNamespacedCustomObject({ ...gsApi, name: 'gc-fg' }))),
      5000,
      'owner gone',
    );
    expect(await exists(() => a.core.readNamespacedPod({ name: 'gc-fg', namespace: 'life' }))).toBe(false);
  });

  it('collects a dependent created after its owner was deleted', async () => {
    const ghost = {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      name: 'ghost',
      uid: '00000000-0000-0000-0000-000000000000',
      controller: true,
    };
    await a.core.createNamespacedConfigMap({
      namespace: 'life',
      body: { metadata: { name: 'orphaned', ownerReferences: [ghost] } },
    });
    await eventually(
      async () =>
        !(await exists(() => a.core.readNamespacedConfigMap({ name: 'orphaned', namespace: 'life' }))),
      5000,
      'dependent collected',
    );
  });
});

describe('namespaces', () => {
  it('empties a deleted namespace and then removes it; protected namespaces cannot be deleted', async () => {
    await a.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await a.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c' } } });
    await a.core.createNamespacedPod({
      namespace: 'doomed',
      body: pod('on-node', { nodeName: 'life-1' }) as any,
    });
    const terminating: any = await a.core.deleteNamespace({ name: 'doomed' });
    expect(terminating.status?.phase).toBe('Terminating');
    await expectStatus(
      a.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }),
      403,
      'Forbidden',
      'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated',
    );
    // The pod on a node waits for its kubelet; the namespace waits for the pod.
    await eventually(
      async () =>
        (await a.core.readNamespacedPod({ name: 'on-node', namespace: 'doomed' })).metadata!
          .deletionTimestamp,
      5000,
      'pod terminating',
    );
    expect((await a.core.readNamespace({ name: 'doomed' })).status!.phase).toBe('Terminating');
    await a.core.deleteNamespacedPod({ name: 'on-node', namespace: 'doomed', gracePeriodSeconds: 0 });
    await eventually(
      async () => !(await exists(() => a.core.readNamespace({ name: 'doomed' }))),
      5000,
      'namespace removed',
    );
    await expectStatus(
      a.core.deleteNamespace({ name: 'kube-system' }),
      403,
      'Forbidden',
      'namespaces "kube-system" is forbidden: this namespace may not be deleted',
    );
  });
});

describe('eviction', () => {
  beforeAll(async () => {
    await a.core.createNamespace({ body: { metadata: { name: 'evict' } } });
    await a.policy.createNamespacedPodDisruptionBudget({
      namespace: 'evict',
      body: {
        metadata: { name: 'gs-pdb' },
        spec: { maxUnavailable: '0%', selector: { matchLabels: { 'agones.dev/safe-to-evict': 'false' } } },
      },
    });
    await a.policy.createNamespacedPodDisruptionBudget({
      namespace: 'evict',
      body: {
        metadata: { name: 'web-pdb' },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
      },
    });
  });
  const evict = (name: string, deleteOptions?: any) =>
    a.core.createNamespacedPodEviction({
      name,
      namespace: 'evict',
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name, namespace: 'evict' },
        ...(deleteOptions ? { deleteOptions } : {}),
      },
    });

  it('refuses with 429 when the budget allows no disruption', async () => {
    await runningReadyPod('gs-pod', { 'agones.dev/safe-to-evict': 'false' }, 'evict');
    const { code, status } = await failure(evict('gs-pod'));
    expect(code).toBe(429);
    expect(status).toMatchObject({
      reason: 'TooManyRequests',
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      details: {
        causes: [
          {
            reason: 'DisruptionBudget',
            message: 'The disruption budget gs-pdb needs 1 healthy pods and has 1 currently',
          },
        ],
      },
    });
    expect(
      (await a.core.readNamespacedPod({ name: 'gs-pod', namespace: 'evict' })).metadata!.deletionTimestamp,
    ).toBeUndefined();
  });

  it('evicts when the budget allows, honouring dryRun, and deletes the pod gracefully', async () => {
    await runningReadyPod('web-1', { app: 'web' }, 'evict');
    await runningReadyPod('web-2', { app: 'web' }, 'evict');
    await evict('web-1', { dryRun: ['All'] });
    expect(
      (await a.core.readNamespacedPod({ name: 'web-1', namespace: 'evict' })).metadata!.deletionTimestamp,
    ).toBeUndefined();
    await evict('web-1');
    expect(
      (await a.core.readNamespacedPod({ name: 'web-1', namespace: 'evict' })).metadata!.deletionTimestamp,
    ).toBeInstanceOf(Date);
    // web-1 is terminating, so web-2 is the only healthy pod left: minAvailable 1 forbids evicting it.
    await expectStatus(evict('web-2'), 429, 'TooManyRequests');
    // Evicting a pod that is already terminating needs no budget.
    await evict('web-1');
  });

  it('evicts pods that match no budget, and 404s an unknown pod', async () => {
    await runningReadyPod('free', { app: 'free' }, 'evict');
    await evict('free');
    expect(
      (await a.core.readNamespacedPod({ name: 'free', namespace: 'evict' })).metadata!.deletionTimestamp,
    ).toBeInstanceOf(Date);
    await expectStatus(evict('nobody'), 404, 'NotFound', 'pods "nobody" not found');
  });
});

describe('binding', () => {
  it('binds a pod to a node once', async () => {
    await a.core.createNamespacedPod({ namespace: 'life', body: pod('to-bind') as any });
    await a.core.createNamespacedPodBinding({
      name: 'to-bind',
      namespace: 'life',
      body: { metadata: { name: 'to-bind' }, target: { kind: 'Node', name: 'life-1' } },
    });
    const p = await a.core.readNamespacedPod({ name: 'to-bind', namespace: 'life' });
    expect(p.spec!.nodeName).toBe('life-1');
    expect(p.status!.conditions!.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    await expectStatus(
      a.core.createNamespacedPodBinding({
        name: 'to-bind',
        namespace: 'life',
        body: { metadata: { name: 'to-bind' }, target: { kind: 'Node', name: 'life-1' } },
      }),
      409,
      'Conflict',
      /pod to-bind is already assigned to node "life-1"/,
    );
  });
});
