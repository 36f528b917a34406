// The chart's output on the real kube-apiserver 1.34, as docs/install.md installs it: Agones' CRDs
// (and cert-manager's and the Prometheus Operator's, for the values that use them) installed, the
// namespace created and labelled first, then
// - every ci/ values file's `helm template` passes `kubectl apply --server-side --dry-run=server
//   --validate=strict` without a warning (Pod Security "restricted" included);
// - `helm install`, `helm upgrade` and `helm uninstall` of the pinned Helm do what the guide says:
//   everything stored, a changed setting a new settings ConfigMap with the old one gone, and nothing
//   of the release left after the uninstall, the webhook configuration included.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { remoteClusterHost } from '../../sandbox/cluster/remote-host.js';
import { installAgonesResources } from '../../sandbox/control-plane/agones-crds.js';
import {
  CERT_MANAGER_CRDS,
  installCrds,
  PROMETHEUS_OPERATOR_CRDS,
} from '../../sandbox/control-plane/extra-crds.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { apiRequest, CONTROL_PLANE_START_MS, useControlPlane } from '../helpers/control-plane.js';
import { runKubectl } from '../manifests/real-kubectl.js';
import { MANIFESTS_DIR, NAMESPACE, parseManifests } from '../manifests/render.js';
import { CHART_DIR, CI_VALUES, ciValues, helmTemplateYaml, runHelm, useHelm } from './helm.js';

useHelm();

const cp = useControlPlane();
let dir: string;

const kubectl = (args: string[], input?: string) =>
  runKubectl(args, {
    kubeconfig: cp().kubeconfigPath,
    cacheDir: join(dir, 'cache'),
    ...(input !== undefined ? { input } : {}),
  });

const helm = (args: string[]) => runHelm(['--kubeconfig', cp().kubeconfigPath, ...args]);

const identity = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function objectsOf(stdout: string): KubeObject[] {
  const parsed = JSON.parse(stdout);
  return parsed.kind === 'List' ? parsed.items : [parsed];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chart-real-apply-'));
  const host = remoteClusterHost({ server: cp().server, caPem: cp().caPem, token: cp().adminToken });
  try {
    await installAgonesResources(host.client());
    await installCrds(host.client(), [...CERT_MANAGER_CRDS, ...PROMETHEUS_OPERATOR_CRDS]);
  } finally {
    host.close();
  }
  // docs/install.md's first step: the namespace, labelled for Pod Security "restricted".
  const ns = await kubectl(['apply', '--server-side', '-f', resolve(MANIFESTS_DIR, 'base/namespace.yaml')]);
  if (ns.code !== 0) throw new Error(`applying the namespace failed: ${ns.stderr}`);
}, CONTROL_PLANE_START_MS);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('on the real API server, kubectl apply --server-side --dry-run=server --validate=strict', () => {
  it.each(CI_VALUES)('accepts the chart rendered with ci/%s whole, without a warning', async (file) => {
    const yaml = await helmTemplateYaml([ciValues(file)]);
    const rendered = parseManifests(yaml);
    const r = await kubectl(
      ['apply', '--server-side', '--dry-run=server', '--validate=strict', '-o', 'json', '-f', '-'],
      yaml,
    );
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const answered = objectsOf(r.stdout);
    expect(answered.map(identity).sort()).toEqual(rendered.map(identity).sort());
    for (const o of answered) expect(o.metadata.creationTimestamp).toEqual(expect.any(String));
  });
});

describe('helm install, upgrade and uninstall on the real API server', () => {
  const release = ['fleetiq-agones', CHART_DIR, '-n', NAMESPACE, '-f', ciValues('dev-values.yaml')];
  const settingsConfigMaps = async () =>
    ((await apiRequest(cp(), 'GET', `/api/v1/namespaces/${NAMESPACE}/configmaps`)).body.items as KubeObject[])
      .map((o) => o.metadata.name!)
      .filter((n) => n.startsWith('fleetiq-agones-settings-'));

  it('installs every object of the release, and its notes say how to watch a drain', async () => {
    const r = await helm(['install', ...release]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    for (const command of [
      `kubectl -n ${NAMESPACE} rollout status ds/fleetiq-agones-reconciler`,
      'kubectl get nodes -l role=game-servers -L gamelift.status/instance-status,gamelift.status/drain-phase --watch',
      'kubectl get nodes -l gamelift.status/drain-phase=Tainted',
      'kubectl get events -n default --field-selector involvedObject.kind=Node,involvedObject.name=<node>',
    ])
      expect(r.stdout).toContain(command);
    const yaml = await helmTemplateYaml([ciValues('dev-values.yaml')]);
    const got = await kubectl(['get', '-o', 'json', '-f', '-'], yaml);
    expect({ code: got.code, stderr: got.stderr }).toEqual({ code: 0, stderr: '' });
    expect(objectsOf(got.stdout).map(identity).sort()).toEqual(parseManifests(yaml).map(identity).sort());
    const mwc = await apiRequest(
      cp(),
      'GET',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/fleetiq-agones-webhook',
    );
    expect(mwc.body.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm' });
  });

  it('upgrades a setting into a new settings ConfigMap, and removes the old one', async () => {
    const before = await settingsConfigMaps();
    expect(before).toHaveLength(1);
    const r = await helm(['upgrade', ...release, '--set', 'gameServerGroup=agones-game-servers-2']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const after = await settingsConfigMaps();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    const ds = await apiRequest(
      cp(),
      'GET',
      `/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets/fleetiq-agones-reconciler`,
    );
    expect(JSON.stringify(ds.body.spec.template.spec.containers[0].env)).toContain(after[0]);
  });

  it('uninstalls everything it installed, the webhook configuration included', async () => {
    const r = await helm(['uninstall', 'fleetiq-agones', '-n', NAMESPACE]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const mwc = await apiRequest(
      cp(),
      'GET',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/fleetiq-agones-webhook',
    );
    expect(mwc.status).toBe(404);
    const left = await kubectl([
      'get',
      'all,configmaps,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings',
      '-A',
      '-l',
      'app.kubernetes.io/instance=fleetiq-agones',
      '-o',
      'name',
    ]);
    expect({ code: left.code, stdout: left.stdout }).toEqual({ code: 0, stdout: '' });
  });
});
