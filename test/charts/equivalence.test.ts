// The chart and the kustomize manifests install the same thing: for each choice (an overlay, or base
// composed with components), the chart with the ci/ values file that makes the same choice renders the
// same objects, field for field, once what may differ is taken out (normalise() in helm.ts: the labels
// Helm adds, the settings ConfigMap's hash suffix, JSON spacing, the order of name-keyed lists). The
// only object kustomize renders that the chart does not is the Namespace: Helm installs into a
// namespace that exists (docs/install.md creates and labels it first). Kustomize is the one bundled in
// the control plane's own kubectl (1.34).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import { controlPlaneBinaries } from '../../sandbox/control-plane/binaries.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { eksOverlayCopy, MANIFESTS_DIR, NAMESPACE, overlayDir, parseManifests } from '../manifests/render.js';
import { ciValues, normalise, renderChart, useHelm } from './helm.js';

useHelm();

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'fleetiq-chart-equivalence-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function kustomize(dir: string): Promise<KubeObject[]> {
  const { stdout } = await run(join(controlPlaneBinaries(), 'kubectl'), ['kustomize', dir], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseManifests(stdout, dir);
}

/** The roles and region of ci/eks-values.yaml and ci/eks-production-values.yaml, as aws.env says them. */
const awsEnv = (region: string) => ({
  AWS_REGION: region,
  PUBSUB_ROLE_ARN: 'arn:aws:iam::444455556666:role/fleetiq-agones-pubsub',
  RECONCILER_ROLE_ARN: 'arn:aws:iam::444455556666:role/fleetiq-agones-reconciler',
});

/** An operator's kustomization: `resources` and `components` (paths made relative, as kustomize wants). */
function composition(name: string, resources: string[], components: string[]): string {
  const dir = join(scratch, name);
  const rel = (p: string) => relative(dir, p);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      ...resources.map((r) => `  - ${rel(r)}`),
      'components:',
      ...components.map((c) => `  - ${rel(resolve(MANIFESTS_DIR, 'components', c))}`),
      '',
    ].join('\n'),
  );
  return dir;
}

const PAIRS: Array<[kustomization: string, values: string, dir: () => string]> = [
  ['base', 'base-values.yaml', () => overlayDir('base')],
  ['overlays/dev', 'dev-values.yaml', () => overlayDir('dev')],
  ['overlays/cert-manager', 'cert-manager-values.yaml', () => overlayDir('cert-manager')],
  ['overlays/fail-open', 'fail-open-values.yaml', () => overlayDir('fail-open')],
  ['overlays/monitoring', 'monitoring-values.yaml', () => overlayDir('monitoring')],
  ['overlays/eks', 'eks-values.yaml', () => eksOverlayCopy(awsEnv('us-west-2'))],
  [
    'overlays/eks + components cert-manager, monitoring',
    'eks-production-values.yaml',
    () =>
      composition('eks-production', [eksOverlayCopy(awsEnv('eu-west-1'))], ['cert-manager', 'monitoring']),
  ],
];

describe('the chart renders what kustomize renders for the same choices', () => {
  it.each(PAIRS)('%s ≡ chart with ci/%s', async (_name, values, dir) => {
    const fromKustomize = (await kustomize(dir())).filter((o) => o.kind !== 'Namespace');
    const fromChart = await renderChart([ciValues(values)]);
    expect(fromKustomize.length).toBeGreaterThan(20);
    expect(normalise(fromChart)).toEqual(normalise(fromKustomize));
  });

  it('differs where the choices differ (the comparison can fail)', async () => {
    const fromKustomize = (await kustomize(overlayDir('fail-open'))).filter((o) => o.kind !== 'Namespace');
    const fromChart = await renderChart([ciValues('dev-values.yaml')]);
    expect(normalise(fromChart)).not.toEqual(normalise(fromKustomize));
  });
});

describe('the chart, like kustomize, names the settings ConfigMap after its content', () => {
  const settingsName = (objects: KubeObject[]) =>
    objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name!.startsWith('fleetiq-agones-settings-'))!
      .metadata.name!;

  it('changes the name with a setting, and every reference follows it', async () => {
    const a = await renderChart([ciValues('base-values.yaml')]);
    const b = await renderChart([ciValues('base-values.yaml')], ['gameServerGroup=other-group']);
    expect(settingsName(a)).not.toBe(settingsName(b));
    const refs = JSON.stringify(b).match(/fleetiq-agones-settings-[a-z0-9]+/g) ?? [];
    expect(new Set(refs)).toEqual(new Set([settingsName(b)]));
    // The namespace of every namespaced object is the release's, as kustomize's is fleetiq-system.
    expect(b.filter((o) => o.metadata.namespace === NAMESPACE).length).toBeGreaterThan(15);
  });
});
