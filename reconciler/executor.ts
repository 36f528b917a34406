// Runs the steps of a decision (plan.ts) against Kubernetes and FleetIQ and says how it went. No
// policy: what to do comes from decide(), when to try again from the reconcile loop.
//
// A step either succeeds, fails, or finds that someone else wrote first ('changed': a precondition
// failed, a 409 or 422). A changed object is read again (or marked for a re-read) so that the next
// decision is made on what is there now. Every object a write returns goes back into the observer's
// cache, so the next pass decides on the agent's own write rather than on an older watch event.
import type { Action } from './decide.js';
import { type AgentKubeApi } from './kube-api.js';
import { KubeApiError, statusCode } from '../shared/kube-error.js';
import { podToleratesDrain } from '../shared/drain-contract.js';
import { type KubeObjectLike } from '../shared/kube-object.js';
import { mapLimit } from '../shared/timeout.js';
import { drainTolerationPatch } from '../shared/drain-contract.js';
import {
  nodeMergePatch,
  shutdownPatch,
  type DeletePodAction,
  type EventAction,
  type FenceAction,
  type NodeAction,
  type Step,
} from './plan.js';

export type StepResult =
  { result: 'ok' } | { result: 'changed'; why: string } | { result: 'failed'; action: Action; error: Error };

/** The objects the executor reads and writes back (the observer's caches). */
export interface ObjectCache {
  pod(key: string): KubeObjectLike | undefined;
  gameServer(key: string): KubeObjectLike | null | undefined;
  noteGameServer(key: string, obj: KubeObjectLike | null): void;
  invalidateGameServer(key: string): void;
  noteNodeWrite(node: KubeObjectLike): void;
  notePodWrite(pod: KubeObjectLike): void;
}

export interface ExecutorOptions {
  nodeName: string;
  api: AgentKubeApi;
  cache: ObjectCache;
  /** DeregisterGameServer (the membership's queue, so it never interleaves with a health report). */
  deregister: () => Promise<void>;
  /** Emits an Event of a step that succeeded. */
  emit: (e: EventAction) => void;
  /** Independent object writes (fence, deletions) in flight at once. */
  concurrency: number;
  /** Each action's result, for metrics and stats (n: how many actions). */
  onAction: (kind: string, result: 'ok' | 'changed' | 'failed', n?: number) => void;
  /** A drain step's write of the Node succeeded: the Node as decided on, and as written. */
  onNodeWritten?: (before: KubeObjectLike, after: KubeObjectLike) => void;
  onApiError: (operation: string, err: unknown) => void;
  onFleetIQError: (operation: string, err: unknown) => void;
}

export class Executor {
  constructor(private readonly o: ExecutorOptions) {}

  /** Runs the steps in order on `node` as observed, stopping at the first that does not succeed. */
  async run(steps: readonly Step[], observedNode: KubeObjectLike): Promise<StepResult> {
    let node = observedNode;
    for (const step of steps) {
      let r: StepResult;
      switch (step.kind) {
        case 'patchNode': {
          const out = await this.patchNode(node, step.actions);
          r = out.result;
          if (out.node) node = out.node;
          break;
        }
        case 'fence':
          r = await this.batch(step.actions, (a) => this.fence(a));
          break;
        case 'deletePods':
          r = await this.batch(step.actions, (a) => this.deletePod(a));
          break;
        case 'deregister':
          r = await this.deregister(step.actions[0]);
          break;
        case 'none':
          r = { result: 'ok' };
          break;
      }
      if (r.result !== 'ok') return r;
      for (const e of step.events) this.o.emit(e);
    }
    return { result: 'ok' };
  }

  /**
   * Writes annotations the agent alone owns and decides nothing on (what FleetIQ last said), without
   * a precondition. Returns the error when it failed.
   */
  async annotateNode(annotations: Record<string, string | null>, kind: string): Promise<unknown> {
    try {
      this.o.cache.noteNodeWrite(await this.o.api.patchNode(this.o.nodeName, { metadata: { annotations } }));
      this.o.onAction(kind, 'ok');
      return undefined;
    } catch (err) {
      this.o.onApiError('patchNode', err);
      this.o.onAction(kind, 'failed');
      return err ?? new Error('patch failed');
    }
  }

  private async patchNode(
    node: KubeObjectLike,
    actions: NodeAction[],
  ): Promise<{ result: StepResult; node?: KubeObjectLike }> {
    const body = nodeMergePatch(node, actions);
    try {
      const updated = await this.o.api.patchNode(this.o.nodeName, body);
      this.o.cache.noteNodeWrite(updated);
      this.o.onNodeWritten?.(node, updated);
      for (const a of actions) this.o.onAction(a.kind, 'ok');
      return { result: { result: 'ok' }, node: updated };
    } catch (err) {
      this.o.onApiError('patchNode', err);
      if (statusCode(err) === 409) {
        for (const a of actions) this.o.onAction(a.kind, 'changed');
        await this.refreshNode();
        return { result: { result: 'changed', why: 'the Node changed since it was read' } };
      }
      for (const a of actions) this.o.onAction(a.kind, 'failed');
      return { result: { result: 'failed', action: mostSignificant(actions), error: err as Error } };
    }
  }

