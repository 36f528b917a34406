// The garbage collector and namespace controller of the emulated control plane. Level-triggered:
// every task re-reads the current state, so a task run twice (or late) does the right thing.
// - Owners gone: dependents whose owners are all gone are deleted; dangling references are dropped.
// - `orphan` finalizer: the owner's references are removed from its dependents, then the finalizer.
// - `foregroundDeletion` finalizer: dependents are deleted; once no dependent blocking owner
//   deletion is left, the finalizer goes (and with it the owner).
// - A deleted namespace is emptied, then its `kubernetes` finalizer is removed.
// It acts through the pipeline like any controller, as its own identity.
import type { Logger } from 'pino';
import { ApiError } from './errors.js';
import type { Pipeline } from './pipeline.js';
import type { ObjectStore, StoreEvent } from './store.js';
import type { KubeObject, ResourceRef, UserInfo } from './types.js';

export const GC_USER: UserInfo = {
  username: 'system:serviceaccount:kube-system:generic-garbage-collector',
  // The real controller's ClusterRole allows everything; membership of system:masters stands for it.
  groups: [
    'system:serviceaccounts',
    'system:serviceaccounts:kube-system',
    'system:authenticated',
    'system:masters',
  ],
};

type Task =
  | { kind: 'owner'; uid: string }
  | { kind: 'dependent'; collection: string; key: string }
  | { kind: 'namespace'; name: string };

const taskId = (t: Task) =>
  t.kind === 'owner' ? `o:${t.uid}` : t.kind === 'dependent' ? `d:${t.collection}|${t.key}` : `n:${t.name}`;

