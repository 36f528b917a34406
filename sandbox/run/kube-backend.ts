// The Kubernetes control plane the sandbox runs on, either of two:
// - `emulated`: the API server emulator (sandbox/kube) in this process, with the simulation playing
//   kube-scheduler and the taint-eviction controller. Starts in a second on any machine.
// - `real`: kube-apiserver, etcd, kube-controller-manager and kube-scheduler of the pinned release
//   (sandbox/control-plane), the simulation as their HTTPS client, the components under real
//   service-account tokens (TokenRequest), and the webhook reached by Service reference through the
//   test bed's network namespace.
// Both get the same installation from manifests/ (applyInstallation) and give the rest of the
// sandbox the same handle.
import { writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { SimClock } from '../clock.js';
import type { ClusterHost } from '../cluster/host.js';
import { remoteClusterHost } from '../cluster/remote-host.js';
import { installAgonesResources } from '../control-plane/agones-crds.js';
import { startControlPlane } from '../control-plane/control-plane.js';
import { startServiceNetwork, type ServiceNetwork } from '../control-plane/service-network.js';
import { startKubeEmulator, type KubeEmulator } from '../kube/emulator.js';
import type { RequestLogEntry } from '../kube/request-log.js';
import type { KubeObject, LocalClient, UserInfo } from '../kube/types.js';
import { AuditLogReader, serviceAccountAuditPolicy } from '../control-plane/audit-log.js';
import { applyInstallation, INSTALL_NAMESPACE, type Installation, type KindResolver } from './manifests.js';

export type ControlPlaneKind = 'emulated' | 'real';
export const CONTROL_PLANE_KINDS: readonly ControlPlaneKind[] = ['emulated', 'real'];

export interface KubeBackend {
  readonly kind: ControlPlaneKind;
  /** What the simulated cluster runs on. */
  readonly host: ClusterHost;
  /** A client acting as `user` (default: the admin). */
  client(user?: UserInfo): LocalClient;
  readonly installation: Installation;
  /**
   * A kubeconfig for one of the installation's ServiceAccounts. With `nodeName`, on the real backend,
   * its token is bound to a pod of that account on that node, as a DaemonSet pod's projected token is,
   * so it carries the node's name (`authentication.kubernetes.io/node-name`): what the node agent's
   * admission policy holds it to.
   */
  kubeconfig(user: UserInfo, options?: { nodeName?: string }): Promise<string>;
  /** Makes `target` (a server on loopback) the endpoint of the Service, as the endpoints controller would. */
  exposeService(namespace: string, name: string, target: { host: string; port: number }): Promise<void>;
  /**
   * Calls `listener` with each request the API server answered: every request on the emulator (its
   * request log); the requests of the installation's ServiceAccounts on the real one (its audit log,
   * read every second).
   */
  onRequest(listener: (e: RequestLogEntry) => void): void;
  /** Hands pending requests to the listeners (the real one's audit log is otherwise read every second). */
  flushRequests(): Promise<void>;
  /** The requests answered 403 Forbidden so far, among those `onRequest` sees. */
  forbiddenRequests(): RequestLogEntry[];
  /** Writes an admin kubeconfig (for kubectl). */
  writeKubeconfig(path: string): Promise<void>;
  /** The admin kubeconfig itself (server, CA and an admin token, for HTTPS clients of tests). */
  readonly adminKubeconfig: string;
  /** The real API server's audit log (JSON lines, as the audit policy has it). */
  readonly auditLogPath?: string;
  /** The emulator itself, on the emulated backend (its webhook call statistics). */
  readonly emulator?: KubeEmulator;
  stop(): Promise<void>;
}

export interface KubeBackendOptions {
  kind: ControlPlaneKind;
  clock: SimClock;
  failurePolicy: 'Fail' | 'Ignore';
  logger: Logger;
  /** Random numbers for generated names (emulated only: the real API server picks its own). */
  random: () => number;
  /**
   * The real API server's audit policy (default: the installation's ServiceAccounts' requests). A
   * wider one, for tests that read more of the audit log, must keep those: onRequest reports them.
   */
  auditPolicy?: Record<string, unknown>;
  /**
   * Also install manifests/base's ValidatingAdmissionPolicies (real backend only; the emulator does not
   * enforce them). The node agent must then be given a kubeconfig with its `nodeName`, or every write
   * it makes is refused.
   */
  admissionPolicies?: boolean;
}

export async function startKubeBackend(o: KubeBackendOptions): Promise<KubeBackend> {
  const backend = await (o.kind === 'real' ? startRealBackend(o) : startEmulatedBackend(o));
  const forbidden: RequestLogEntry[] = [];
  backend.onRequest((e) => {
    if (e.code === 403) forbidden.push(e);
  });
  return { ...backend, forbiddenRequests: () => [...forbidden] };
}

type BackendParts = Omit<KubeBackend, 'forbiddenRequests'>;

async function startEmulatedBackend(o: KubeBackendOptions): Promise<BackendParts> {
  const emu = await startKubeEmulator({
    clock: o.clock,
    authorization: 'rbac',
    logger: o.logger,
    random: o.random,
  });
  try {
    const installation = await applyInstallation(
      emu.client(),
      (apiVersion, kind) => emu.registry.byKind(apiVersion, kind),
      {
        failurePolicy: o.failurePolicy,
      },
    );
    return {
      kind: 'emulated',
      host: emu,
      client: (user) => emu.client(user),
      installation,
      kubeconfig: async (user) => emu.kubeconfig(user),
      exposeService: async (namespace, name, target) =>
        emu.registerServiceEndpoint(namespace, name, target.host, target.port),
      onRequest(listener) {
        // The log keeps its last 50,000 entries; a listener sees every one as it is recorded.
        const record = emu.requestLog.record.bind(emu.requestLog);
        emu.requestLog.record = (e: RequestLogEntry) => {
          listener(e);
          record(e);
        };
      },
      flushRequests: async () => undefined,
      writeKubeconfig: (path) => emu.writeKubeconfig(path),
      adminKubeconfig: emu.kubeconfig(),
      emulator: emu,
      stop: () => emu.stop(),
    };
  } catch (err) {
    await emu.stop();
    throw err;
  }
}

/** The kinds applyInstallation applies, as the real API server serves them. */
const REAL_KINDS: Record<string, { group: string; version: string; plural: string; namespaced: boolean }> = {
  Namespace: { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  ServiceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  Service: { group: '', version: 'v1', plural: 'services', namespaced: true },
  ClusterRole: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'clusterroles',
    namespaced: false,
  },
  ClusterRoleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'clusterrolebindings',
    namespaced: false,
  },
  Role: { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', namespaced: true },
  RoleBinding: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    plural: 'rolebindings',
    namespaced: true,
  },
  MutatingWebhookConfiguration: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    namespaced: false,
  },
  ValidatingAdmissionPolicy: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'validatingadmissionpolicies',
    namespaced: false,
  },
  ValidatingAdmissionPolicyBinding: {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'validatingadmissionpolicybindings',
    namespaced: false,
  },
};
const realKinds: KindResolver = (apiVersion, kind) => {
  const k = REAL_KINDS[kind];
  return k && (k.group ? `${k.group}/${k.version}` : k.version) === apiVersion ? k : undefined;
};

