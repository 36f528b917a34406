// The sandbox's real backend with manifests/base's admission policies (as `--control-plane real` runs
// it): the policies are installed, and the node agent's kubeconfig for a node carries a token bound to
// a pod on that node, so the agent may write its own Node and nothing else; a drain's NoExecute taint
// does not evict that pod (which would invalidate the token).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { restKubeApi, type AgentKubeApi } from '../../../reconciler/kube-api.js';
import { statusCode } from '../../../shared/kube-error.js';
import { SimClock } from '../../../sandbox/clock.js';
import { COMPONENT_USERS } from '../../../sandbox/run/components.js';
import { startKubeBackend, type KubeBackend } from '../../../sandbox/run/kube-backend.js';
import { createLogger } from '../../../shared/logger.js';
import { TEST_KUBE_START_MS } from '../../helpers/test-kube.js';
import { waitFor } from '../../helpers/wait.js';

const NODE = 'ip-10-0-3-1.us-west-2.compute.internal';
const OTHER_NODE = 'ip-10-0-3-2.us-west-2.compute.internal';
const NODES = { group: '', version: 'v1', resource: 'nodes' };

let backend: KubeBackend;
let clock: SimClock;

beforeAll(async () => {
  clock = new SimClock({ speed: 1 });
  let seed = 7;
  backend = await startKubeBackend({
    kind: 'real',
    clock,
    failurePolicy: 'Fail',
    logger: createLogger('test-kube', 'silent'),
    random: () => (seed = (seed * 48271) % 2147483647) / 2147483647,
    admissionPolicies: true,
  });
  for (const name of [NODE, OTHER_NODE])
    await backend.client().create(NODES, { apiVersion: 'v1', kind: 'Node', metadata: { name } });
  // The API server puts new policies in force asynchronously, within seconds.
  const unbound = await agentApi();
  await waitFor(
    'the node agent policy in force',
    async () => statusCode(await cordon(unbound, OTHER_NODE).catch((err: unknown) => err)) === 403,
    30_000,
  );
  await backend.client().patch({ ...NODES, name: OTHER_NODE }, 'merge', { spec: { unschedulable: null } });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await backend?.stop();
});

async function agentApi(nodeName?: string): Promise<AgentKubeApi> {
  const kc = new KubeConfig();
  kc.loadFromString(await backend.kubeconfig(COMPONENT_USERS.reconciler, nodeName ? { nodeName } : {}));
  return restKubeApi(kc);
}

const cordon = (api: AgentKubeApi, name: string) => api.patchNode(name, { spec: { unschedulable: true } });
/** The API server's message, as the client's error carries it. */
const messageOf = (err: unknown) => JSON.stringify(err, Object.getOwnPropertyNames(err as object));

describe('the real backend with admissionPolicies', () => {
  it('installs the three policies and their bindings', async () => {
    const ref = { group: 'admissionregistration.k8s.io', version: 'v1' };
    const policies = await backend.client().list({ ...ref, resource: 'validatingadmissionpolicies' });
    const bindings = await backend.client().list({ ...ref, resource: 'validatingadmissionpolicybindings' });
    for (const list of [policies, bindings])
      expect(list.items.map((o) => o.metadata.name).sort()).toEqual([
        'fleetiq-agones-pubsub-writes',
        'fleetiq-agones-reconciler-writes',
        'fleetiq-agones-webhook-writes',
      ]);
  });

  it('gives the agent of a node a token that may cordon that node, and only that node', async () => {
    const api = await agentApi(NODE);
    const patched = await cordon(api, NODE);
    expect(patched.spec.unschedulable).toBe(true);
    const refused = await cordon(api, OTHER_NODE).catch((err: unknown) => err);
    expect(statusCode(refused)).toBe(403);
    expect(messageOf(refused)).toContain('may not change another Node');
  });

  it('a token without a node may not write at all', async () => {
    const refused = await cordon(await agentApi(), OTHER_NODE).catch((err: unknown) => err);
    expect(statusCode(refused)).toBe(403);
    expect(messageOf(refused)).toContain('this token names none');
  });

  it('the pod the token is bound to tolerates the drain taint', async () => {
    const pods = await backend.client().list({
      group: '',
      version: 'v1',
      resource: 'pods',
      namespace: 'fleetiq-system',
    });
    const holder = pods.items.find((p) => p.spec?.nodeName === NODE)!;
    expect(holder.spec.serviceAccountName).toBe('fleetiq-agones-reconciler');
    expect(holder.spec.tolerations).toContainEqual({ operator: 'Exists' });
  });
});
