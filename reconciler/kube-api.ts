// Every Kubernetes request the agent makes, through @kubernetes/client-node, with errors reduced to the
// API server's Status (code, reason, message) so the agent can tell "it changed under me" (409, 422)
// and "it is gone" (404) from a real failure.
//
// RBAC these calls need (see README.md): nodes get/list/watch/patch; pods list/watch/get/patch/delete;
// agones.dev gameservers get/patch; events create.
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { statusCode, toKubeApiError } from '../shared/kube-error.js';
import type { KubeObjectLike } from '../shared/kube-object.js';
import type { ListResult } from '../shared/scoped-informer.js';

// The one Kubernetes error type (shared with the webhook and certs); re-exported for the agent's modules.

export interface AgentKubeApi {
  listNodes(fieldSelector: string): Promise<ListResult>;
  listPods(fieldSelector: string, labelSelector: string): Promise<ListResult>;
  getNode(name: string): Promise<KubeObjectLike>;
  /** A merge patch (see plan.ts nodeMergePatch). */
  patchNode(name: string, body: object): Promise<KubeObjectLike>;
  /** null when the GameServer does not exist. */
  getGameServer(namespace: string, name: string): Promise<KubeObjectLike | null>;
  /** A JSON Patch. */
  patchGameServer(namespace: string, name: string, ops: object[]): Promise<KubeObjectLike>;
  getPod(namespace: string, name: string): Promise<KubeObjectLike | null>;
  /** A JSON Patch. */
  patchPod(namespace: string, name: string, ops: object[]): Promise<KubeObjectLike>;
  /** The pod as it is after the request; null when it was already gone. */
  deletePod(namespace: string, name: string, graceSeconds: number): Promise<KubeObjectLike | null>;
  createEvent(namespace: string, event: object): Promise<void>;
  /** Requests made so far, by operation (for metrics and the benchmark). */
  readonly calls: Record<string, number>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/** client-node's typed models turned back into the wire form (dates as strings, no class instances). */
const plain = <T>(x: unknown): T => JSON.parse(JSON.stringify(x)) as T;

const GS = { group: 'agones.dev', version: 'v1', plural: 'gameservers' } as const;

export function clientNodeKubeApi(kc: KubeConfig): AgentKubeApi {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const calls: Record<string, number> = {};
  const call = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    calls[operation] = (calls[operation] ?? 0) + 1;
    try {
      return await fn();
    } catch (err) {
      throw toKubeApiError(operation, err);
    }
  };
  const orNull = async <T>(p: Promise<T>): Promise<T | null> => {
    try {
      return await p;
    } catch (err) {
      if (statusCode(err) === 404) return null;
      throw err;
    }
  };
  return {
    calls,
    listNodes: (fieldSelector) =>
      call('listNodes', async () => {
        const l = await core.listNode({ fieldSelector });
        return { items: plain(l.items), resourceVersion: l.metadata?.resourceVersion ?? '' };
      }),
    listPods: (fieldSelector, labelSelector) =>
      call('listPods', async () => {
        const l = await core.listPodForAllNamespaces({ fieldSelector, labelSelector });
        return { items: plain(l.items), resourceVersion: l.metadata?.resourceVersion ?? '' };
      }),
    getNode: (name) => call('getNode', async () => plain(await core.readNode({ name }))),
    patchNode: (name, body) =>
      call('patchNode', async () => plain(await core.patchNode({ name, body }, mergePatch))),
    getGameServer: (namespace, name) =>
      orNull(
        call('getGameServer', async () =>
          plain<KubeObjectLike>(await custom.getNamespacedCustomObject({ ...GS, namespace, name })),
        ),
      ),
    patchGameServer: (namespace, name, ops) =>
      call('patchGameServer', async () =>
        plain(await custom.patchNamespacedCustomObject({ ...GS, namespace, name, body: ops }, jsonPatch)),
      ),
    getPod: (namespace, name) =>
      orNull(
        call('getPod', async () => plain<KubeObjectLike>(await core.readNamespacedPod({ namespace, name }))),
      ),
    patchPod: (namespace, name, ops) =>
      call('patchPod', async () =>
        plain(await core.patchNamespacedPod({ namespace, name, body: ops }, jsonPatch)),
      ),
    deletePod: (namespace, name, graceSeconds) =>
      orNull(
        call('deletePod', async () =>
          plain<KubeObjectLike>(
            await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: graceSeconds }),
          ),
        ),
      ),
    createEvent: (namespace, event) =>
      call('createEvent', async () => {
        await core.createNamespacedEvent({ namespace, body: event as never });
      }),
  };
}