/**
 * The port the namespace's forwarder listens on for the first exposed Service (Endpoints carry it);
 * each further Service gets the next one, as each is a different backend.
 */
const ENDPOINT_PORT = 8443;
const TOKEN_SECONDS = 24 * 60 * 60;

async function startRealBackend(o: KubeBackendOptions): Promise<BackendParts> {
  const cp = await startControlPlane({
    log: (line) => o.logger.info(line),
    auditPolicy: o.auditPolicy ?? serviceAccountAuditPolicy([INSTALL_NAMESPACE]),
  });
  const host = remoteClusterHost({ server: cp.server, caPem: cp.caPem, token: cp.adminToken });
  let network: ServiceNetwork | undefined;
  const listeners: ((e: RequestLogEntry) => void)[] = [];
  const audit = new AuditLogReader(cp.auditLogPath!, (e) => listeners.forEach((l) => l(e)));
  const auditTimer = setInterval(() => void audit.poll().catch(() => undefined), 1_000);
  auditTimer.unref();
  const stop = async () => {
    clearInterval(auditTimer);
    await audit.close();
    await network?.stop();
    host.close();
    await cp.stop();
  };
  try {
    const admin = host.client();
    await installAgonesResources(admin);
    const installation = await applyInstallation(admin, realKinds, {
      failurePolicy: o.failurePolicy,
      admissionPolicies: o.admissionPolicies ?? false,
    });
    const tokens = new Map<string, Promise<string>>();
    const endpointPorts = new Map<string, number>();
    const tokenFor = (user: UserInfo, nodeName?: string) => {
      const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.username);
      if (!m)
        throw new Error(
          `${user.username} is not a ServiceAccount: the real backend issues tokens only to those`,
        );
      const key = nodeName ? `${user.username}@${nodeName}` : user.username;
      let t = tokens.get(key);
      if (!t) {
        t = (nodeName ? tokenPodOn(admin, m[1]!, m[2]!, nodeName) : Promise.resolve(undefined))
          .then((pod) =>
            admin.create(
              {
                group: '',
                version: 'v1',
                resource: 'serviceaccounts',
                namespace: m[1],
                name: m[2],
                subresource: 'token',
              },
              {
                apiVersion: 'authentication.k8s.io/v1',
                kind: 'TokenRequest',
                spec: {
                  expirationSeconds: TOKEN_SECONDS,
                  ...(pod
                    ? {
                        boundObjectRef: {
                          apiVersion: 'v1',
                          kind: 'Pod',
                          name: pod.metadata.name,
                          uid: pod.metadata.uid,
                        },
                      }
                    : {}),
                },
              },
            ),
          )
          .then((tr) => String(tr.status?.token));
        tokens.set(key, t);
      }
      return t;
    };
    return {
      kind: 'real',
      host,
      client: (user) => host.client(user),
      installation,
      async kubeconfig(user, options = {}) {
        const token = await tokenFor(user, options.nodeName);
        // The admin kubeconfig's cluster, with the ServiceAccount's token instead of the admin's.
        return cp.kubeconfig.replace(cp.adminToken, token);
      },
      async exposeService(namespace, name, target) {
        network ??= await startServiceNetwork();
        const key = `${namespace}/${name}`;
        let port = endpointPorts.get(key);
        if (port === undefined) {
          port = ENDPOINT_PORT + endpointPorts.size;
          endpointPorts.set(key, port);
          await network.expose(port, target);
        }
        const service = await admin.get({ group: '', version: 'v1', resource: 'services', namespace, name });
        // No pods back it here: without a selector the endpoints controller leaves our Endpoints alone.
        await admin.patch({ group: '', version: 'v1', resource: 'services', namespace, name }, 'merge', {
          spec: { selector: null },
        });
        const endpoints = {
          apiVersion: 'v1',
          kind: 'Endpoints',
          metadata: { name, namespace },
          subsets: [
            {
              addresses: [{ ip: network.address }],
              ports: (service.spec?.ports ?? []).map((p: any) => ({
                name: p.name,
                port,
                protocol: 'TCP',
              })),
            },
          ],
        };
        const ref = { group: '', version: 'v1', resource: 'endpoints', namespace };
        try {
          await admin.create(ref, endpoints);
        } catch (err) {
          if ((err as { code?: number }).code !== 409) throw err;
          const existing = await admin.get({ ...ref, name });
          await admin.update({ ...ref, name }, { ...endpoints, metadata: existing.metadata });
        }
      },
      onRequest: (listener) => listeners.push(listener),
      flushRequests: () => audit.poll(),
      writeKubeconfig: (path) => writeFile(path, cp.kubeconfig, { mode: 0o600 }),
      adminKubeconfig: cp.kubeconfig,
      ...(cp.auditLogPath ? { auditLogPath: cp.auditLogPath } : {}),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The pod a node-bound token is bound to: one of the account's on the node, standing for the DaemonSet
 * pod there (no kubelet runs it). It tolerates every taint, as the agent's DaemonSet does, so the drain
 * taint does not evict it (deleting the pod would invalidate the token), and satisfies the namespace's
 * Pod Security "restricted".
 */
async function tokenPodOn(
  admin: LocalClient,
  namespace: string,
  serviceAccount: string,
  nodeName: string,
): Promise<KubeObject> {
  const ref = { group: '', version: 'v1', resource: 'pods', namespace };
  const name = `${serviceAccount}-on-${nodeName}`
    .toLowerCase()
    .slice(0, 253)
    .replace(/[^a-z0-9]+$/, '');
  try {
    return await admin.create(ref, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/component': 'sandbox-token-holder' } },
      spec: {
        nodeName,
        serviceAccountName: serviceAccount,
        automountServiceAccountToken: false,
        tolerations: [{ operator: 'Exists' }],
        securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'holder',
            image: 'fleetiq-agones-sandbox/token-holder:none',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    return admin.get({ ...ref, name });
  }
}
