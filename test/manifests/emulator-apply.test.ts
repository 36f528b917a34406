// The base installs on the Kubernetes emulator with the real `kubectl apply -k` (the API server's
// validation of every object, the webhook configuration's CEL included), and with that RBAC in force
// the components' own Kubernetes code, run as their ServiceAccounts, can do its job and nothing more.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureOptionsFor, type CertificateSettings } from '../../certs/config.js';
import { ensureCertificates } from '../../certs/ensure.js';
import { leaseApiFor } from '../../pubsub/leader-election.js';
import { restKubeApi } from '../../reconciler/kube-api.js';
import { statusCode } from '../../shared/kube-error.js';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import { DirectNodeStatus } from '../../webhook/node-status.js';
import { webhookSettings } from './component-config.js';
import { componentUser, MANIFESTS_DIR, NAMESPACE, renderOverlay, type Component } from './render.js';

const run = promisify(execFile);
const NODE = 'ip-10-0-12-34.us-west-2.compute.internal';
const GAMES = 'game-servers';
const MWC_REF = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  resource: 'mutatingwebhookconfigurations',
  name: 'fleetiq-agones-webhook',
};

let emu: KubeEmulator;
let dir: string;
let kubeconfig: string;
let applyOutput: string;

function kubeConfigOf(component: Component): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(emu.kubeconfig(componentUser(component)));
  return kc;
}

/** The Status code a call failed with (0 when it succeeded). */
async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (err) {
    const e = err as { code?: unknown };
    return typeof e.code === 'number' ? e.code : (statusCode(err) ?? 0);
  }
}

beforeAll(async () => {
  emu = await startKubeEmulator({ authorization: 'rbac' });
  dir = await mkdtemp(join(tmpdir(), 'manifests-apply-'));
  kubeconfig = join(dir, 'kubeconfig');
  await emu.writeKubeconfig(kubeconfig);
  const admin = emu.client();
  await admin.create(
    { group: '', version: 'v1', resource: 'nodes' },
    {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: NODE, labels: { role: 'game-servers', 'kubernetes.io/hostname': NODE } },
      spec: { providerID: 'aws:///us-west-2a/i-0123456789abcdef0' },
    },
  );
  await admin.create(
    { group: '', version: 'v1', resource: 'namespaces' },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: GAMES } },
  );
  await admin.create(
    { group: '', version: 'v1', resource: 'pods', namespace: GAMES },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'gs-1',
        labels: { 'agones.dev/role': 'gameserver', 'agones.dev/gameserver': 'gs-1' },
      },
      spec: { nodeName: NODE, containers: [{ name: 'game', image: 'game:1.0' }] },
    },
  );
  ({ stdout: applyOutput } = await run(
    process.env.KUBECTL ?? 'kubectl',
    [
      '--kubeconfig',
      kubeconfig,
      '--cache-dir',
      join(dir, 'cache'),
      'apply',
      '-k',
      resolve(MANIFESTS_DIR, 'base'),
    ],
    { timeout: 60_000 },
  ));
});