export class GarbageCollector {
  private readonly queue = new Map<string, Task>();
  private running = false;
  private stopped = false;
  private readonly terminatingNamespaces = new Set<string>();
  /** Resolves when the queue is empty (for tests and shutdown). */
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly pipeline: Pipeline,
    private readonly store: ObjectStore,
    private readonly logger: Logger,
  ) {
    store.onCommit((collection, ev) => this.observe(collection, ev));
  }

  private observe(collection: string, ev: StoreEvent): void {
    if (this.stopped) return;
    const obj = ev.cur.obj;
    const m = obj.metadata;
    if (ev.type === 'DELETED') {
      if (collection === '/namespaces') this.terminatingNamespaces.delete(m.name!);
      if (m.uid && this.store.dependents(m.uid).length > 0) this.enqueue({ kind: 'owner', uid: m.uid });
      for (const o of m.ownerReferences ?? []) {
        const loc = this.store.locateUid(o.uid);
        if (loc && this.store.get(loc.collection, loc.key)?.obj.metadata.deletionTimestamp)
          this.enqueue({ kind: 'owner', uid: o.uid });
      }
      if (m.namespace && this.terminatingNamespaces.has(m.namespace))
        this.enqueue({ kind: 'namespace', name: m.namespace });
      return;
    }
    if (m.deletionTimestamp) {
      const f = m.finalizers ?? [];
      if (m.uid && (f.includes('orphan') || f.includes('foregroundDeletion')))
        this.enqueue({ kind: 'owner', uid: m.uid });
      if (collection === '/namespaces') {
        this.terminatingNamespaces.add(m.name!);
        this.enqueue({ kind: 'namespace', name: m.name! });
      }
    }
    if (ev.type === 'ADDED' && (m.ownerReferences ?? []).length > 0)
      this.enqueue({ kind: 'dependent', collection, key: ev.key });
  }

  private enqueue(t: Task): void {
    this.queue.set(taskId(t), t);
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.size > 0 && !this.stopped) {
      const [id, task] = this.queue.entries().next().value as [string, Task];
      this.queue.delete(id);
      try {
        await this.process(task);
      } catch (err) {
        if (err instanceof ApiError && (err.code === 409 || err.code === 404)) {
          // Lost a race with another writer: the state changed, look again.
          if (err.code === 409) this.queue.set(id, task);
        } else {
          this.logger.warn({ err, task }, 'garbage collector task failed');
        }
      }
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once every queued task has run. */
  idle(): Promise<void> {
    if (!this.running && this.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
  }

  private refOf(collection: string, key: string): ResourceRef | undefined {
    const slash = collection.indexOf('/');
    const rt = this.pipeline.registry.byGroupResource(
      collection.slice(0, slash),
      collection.slice(slash + 1),
    );
    if (!rt) return undefined;
    const parts = key.split('/');
    return rt.namespaced
      ? { group: rt.group, version: rt.version, resource: rt.plural, namespace: parts[0], name: parts[1] }
      : { group: rt.group, version: rt.version, resource: rt.plural, name: key };
  }

  private async process(t: Task): Promise<void> {
    if (t.kind === 'owner') return this.processOwner(t.uid);
    if (t.kind === 'dependent') return this.processDependent(t.collection, t.key);
    return this.processNamespace(t.name);
  }

  /** A new dependent whose owners are all absent is garbage already (the owner went first). */
  private async processDependent(collection: string, key: string): Promise<void> {
    const s = this.store.get(collection, key);
    if (!s || s.obj.metadata.deletionTimestamp) return;
    const owners = s.obj.metadata.ownerReferences ?? [];
    if (owners.length === 0 || owners.some((o) => this.store.locateUid(o.uid))) return;
    const ref = this.refOf(collection, key);
    if (ref) await this.pipeline.delete(GC_USER, ref, { propagationPolicy: 'Background' });
  }

  private async processOwner(uid: string): Promise<void> {
    const loc = this.store.locateUid(uid);
    const dependents = this.store.dependents(uid);
    if (!loc) {
      for (const d of dependents) {
        const s = this.store.get(d.collection, d.key);
        const ref = this.refOf(d.collection, d.key);
        if (!s || !ref) continue;
        const owners = s.obj.metadata.ownerReferences ?? [];
        const alive = owners.filter((o) => this.store.locateUid(o.uid));
        if (alive.length === 0) {
          if (!s.obj.metadata.deletionTimestamp)
            await this.pipeline.delete(GC_USER, ref, { propagationPolicy: 'Background' });
        } else {
          await this.setOwnerReferences(ref, s.obj, alive);
        }
      }
      return;
    }
    const owner = this.store.get(loc.collection, loc.key)?.obj;
    if (!owner?.metadata.deletionTimestamp) return;
    const ownerRef = this.refOf(loc.collection, loc.key)!;
    const finalizers = owner.metadata.finalizers ?? [];
    if (finalizers.includes('orphan')) {
      for (const d of dependents) {
        const s = this.store.get(d.collection, d.key);
        const ref = this.refOf(d.collection, d.key);
        if (!s || !ref) continue;
        await this.setOwnerReferences(
          ref,
          s.obj,
          (s.obj.metadata.ownerReferences ?? []).filter((o) => o.uid !== uid),
        );
      }
      await this.removeFinalizer(ownerRef, 'orphan');
      return;
    }
    if (finalizers.includes('foregroundDeletion')) {
      let blocking = 0;
      for (const d of dependents) {
        const s = this.store.get(d.collection, d.key);
        const ref = this.refOf(d.collection, d.key);
        if (!s || !ref) continue;
        const refToOwner = (s.obj.metadata.ownerReferences ?? []).find((o) => o.uid === uid);
        if (refToOwner?.blockOwnerDeletion) blocking++;
        if (!s.obj.metadata.deletionTimestamp) {
          const hasOwnDependents = s.obj.metadata.uid && this.store.dependents(s.obj.metadata.uid).length > 0;
          await this.pipeline.delete(GC_USER, ref, {
            propagationPolicy: hasOwnDependents ? 'Foreground' : 'Background',
          });
        }
      }
      if (blocking === 0) await this.removeFinalizer(ownerRef, 'foregroundDeletion');
    }
  }

  private async setOwnerReferences(
    ref: ResourceRef,
    obj: KubeObject,
    refs: KubeObject['metadata']['ownerReferences'],
  ): Promise<void> {
    await this.pipeline.patch(GC_USER, ref, 'merge', {
      metadata: {
        ownerReferences: refs && refs.length > 0 ? refs : null,
        resourceVersion: obj.metadata.resourceVersion,
      },
    });
  }

  private async removeFinalizer(ref: ResourceRef, finalizer: string): Promise<void> {
    const current = (await this.pipeline.get(GC_USER, ref)).value.obj;
    const remaining = (current.metadata.finalizers ?? []).filter((f: string) => f !== finalizer);
    await this.pipeline.patch(GC_USER, ref, 'merge', {
      metadata: {
        finalizers: remaining.length > 0 ? remaining : null,
        resourceVersion: current.metadata.resourceVersion,
      },
    });
  }

  /** Empties a terminating namespace, then lets it go by removing the `kubernetes` finalizer. */
  private async processNamespace(name: string): Promise<void> {
    const ns = this.store.get('/namespaces', name)?.obj;
    if (!ns) {
      this.terminatingNamespaces.delete(name);
      return;
    }
    if (!ns.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const rt of this.pipeline.registry.stored()) {
      if (!rt.namespaced) continue;
      const items = this.pipeline.reader().list(rt.group, rt.plural, name);
      for (const obj of items) {
        remaining++;
        if (obj.metadata.deletionTimestamp) continue;
        await this.pipeline.delete(
          GC_USER,
          {
            group: rt.group,
            version: rt.version,
            resource: rt.plural,
            namespace: name,
            name: obj.metadata.name,
          },
          { propagationPolicy: 'Background' },
        );
      }
    }
    if (remaining > 0) return; // the DELETED events of what is left bring us back here
    const ref: ResourceRef = { group: '', version: 'v1', resource: 'namespaces', name };
    await this.pipeline.update(
      GC_USER,
      { ...ref, subresource: 'finalize' },
      {
        ...ns,
        spec: {
          ...(ns.spec ?? {}),
          finalizers: (ns.spec?.finalizers ?? []).filter((f: string) => f !== 'kubernetes'),
        },
      },
    );
  }
}
