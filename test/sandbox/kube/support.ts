// Shared by the emulator's tests: start an emulator, get client-node APIs for an identity,
// and assert on the Status a request failed with.
import * as k8s from '@kubernetes/client-node';
import { expect } from '@jest/globals';
import {
  startKubeEmulator,
  type KubeEmulator,
  type KubeEmulatorOptions,
} from '../../../sandbox/kube/emulator.js';
import type { UserInfo } from '../../../sandbox/kube/types.js';
import { waitFor } from '../../helpers/wait.js';

export async function startEmulator(options: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  return startKubeEmulator({ authorization: 'allow-all', ...options });
}

export function kubeConfigFor(emu: KubeEmulator, user?: UserInfo): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(emu.kubeconfig(user));
  return kc;
}

export function apis(emu: KubeEmulator, user?: UserInfo) {
  const kc = kubeConfigFor(emu, user);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
  };
}

export const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
export const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
export const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

/** The Status a client-node call failed with. */
export async function failure(p: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await p;
  } catch (err: any) {
    if (typeof err?.code !== 'number') throw err;
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, status: body };
  }
  throw new Error('expected the request to fail');
}

export async function expectStatus(
  p: Promise<unknown>,
  code: number,
  reason: string,
  message?: string | RegExp,
) {
  const { status } = await failure(p);
  expect(status.kind).toBe('Status');
  expect(status.code).toBe(code);
  expect(status.reason).toBe(reason);
  if (message !== undefined) {
    if (typeof message === 'string') expect(status.message).toBe(message);
    else expect(status.message).toMatch(message);
  }
  return status;
}

/** Polls until `fn` returns a truthy value or the deadline passes (the shared waitFor, argument order kept). */
export function eventually<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<NonNullable<T>> {
  return waitFor(what, fn, timeoutMs);
}

export const POD_REF = { group: '', version: 'v1', resource: 'pods', namespace: 'default' };
export const NODE_REF = { group: '', version: 'v1', resource: 'nodes' };
export const GS_REF = { group: 'agones.dev', version: 'v1', resource: 'gameservers', namespace: 'default' };

export function pod(
  name: string,
  extra: { nodeName?: string; labels?: Record<string, string>; [k: string]: unknown } = {},
) {
  const { nodeName, labels, ...rest } = extra;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(labels ? { labels } : {}), ...rest },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'main', image: 'game:1.0' }] },
  };
}

export function node(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: { providerID: `aws:///us-east-1a/i-${name}` },
    status: {
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
      ],
      nodeInfo: { kubeletVersion: 'v1.32.4' },
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    },
    ...extra,
  };
}
