// docs/install.md, tested where it can be without AWS: the snippets marked `<!-- docs-test: name -->`
// render what the guide says they do (the Helm values with the chart; the kustomization with the
// folder layout the guide describes), and the guide states the facts the code depends on.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { containersOf, podTemplates } from '../manifests/inspect.js';
import {
  eksOverlayCopy,
  findObject,
  MANIFESTS_DIR,
  renderKustomization,
  REPO_ROOT,
} from '../manifests/render.js';
import { renderChart, useHelm } from './helm.js';

useHelm();

const GUIDE = readFileSync(resolve(REPO_ROOT, 'docs/install.md'), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'fleetiq-install-guide-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The fenced code block right after `<!-- docs-test: name -->`. */
function snippet(name: string): string {
  const m = new RegExp(`<!-- docs-test: ${name} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(GUIDE);
  if (!m) throw new Error(`docs/install.md has no snippet marked docs-test: ${name}`);
  return m[1]!;
}

/** The image of every fleetiq-agones container. */
const images = (objects: KubeObject[]) =>
  new Set(
    podTemplates(objects)
      .filter((t) => t.labels['app.kubernetes.io/component'] !== 'redis')
      .flatMap((t) => containersOf(t).map(({ container }) => container.image as string)),
  );

describe('docs/install.md', () => {
  it('7a: the Helm values render an IRSA installation from the ECR image, Redis and signing key from Secrets', async () => {
    const file = join(scratch, 'values-eks.yaml');
    writeFileSync(file, snippet('helm-values'));
    const objects = await renderChart([file]);
    expect(images(objects)).toEqual(
      new Set([
        `444455556666.dkr.ecr.eu-west-1.amazonaws.com/fleetiq-agones:${parse(readFileSync(resolve(REPO_ROOT, 'charts/fleetiq-agones/Chart.yaml'), 'utf8')).appVersion}`,
      ]),
    );
    expect(
      findObject(objects, 'ServiceAccount', 'fleetiq-agones-reconciler').metadata.annotations?.[
        'eks.amazonaws.com/role-arn'
      ],
    ).toBe('arn:aws:iam::444455556666:role/fleetiq-agones-reconciler');
    const ds = findObject(objects, 'DaemonSet', 'fleetiq-agones-reconciler');
    const env = ds.spec.template.spec.containers[0].env;
    expect(env.find((e: { name: string }) => e.name === 'REDIS_URL').valueFrom.secretKeyRef.name).toBe(
      'fleetiq-agones-redis',
    );
    expect(env.find((e: { name: string }) => e.name === 'STATUS_SIGNING_SECRET')).toBeDefined();
  });

  /** The guide's layout: this repository beside my-install/, with eks/ (the overlay's copy and aws.env). */
  function layout(extra = ''): string {
    const root = join(scratch, `layout-${Math.random().toString(36).slice(2)}`);
    const mine = join(root, 'my-install');
    mkdirSync(mine, { recursive: true });
    const eks = eksOverlayCopy({
      AWS_REGION: 'eu-west-1',
      PUBSUB_ROLE_ARN: 'arn:aws:iam::444455556666:role/fleetiq-agones-pubsub',
      RECONCILER_ROLE_ARN: 'arn:aws:iam::444455556666:role/fleetiq-agones-reconciler',
    });
    const manifests = relative(mine, MANIFESTS_DIR);
    const kustomization = snippet('kustomization')
      .replace(/^(\s+- )eks$/m, `$1${relative(mine, eks)}`)
      .replaceAll('../fleetiq-agones/manifests/', `${manifests}/`);
    writeFileSync(join(mine, 'kustomization.yaml'), kustomization + (extra ? `\n${extra}\n` : '\n'));
    return mine;
  }

  it('7b: the kustomization builds EKS with cert-manager, monitoring and the ECR image', async () => {
    const objects = await renderKustomization(layout());
    expect(images(objects)).toEqual(
      new Set(['444455556666.dkr.ecr.eu-west-1.amazonaws.com/fleetiq-agones:0.1.0']),
    );
    expect(objects.filter((o) => o.kind === 'Certificate')).toHaveLength(2);
    expect(objects.filter((o) => o.kind === 'PodMonitor')).toHaveLength(3);
    expect(
      findObject(objects, 'ServiceAccount', 'fleetiq-agones-pubsub').metadata.annotations?.[
        'eks.amazonaws.com/role-arn'
      ],
    ).toBe('arn:aws:iam::444455556666:role/fleetiq-agones-pubsub');
    expect(JSON.stringify(objects)).not.toContain('111122223333');
  });

  it('7b: the Pod Identity patch leaves no IRSA annotation', async () => {
    const objects = await renderKustomization(layout(snippet('pod-identity-patch')));
    for (const c of ['pubsub', 'reconciler'])
      expect(
        findObject(objects, 'ServiceAccount', `fleetiq-agones-${c}`).metadata.annotations?.[
          'eks.amazonaws.com/role-arn'
        ],
      ).toBeUndefined();
  });

  it('states the supported Kubernetes version the chart declares', () => {
    const chart = parse(readFileSync(resolve(REPO_ROOT, 'charts/fleetiq-agones/Chart.yaml'), 'utf8'));
    const minor = /^>=1\.(\d+)\./.exec(chart.kubeVersion)![1];
    expect(GUIDE).toContain(`**1.${minor} or later.**`);
  });

  it('says plainly that Redis cluster mode is not supported', () => {
    expect(GUIDE).toMatch(/\*\*Cluster mode is not supported\.\*\*/);
    // The reason it gives: pubsub's publish script spans many keys (pubsub/publisher.ts).
    expect(readFileSync(resolve(REPO_ROOT, 'pubsub/publisher.ts'), 'utf8')).toMatch(
      /for i, k in ipairs\(KEYS\)/,
    );
  });
});
