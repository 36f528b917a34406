// What the cluster simulation needs from the Kubernetes API server emulator: in-process clients
// (through the full request pipeline) and a way to answer create on a resource that is not stored.

import type { KubeObject, LocalClient, ResourceRef, UserInfo } from '../kube/types.js';

export type CreateHook = (ref: ResourceRef, body: KubeObject, user: UserInfo) => Promise<KubeObject>;

/** The part of KubeEmulator (sandbox/kube/emulator.ts) the simulation uses. */
export interface ClusterHost {
  client(user?: UserInfo): LocalClient;
  /** What create of a GameServerAllocation does. */
  setAllocationHandler(hook: CreateHook | undefined): void;
}

export const CORE = { group: '', version: 'v1' } as const;
export const PODS: ResourceRef = { ...CORE, resource: 'pods' };
export const NODES: ResourceRef = { ...CORE, resource: 'nodes' };
export const EVENTS: ResourceRef = { ...CORE, resource: 'events' };
export const GAMESERVERS: ResourceRef = { group: 'agones.dev', version: 'v1', resource: 'gameservers' };
export const GAMESERVERSETS: ResourceRef = { group: 'agones.dev', version: 'v1', resource: 'gameserversets' };
export const FLEETS: ResourceRef = { group: 'agones.dev', version: 'v1', resource: 'fleets' };
export const GAMESERVERALLOCATIONS: ResourceRef = {
  group: 'allocation.agones.dev',
  version: 'v1',
  resource: 'gameserverallocations',
};

export function named(
  ref: ResourceRef,
  namespace: string | undefined,
  name: string,
  subresource?: string,
): ResourceRef {
  return { ...ref, ...(namespace ? { namespace } : {}), name, ...(subresource ? { subresource } : {}) };
}

export function isApiErrorCode(err: unknown, code: number): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
