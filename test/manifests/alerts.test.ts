// The monitoring component's alert rules: unit-tested with Prometheus' own `promtool test rules`
// (alerts.promtool.yaml: a case that fires and one that must not, for every alert), valid for
// `promtool check rules` (templates included), over metrics the components really export, each with a
// runbook in the README.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { baseName, metricsDefinedInCode, selectedMetrics } from './promql.js';
import { REPO_ROOT, findObject, renderOverlay } from './render.js';

const run = promisify(execFile);

/** PROMTOOL, else promtool on PATH, else where scripts/ensure-test-deps.sh unpacks it. */
function findPromtool(): string {
  if (process.env.PROMTOOL) return process.env.PROMTOOL;
  for (const dir of (process.env.PATH ?? '').split(delimiter))
    if (dir && existsSync(join(dir, 'promtool'))) return join(dir, 'promtool');
  const cached = join(
    process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
    'fleetiq-agones/prometheus/usr/bin/promtool',
  );
  if (existsSync(cached)) return cached;
  throw new Error(
    'promtool not found: run `bash scripts/ensure-test-deps.sh` (npm test does) or set PROMTOOL',
  );
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

let objects: KubeObject[];
let groups: Array<{ name: string; rules: Rule[] }>;
let dir: string;
let promtool: string;

beforeAll(async () => {
  objects = await renderOverlay('monitoring');
  groups = findObject(objects, 'PrometheusRule', 'fleetiq-agones').spec.groups;
  dir = mkdtempSync(join(tmpdir(), 'fleetiq-alerts-'));
  promtool = findPromtool();
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const alerts = () => groups.flatMap((g) => g.rules);

async function promtoolRun(args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(promtool, args, { cwd: dir });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

describe('PrometheusRule fleetiq-agones', () => {
  it('passes promtool check rules, templates included', async () => {
    writeFileSync(join(dir, 'full.yaml'), toYaml({ groups }));
    expect(await promtoolRun(['check', 'rules', 'full.yaml'])).toContain(
      `SUCCESS: ${alerts().length} rules found`,
    );
  }, 30_000);

  it('passes its promtool unit tests, and they cover every alert', async () => {
    // Annotations are prose for people (checked above); the unit tests pin expressions, durations
    // and labels.
    const bare = groups.map((g) => ({
      ...g,
      rules: g.rules.map(({ annotations: _annotations, ...rule }) => rule),
    }));
    writeFileSync(join(dir, 'rules.yaml'), toYaml({ groups: bare }));
    const tests = parseYaml(readFileSync(join(REPO_ROOT, 'test/manifests/alerts.promtool.yaml'), 'utf8'));
    const tested = new Set(
      tests.tests.flatMap((t: any) => t.alert_rule_test.map((a: { alertname: string }) => a.alertname)),
    );
    expect([...new Set(alerts().map((a) => a.alert))].filter((a) => !tested.has(a))).toEqual([]);
    writeFileSync(join(dir, 'tests.yaml'), toYaml({ ...tests, rule_files: ['rules.yaml'] }));
    expect(await promtoolRun(['test', 'rules', 'tests.yaml'])).toContain('SUCCESS');
  }, 60_000);

  it('covers what must page someone', () => {
    expect([...new Set(alerts().map((a) => a.alert))].sort()).toEqual(
      [
        'FleetIQWebhookCertificateExpiresSoon',
        'FleetIQWebhookErrors',
        'FleetIQWebhookSlow',
        'FleetIQWebhookDown',
        'FleetIQPubsubNoLeader',
        'FleetIQStatusesStale',
        'FleetIQStatusTampering',
        'FleetIQDrainPastMaxWait',
        'FleetIQNodeStranded',
        'FleetIQAgentNotReady',
      ].sort(),
    );
    for (const a of alerts()) {
      expect({ alert: a.alert, severity: a.labels?.severity }).toEqual({
        alert: a.alert,
        severity: expect.stringMatching(/^(warning|critical)$/),
      });
      expect(a.annotations?.summary).toBeTruthy();
      expect(a.annotations?.description).toBeTruthy();
    }
  });

  it('queries only metrics the components export (and Prometheus` own up)', () => {
    const defined = metricsDefinedInCode();
    defined.add('up');
    for (const a of alerts())
      for (const series of selectedMetrics(a.expr))
        expect({
          alert: a.alert,
          metric: baseName(series, defined),
          known: defined.has(baseName(series, defined)),
        }).toEqual({
          alert: a.alert,
          metric: baseName(series, defined),
          known: true,
        });
  });

  it('points every alert at a runbook section of the README', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    // GitHub's anchors: the heading lower-cased, spaces to hyphens, punctuation dropped.
    const anchors = new Set(
      [...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N} _-]/gu, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const a of alerts()) {
      const runbook = a.annotations?.runbook ?? '';
      expect({ alert: a.alert, runbook }).toEqual({
        alert: a.alert,
        runbook: expect.stringMatching(/^README\.md#/),
      });
      expect({ alert: a.alert, section: anchors.has(runbook.slice('README.md#'.length)) }).toEqual({
        alert: a.alert,
        section: true,
      });
    }
  });
});
