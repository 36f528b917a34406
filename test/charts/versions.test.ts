// One version for everything released together, package.json being the source: the chart's version
// and appVersion, the image tag the chart and manifests/base deploy, the lock file, and the
// CHANGELOG's newest entry. Each place that states the version is one row of VERSION_STATED_BY.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { REPO_ROOT } from '../manifests/render.js';
import { VERSION } from '../../shared/version.js';
import { CHART_DIR, ciValues, renderChart, useHelm } from './helm.js';

useHelm();

const read = (p: string) => readFileSync(resolve(REPO_ROOT, p), 'utf8');

/** The version, as package.json states it. */
const PRODUCT_VERSION = JSON.parse(read('package.json')).version as string;

const chart = parse(readFileSync(resolve(CHART_DIR, 'Chart.yaml'), 'utf8'));
const kustomization = parse(read('manifests/base/kustomization.yaml'));

const VERSION_STATED_BY: Array<[where: string, version: () => string | Promise<string>]> = [
  ['package-lock.json', () => JSON.parse(read('package-lock.json')).version],
  // What `fleetiq-agones --version` prints (test/shared/cli-layout.test.ts runs the command itself).
  ['--version of every component', () => VERSION],
  ['Chart.yaml version', () => chart.version],
  ['Chart.yaml appVersion', () => chart.appVersion],
  [
    'manifests/base image tag',
    () => kustomization.images.find((i: { name: string }) => i.name === 'fleetiq-agones').newTag,
  ],
  [
    'the image tag the chart deploys by default',
    async () => {
      const objects = await renderChart([ciValues('base-values.yaml')]);
      const tags = new Set(
        objects
          .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
          .flatMap((o) =>
            o.spec.template.spec.containers.map((c: { image: string }) => c.image.split(':').pop()!),
          ),
      );
      expect(tags.size).toBe(1);
      return [...tags][0]!;
    },
  ],
  ['CHANGELOG.md newest entry', () => /^## \[(\d+\.\d+\.\d+[^\]]*)\]/m.exec(read('CHANGELOG.md'))?.[1] ?? ''],
];

describe(`version ${PRODUCT_VERSION} (package.json)`, () => {
  it('is a semantic version', () => {
    expect(PRODUCT_VERSION).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  });

  it.each(VERSION_STATED_BY)('is the one %s states', async (_where, version) => {
    expect(await version()).toBe(PRODUCT_VERSION);
  });

  it('has a CHANGELOG entry with a link to its release', () => {
    expect(read('CHANGELOG.md')).toContain(
      `[${PRODUCT_VERSION}]: https://github.com/fleetiq-agones/fleetiq-agones/releases/tag/v${PRODUCT_VERSION}`,
    );
  });
});
