// The Kubernetes control plane of an end-to-end test file: the real one (kube-apiserver, etcd,
// kube-controller-manager and kube-scheduler of the pinned release) unless
// FLEETIQ_TEST_CONTROL_PLANE=emulated picks the API server emulator. Either way through
// sandbox/run/kube-backend.ts, so the installation from manifests/ is in place and every identity is
// a real ServiceAccount (TokenRequest tokens on the real one), and with a request log that works on
// both: the emulator's own, or the real API server's audit log.
import { SimClock } from '../../sandbox/clock.js';
import { createLogger } from '../../shared/logger.js';
import type { RequestLogEntry } from '../../sandbox/kube/request-log.js';
import type { LocalClient, UserInfo } from '../../sandbox/kube/types.js';
import {
  CONTROL_PLANE_KINDS,
  startKubeBackend,
  type ControlPlaneKind,
  type KubeBackend,
} from '../../sandbox/run/kube-backend.js';
import { WEBHOOK_CONFIGURATION_NAME } from '../../sandbox/run/manifests.js';

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
  readonly backend: KubeBackend;
  /** The admin's client. */
  readonly admin: LocalClient;
  /** The requests `user` made so far, oldest first (the real one's audit log is read first). */
  requests(user: UserInfo): Promise<RequestLogEntry[]>;
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
  } = {},
): Promise<TestKube> {
  const ownClock = o.clock ? undefined : new SimClock({ speed: 1 });
  let seed = 0x2545f491;
  const backend = await startKubeBackend({
    kind: testControlPlane(),
    clock: o.clock ?? ownClock!,
    failurePolicy: o.failurePolicy ?? 'Fail',
    logger: createLogger('test-kube', 'silent'),
    random: () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    },
  });
  const log: RequestLogEntry[] = [];
  backend.onRequest((e) => log.push(e));
  const admin = backend.client();
  try {
    if (!o.webhook)
      await admin.delete({
        group: 'admissionregistration.k8s.io',
        version: 'v1',
        resource: 'mutatingwebhookconfigurations',
        name: WEBHOOK_CONFIGURATION_NAME,
      });
  } catch (err) {
    await backend.stop();
    ownClock?.stop();
    throw err;
  }
  return {
    kind: backend.kind,
    backend,
    admin,
    async requests(user) {
      await backend.flushRequests();
      return log.filter((e) => e.user === user.username);
    },
    async stop() {
      await backend.stop();
      ownClock?.stop();
    },
  };
}
