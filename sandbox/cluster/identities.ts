// Who each simulated controller is to the API server. The usernames are the real ones, so the
// request log and RBAC audit read like a real cluster's; every identity is also in system:masters
// so the emulator's RBAC lets the simulated control plane do its job without a bootstrap policy.

import type { UserInfo } from '../kube/types.js';

function identity(username: string, groups: string[] = []): UserInfo {
  return { username, groups: [...groups, 'system:masters', 'system:authenticated'] };
}

function serviceAccount(namespace: string, name: string): UserInfo {
  return identity(`system:serviceaccount:${namespace}:${name}`, [
    'system:serviceaccounts',
    `system:serviceaccounts:${namespace}`,
  ]);
}

export const SCHEDULER = identity('system:kube-scheduler');
export const NODE_CONTROLLER = serviceAccount('kube-system', 'node-controller');
export const POD_GC = serviceAccount('kube-system', 'pod-garbage-collector');
export const CLOUD_NODE_LIFECYCLE = serviceAccount('kube-system', 'cloud-node-lifecycle-controller');
export const AGONES_CONTROLLER = serviceAccount('agones-system', 'agones-controller');

/** The kubelet of one node. */
export function kubelet(nodeName: string): UserInfo {
  return identity(`system:node:${nodeName}`, ['system:nodes']);
}

/** The SDK sidecar of a game server pod (its service account). */
export function sdkSidecar(namespace: string): UserInfo {
  return serviceAccount(namespace, 'agones-sdk');
}

/** A game client's matchmaker asking for allocations. */
export const MATCHMAKER = serviceAccount('default', 'matchmaker');
