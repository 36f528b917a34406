// Every Kubernetes request the agent makes, through shared/kube-client (plain JSON over node:https,
// on the connection pool its watches share), with errors reduced to the API server's Status (code,
// reason, message) so the agent can tell "it changed under me" (409, 422) and "it is gone" (404)
// from a real failure.
//
// RBAC these calls need (see README.md): nodes get/list/watch/patch; pods list/watch/get/patch/delete;
// agones.dev gameservers get/patch; events create.
import { kubeClientFor, PATCH_CONTENT_TYPE, type KubeClientConfig } from '../shared/kube-client/client.js';
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

const GAMESERVERS = '/apis/agones.dev/v1/namespaces';
const enc = encodeURIComponent;
const podPath = (namespace: string, name: string) => `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`;
const gameServerPath = (namespace: string, name: string) =>
  `${GAMESERVERS}/${enc(namespace)}/gameservers/${enc(name)}`;

interface List {
  items?: KubeObjectLike[] | null;
  metadata?: { resourceVersion?: string };
}
const listResult = (l: List): ListResult => ({
  items: l.items ?? [],
  resourceVersion: l.metadata?.resourceVersion ?? '',
});

/** The agent's calls on `kc` (client-node's KubeConfig or shared/kube-client's configuration). */
export function restKubeApi(kc: KubeClientConfig): AgentKubeApi {
  const client = kubeClientFor(kc);
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
  const req = <T>(operation: string, r: Parameters<typeof client.request>[1]) =>
    call(operation, () => client.request<T>(operation, r));
  return {
    calls,
    listNodes: (fieldSelector) =>
      req<List>('listNodes', { method: 'GET', path: '/api/v1/nodes', query: { fieldSelector } }).then(
        listResult,
      ),
    listPods: (fieldSelector, labelSelector) =>
      req<List>('listPods', {
        method: 'GET',
        path: '/api/v1/pods',
        query: { fieldSelector, labelSelector },
      }).then(listResult),
    getNode: (name) => req('getNode', { method: 'GET', path: `/api/v1/nodes/${enc(name)}` }),
    patchNode: (name, body) =>
      req('patchNode', {
        method: 'PATCH',
        path: `/api/v1/nodes/${enc(name)}`,
        body,
        contentType: PATCH_CONTENT_TYPE.merge,
      }),
    getGameServer: (namespace, name) =>
      orNull(req<KubeObjectLike>('getGameServer', { method: 'GET', path: gameServerPath(namespace, name) })),
    patchGameServer: (namespace, name, ops) =>
      req('patchGameServer', {
        method: 'PATCH',
        path: gameServerPath(namespace, name),
        body: ops,
        contentType: PATCH_CONTENT_TYPE.json,
      }),
    getPod: (namespace, name) =>
      orNull(req<KubeObjectLike>('getPod', { method: 'GET', path: podPath(namespace, name) })),
    patchPod: (namespace, name, ops) =>
      req('patchPod', {
        method: 'PATCH',
        path: podPath(namespace, name),
        body: ops,
        contentType: PATCH_CONTENT_TYPE.json,
      }),
    deletePod: (namespace, name, graceSeconds) =>
      orNull(
        req<KubeObjectLike>('deletePod', {
          method: 'DELETE',
          path: podPath(namespace, name),
          query: { gracePeriodSeconds: graceSeconds },
        }),
      ),
    createEvent: (namespace, event) =>
      call('createEvent', async () => {
        await client.request('createEvent', {
          method: 'POST',
          path: `/api/v1/namespaces/${enc(namespace)}/events`,
          body: event,
        });
      }),
  };
}
