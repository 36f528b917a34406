// The pinned Helm (scripts/build-helm.sh builds it once from testbed/helm, or HELM names one) run on
// charts/fleetiq-agones, and what the chart tests compare: its objects beside kustomize's.
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll } from '@jest/globals';
import { SetupError } from '../../sandbox/run/redis-process.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { NAMESPACE, parseManifests, REPO_ROOT } from '../manifests/render.js';

const run = promisify(execFile);

export const CHART_DIR = resolve(REPO_ROOT, 'charts/fleetiq-agones');

/** The chart-testing convention: every ci/*-values.yaml must lint and render. */
export const CI_VALUES = readdirSync(join(CHART_DIR, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();

export const ciValues = (file: string) => join(CHART_DIR, 'ci', file);

let binary: string | undefined;

/** The helm binary, built first when needed (minutes, once). */
export function helmBinary(): string {
  if (binary) return binary;
  const script = join(REPO_ROOT, 'scripts', 'build-helm.sh');
  const r = spawnSync('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.error) throw new SetupError(`could not run ${script}: ${r.error.message}`);
  if (r.status !== 0) throw new SetupError(`${script} failed (exit ${r.status}); its messages are above`);
  const path = resolve(r.stdout.trim().split('\n').pop() ?? '');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new SetupError(`${path} is missing or not executable (from ${script})`);
  }
  binary = path;
  return path;
}

/**
 * Builds (or finds) helm before a file's tests: a cold build takes minutes, longer than one test may.
 * pretest builds it already; this is for a test file run on its own on a fresh clone.
 */
export function useHelm(): void {
  beforeAll(() => {
    helmBinary();
  }, 900_000);
}

// Helm's own folders in a temporary place: the tests never read or write the user's ~/.config/helm.
const helmHome = mkdtempSync(join(tmpdir(), 'fleetiq-helm-home-'));
process.once('exit', () => rmSync(helmHome, { recursive: true, force: true }));

export interface HelmRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with `args`; resolves with the exit code and both outputs, whatever the code. */
export async function runHelm(args: string[]): Promise<HelmRun> {
  try {
    const { stdout, stderr } = await run(helmBinary(), args, {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: helmHome,
        HELM_CACHE_HOME: join(helmHome, 'cache'),
        HELM_CONFIG_HOME: join(helmHome, 'config'),
        HELM_DATA_HOME: join(helmHome, 'data'),
        // helm template talks to no cluster; an empty kubeconfig makes sure of it.
        KUBECONFIG: join(helmHome, 'no-kubeconfig'),
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** Helm's arguments for values files and --set pairs. */
function valuesArgs(valuesFiles: string[], set: string[]): string[] {
  return [...valuesFiles.flatMap((f) => ['-f', f]), ...set.flatMap((s) => ['--set', s])];
}

/** `helm template` of the chart, as `helm install -n <namespace>` would render it. */
export function helmTemplateRun(valuesFiles: string[], set: string[] = [], namespace = NAMESPACE) {
  return runHelm(['template', 'fleetiq-agones', CHART_DIR, '-n', namespace, ...valuesArgs(valuesFiles, set)]);
}

/** The rendered YAML; throws with Helm's words when it refuses. */
export async function helmTemplateYaml(valuesFiles: string[], set: string[] = []): Promise<string> {
  const r = await helmTemplateRun(valuesFiles, set);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return r.stdout;
}

/** The rendered objects, one per YAML document. */
export async function renderChart(valuesFiles: string[], set: string[] = []): Promise<KubeObject[]> {
  return parseManifests(await helmTemplateYaml(valuesFiles, set), 'helm template');
}

/** `helm lint --strict` of the chart with these values. */
export function helmLint(valuesFiles: string[], set: string[] = []): Promise<HelmRun> {
  return runHelm(['lint', '--strict', CHART_DIR, ...valuesArgs(valuesFiles, set)]);
}

/** The labels Helm's chart adds to each object's metadata (never to selectors or pod templates). */
export const RELEASE_LABELS = [
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'helm.sh/chart',
];

/** The settings ConfigMap's name carries a hash of its content, computed differently by each tool. */
const SETTINGS_NAME = /^fleetiq-agones-settings-[a-z0-9]+$/;

/** Where CEL sits in admission policies and webhook configurations. */
const CEL_KEYS = new Set(['expression', 'messageExpression']);

const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

/**
 * One installation's objects keyed by kind, namespace and name, with what may legitimately differ
 * between the chart and kustomize taken out:
 * - the labels Helm adds (RELEASE_LABELS) in metadata;
 * - the hash suffix of the settings ConfigMap's name (each tool names it after its content its own way),
 *   in its name and wherever it is referred to;
 * - fleetiq.conf compared as the JSON it is (spacing differs);
 * - runs of white space in CEL expressions, where they mean nothing (kustomize re-serialises the folded
 *   YAML scalars that hold them, and keeps the line breaks of their more-indented lines differently);
 * - the order of a container's env, volumeMounts and a pod's volumes (each is keyed by name).
 */
export function normalise(objects: KubeObject[]): Record<string, KubeObject> {
  const out: Record<string, KubeObject> = {};
  for (const original of objects) {
    const o = JSON.parse(JSON.stringify(original), (k, v) =>
      typeof v !== 'string'
        ? v
        : SETTINGS_NAME.test(v)
          ? 'fleetiq-agones-settings'
          : CEL_KEYS.has(k)
            ? v.replace(/\s+/g, ' ')
            : v,
    ) as KubeObject;
    const labels = o.metadata.labels;
    if (labels) for (const l of RELEASE_LABELS) delete labels[l];
    if (o.kind === 'ConfigMap' && o.data?.['fleetiq.conf'] !== undefined)
      o.data['fleetiq.conf'] = JSON.parse(o.data['fleetiq.conf']);
    const pod = o.spec?.template?.spec;
    if (pod) {
      pod.volumes?.sort(byName);
      for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])]) {
        c.env?.sort(byName);
        c.volumeMounts?.sort(byName);
      }
    }
    const id = `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (out[id]) throw new Error(`${id} rendered twice`);
    out[id] = o;
  }
  return out;
}