  private async refreshNode(): Promise<void> {
    try {
      this.o.cache.noteNodeWrite(await this.o.api.getNode(this.o.nodeName));
    } catch (err) {
      this.o.onApiError('getNode', err);
    }
  }

  /** Runs independent object actions concurrently; the first failure wins, then any change. */
  private async batch<A extends FenceAction | DeletePodAction>(
    actions: A[],
    run: (a: A) => Promise<StepResult>,
  ): Promise<StepResult> {
    const results: StepResult[] = [];
    await mapLimit(actions, this.o.concurrency, async (a) => {
      results.push(await run(a));
    });
    return (
      results.find((r) => r.result === 'failed') ??
      results.find((r) => r.result === 'changed') ?? { result: 'ok' }
    );
  }

  private async fence(a: FenceAction): Promise<StepResult> {
    if (a.kind === 'shutdownGameServer') return this.shutdown(a);
    const key = `${a.namespace}/${a.pod}`;
    const pod = this.o.cache.pod(key);
    if (!pod) return { result: 'changed', why: `pod ${key} is gone` };
    if (podToleratesDrain(pod)) {
      this.o.onAction(a.kind, 'ok');
      return { result: 'ok' };
    }
    try {
      this.o.cache.notePodWrite(await this.o.api.patchPod(a.namespace, a.pod, drainTolerationPatch(pod)));
      this.o.onAction(a.kind, 'ok');
      return { result: 'ok' };
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) {
        this.o.onAction(a.kind, 'ok');
        return { result: 'ok' };
      }
      if (code === 409 || code === 422) {
        this.o.onAction(a.kind, 'changed');
        try {
          const fresh = await this.o.api.getPod(a.namespace, a.pod);
          if (fresh) this.o.cache.notePodWrite(fresh);
        } catch (e) {
          this.o.onApiError('getPod', e);
        }
        return { result: 'changed', why: `pod ${key} changed since it was read` };
      }
      this.o.onApiError('patchPod', err);
      this.o.onAction(a.kind, 'failed');
      return { result: 'failed', action: a, error: err as Error };
    }
  }

  private async shutdown(a: Extract<FenceAction, { kind: 'shutdownGameServer' }>): Promise<StepResult> {
    const key = `${a.namespace}/${a.name}`;
    try {
      const updated = await this.o.api.patchGameServer(
        a.namespace,
        a.name,
        shutdownPatch(this.o.cache.gameServer(key) ?? undefined, {
          resourceVersion: a.resourceVersion,
          state: a.state,
        }),
      );
      this.o.cache.noteGameServer(key, updated);
      this.o.onAction(a.kind, 'ok');
      return { result: 'ok' };
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) {
        this.o.cache.noteGameServer(key, null);
        this.o.onAction(a.kind, 'ok');
        return { result: 'ok' };
      }
      if (code === 409 || code === 422) {
        // Agones (an allocation, a health check) wrote first: read it again and decide again.
        this.o.cache.invalidateGameServer(key);
        this.o.onAction(a.kind, 'changed');
        return { result: 'changed', why: `GameServer ${key} changed since it was read` };
      }
      this.o.onApiError('patchGameServer', err);
      this.o.onAction(a.kind, 'failed');
      return { result: 'failed', action: a, error: err as Error };
    }
  }

  private async deletePod(a: DeletePodAction): Promise<StepResult> {
    try {
      const pod = await this.o.api.deletePod(a.namespace, a.name, a.graceSeconds);
      if (pod?.metadata?.deletionTimestamp) this.o.cache.notePodWrite(pod);
      this.o.onAction(a.kind, 'ok');
      return { result: 'ok' };
    } catch (err) {
      this.o.onApiError('deletePod', err);
      this.o.onAction(a.kind, 'failed');
      return { result: 'failed', action: a, error: err as Error };
    }
  }

  private async deregister(a: Action): Promise<StepResult> {
    try {
      await this.o.deregister();
      this.o.onAction('deregister', 'ok');
      return { result: 'ok' };
    } catch (err) {
      this.o.onFleetIQError('deregister', err);
      this.o.onAction('deregister', 'failed');
      return { result: 'failed', action: a, error: err as Error };
    }
  }
}

/** The action a failed merged patch is reported as (its Event reason): the taint matters most. */
function mostSignificant<A extends Action>(actions: A[]): A {
  const order = ['taint', 'untaint', 'cordon', 'uncordon', 'label', 'recordDrainState', 'recordActedOn'];
  return [...actions].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))[0];
}

/** The Kubernetes error's code for metrics (`error` when it is not an API answer). */
export function kubeErrorCode(err: unknown): string {
  return err instanceof KubeApiError ? String(err.code || err.reason) : 'error';
}
