// The Kubernetes control plane of an end-to-end test file: the real one (kube-apiserver, etcd,
// kube-controller-manager and kube-scheduler of the pinned release) unless
// FLEETIQ_TEST_CONTROL_PLANE=emulated picks the API server emulator. Either way through
// the system builder (sandbox/system/system.ts), so the installation from manifests/ is in place and every identity is
// a real ServiceAccount (TokenRequest tokens on the real one), and with a request log that works on
// both: the emulator's own, or the real API server's audit log.
import type { SimClock } from '../../sandbox/clock.js';
import type { RequestLogEntry } from '../../sandbox/kube/request-log.js';
import type { LocalClient, UserInfo } from '../../sandbox/kube/types.js';
import {
  CONTROL_PLANE_KINDS,
  type ControlPlaneKind,
  type KubeBackend,
} from '../../sandbox/run/kube-backend.js';
import { startSystem, type System } from '../../sandbox/system/system.js';

/** The control plane of the end-to-end suites: the real one unless FLEETIQ_TEST_CONTROL_PLANE=emulated. */
export function testControlPlane(): ControlPlaneKind {
  const v = process.env.FLEETIQ_TEST_CONTROL_PLANE ?? 'real';
  if (!(CONTROL_PLANE_KINDS as readonly string[]).includes(v))
    throw new Error(
      `FLEETIQ_TEST_CONTROL_PLANE must be one of ${CONTROL_PLANE_KINDS.join(', ')}, not "${v}"`,
    );
  return v as ControlPlaneKind;
}

/** How long a beforeAll may take to start it (the real one on a loaded two-core machine). */
export const TEST_KUBE_START_MS = 180_000;

export interface TestKube {
  readonly kind: ControlPlaneKind;
  /** The system it is part of: what else a test starts (FleetIQ, Redis, the cluster) goes there. */
  readonly system: System;
  readonly backend: KubeBackend;
  /** The admin's client. */
  readonly admin: LocalClient;
  /** The requests `user` made so far, oldest first (the real one's audit log is read first). */
  requests(user: UserInfo): Promise<RequestLogEntry[]>;
  /** Stops it and everything started on its system. */
  stop(): Promise<void>;
}

export async function startTestKube(
  o: {
    clock?: SimClock;
    /**
     * Keep the installation's MutatingWebhookConfiguration (default: delete it). Tests without the
     * webhook running delete it: its failurePolicy would otherwise refuse every allocation.
     */
    webhook?: boolean;
    failurePolicy?: 'Fail' | 'Ignore';
    /** Also enforce manifests/base's admission policies (real control plane only). */
    admissionPolicies?: boolean;
  } = {},
): Promise<TestKube> {
  const system = await startSystem({
    controlPlane: testControlPlane(),
    ...(o.clock ? { clock: o.clock } : { speed: 1 }),
    failurePolicy: o.failurePolicy ?? 'Fail',
    webhookConfiguration: o.webhook ?? false,
    ...(o.admissionPolicies ? { admissionPolicies: true } : {}),
  });
  const backend = system.kube;
  const log: RequestLogEntry[] = [];
  backend.onRequest((e) => log.push(e));
  return {
    kind: backend.kind,
    system,
    backend,
    admin: system.admin,
    async requests(user) {
      await backend.flushRequests();
      return log.filter((e) => e.user === user.username);
    },
    stop: () => system.stop(),
  };
}