afterAll(async () => {
  await emu?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('kubectl apply -k manifests/base on the emulator', () => {
  it('is accepted whole: every rendered object is stored', async () => {
    const rendered = await renderOverlay('base');
    expect(applyOutput.trim().split('\n')).toHaveLength(rendered.length);
    for (const o of rendered) {
      const type = emu.registry.byKind(o.apiVersion, o.kind)!;
      const stored = await emu.client().get({
        group: type.group,
        version: type.version,
        resource: type.plural,
        ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
        name: o.metadata.name!,
      });
      expect(stored.metadata.uid).toEqual(expect.any(String));
    }
    const mwc = await emu.client().get(MWC_REF);
    expect(mwc.webhooks[0].matchConditions).toHaveLength(2);
    expect(mwc.webhooks[0].failurePolicy).toBe('Fail');
  });
});

describe('with the applied RBAC, each component’s own code as its ServiceAccount', () => {
  it('pubsub: leader election creates, reads and renews its Lease, and may touch no other', async () => {
    const kc = kubeConfigOf('pubsub');
    const leases = leaseApiFor(kc, NAMESPACE, 'fleetiq-agones-pubsub');
    expect(await leases.get()).toBeUndefined();
    const created = await leases.create({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'fleetiq-agones-pubsub', namespace: NAMESPACE },
      spec: { holderIdentity: 'pubsub-0', leaseDurationSeconds: 15 },
    });
    const renewed = await leases.replace({
      ...created,
      spec: { ...created.spec, holderIdentity: 'pubsub-1' },
    });
    expect(renewed.spec?.holderIdentity).toBe('pubsub-1');
    expect(await codeOf(leaseApiFor(kc, NAMESPACE, 'another-lease').get())).toBe(403);
    expect(await codeOf(leaseApiFor(kc, 'kube-system', 'fleetiq-agones-pubsub').get())).toBe(403);
    expect(await codeOf(kc.makeApiClient(CoreV1Api).readNode({ name: NODE }))).toBe(403);
  });

  it('webhook: built-in certificates create its Secret and publish the caBundle; the fence reads nodes', async () => {
    const kc = kubeConfigOf('webhook');
    const tls = webhookSettings(await renderOverlay('base')).config.tls as {
      mode: string;
    } & CertificateSettings;
    expect(tls.mode).toBe('builtin');
    const result = await ensureCertificates(ensureOptionsFor(tls, kc));
    expect(result.published).toBe(true);
    const mwc = await emu.client().get(MWC_REF);
    expect(mwc.webhooks[0].clientConfig.caBundle).toMatch(/^[A-Za-z0-9+/]+=*$/);
    // Running again (the periodic check) reads and finds everything in place.
    expect((await ensureCertificates(ensureOptionsFor(tls, kc))).applied).toEqual([]);

    expect(await new DirectNodeStatus(kc).sessionSignalsOf(NODE)).toMatchObject({
      labels: {},
      cordoned: false,
    });
    const core = kc.makeApiClient(CoreV1Api);
    expect(await codeOf(core.readNamespacedPod({ name: 'gs-1', namespace: GAMES }))).toBe(0);
    expect(
      await codeOf(
        core.listNode({ labelSelector: 'gamelift.status/instance-status in (DRAINING,SPOT_TERMINATING)' }),
      ),
    ).toBe(0);
    expect(
      await codeOf(core.readNamespacedSecret({ name: 'fleetiq-agones-redis', namespace: NAMESPACE })),
    ).toBe(403);
    expect(await codeOf(core.deleteNamespacedPod({ name: 'gs-1', namespace: GAMES }))).toBe(403);
    expect(await codeOf(core.patchNode({ name: NODE, body: {} }))).toBe(403);
  });

  it('reconciler: its Kubernetes client observes and patches its node and pods, and writes Node Events in default only', async () => {
    const api = restKubeApi(kubeConfigOf('reconciler'));
    expect((await api.listNodes(`metadata.name=${NODE}`)).items).toHaveLength(1);
    const patched = await api.patchNode(NODE, {
      metadata: { labels: { 'gamelift.status/instance-status': 'ACTIVE' } },
    });
    expect((patched as any).metadata.labels['gamelift.status/instance-status']).toBe('ACTIVE');
    const pods = await api.listPods(`spec.nodeName=${NODE}`, 'agones.dev/role=gameserver');
    expect(pods.items.map((p: any) => p.metadata.name)).toEqual(['gs-1']);
    expect(await api.getPod(GAMES, 'gs-1')).not.toBeNull();
    // A GameServer that does not exist reads as null (404), not as a permission error.
    expect(await api.getGameServer(GAMES, 'gs-1')).toBeNull();
    const event = (namespace: string) => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${NODE}.test`, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: NODE },
      reason: 'FleetIQDraining',
      message: 'test',
      type: 'Normal',
    });
    await api.createEvent('default', event('default'));
    expect(await codeOf(api.createEvent(NAMESPACE, event(NAMESPACE)))).toBe(403);
    expect(
      await codeOf(
        kubeConfigOf('reconciler')
          .makeApiClient(CoreV1Api)
          .readNamespacedSecret({ name: 'x', namespace: NAMESPACE }),
      ),
    ).toBe(403);
  });
});
