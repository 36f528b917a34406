// Helpers the manifest tests share: the pod templates of rendered workloads and their containers.
import type { KubeObject } from '../../sandbox/kube/types.js';
import { describeObject } from './schema-check.js';

export interface PodTemplate {
  /** The workload, e.g. "Deployment fleetiq-system/fleetiq-agones-webhook". */
  owner: string;
  object: KubeObject;
  labels: Record<string, string>;
  spec: any;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job']);

/** Every pod template of the rendered objects (and bare Pods). */
export function podTemplates(objects: KubeObject[]): PodTemplate[] {
  const out: PodTemplate[] = [];
  for (const o of objects) {
    if (WORKLOAD_KINDS.has(o.kind)) {
      out.push({
        owner: describeObject(o),
        object: o,
        labels: o.spec?.template?.metadata?.labels ?? {},
        spec: o.spec?.template?.spec ?? {},
      });
    } else if (o.kind === 'CronJob') {
      const t = o.spec?.jobTemplate?.spec?.template;
      out.push({
        owner: describeObject(o),
        object: o,
        labels: t?.metadata?.labels ?? {},
        spec: t?.spec ?? {},
      });
    } else if (o.kind === 'Pod') {
      out.push({ owner: describeObject(o), object: o, labels: o.metadata?.labels ?? {}, spec: o.spec ?? {} });
    }
  }
  return out;
}

/** Every container of a pod template, init containers included, with where it is. */
export function containersOf(t: PodTemplate): { where: string; container: any; init: boolean }[] {
  return [
    ...(t.spec.initContainers ?? []).map((c: any) => ({
      where: `${t.owner} initContainer ${c.name}`,
      container: c,
      init: true,
    })),
    ...(t.spec.containers ?? []).map((c: any) => ({
      where: `${t.owner} container ${c.name}`,
      container: c,
      init: false,
    })),
  ];
}

/** The pod template of the workload running `component` (label app.kubernetes.io/component). */
export function templateOf(objects: KubeObject[], component: string): PodTemplate {
  const found = podTemplates(objects).filter((t) => t.labels['app.kubernetes.io/component'] === component);
  if (found.length !== 1) throw new Error(`expected one workload for ${component}, found ${found.length}`);
  return found[0]!;
}

/** True when a label selector (matchLabels + matchExpressions) selects these labels. */
export function selects(selector: any, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !e.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && e.values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  }
  return true;
}

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

/** A resource quantity (the forms these manifests use: 500m, 1, 256Mi, 1Gi) as a number. */
export function quantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(value);
  if (!m) throw new Error(`unsupported quantity "${value}"`);
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}
