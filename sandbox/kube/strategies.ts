// Per-type behaviour of the registry, as Kubernetes' REST strategies and scheme defaults do it:
// defaulting on decode, what create resets, what an update may touch, when generation bumps.
import { jsonEqual } from './json.js';
import type { ResourceType } from './resources.js';
import type { KubeObject } from './types.js';

const isMap = (v: unknown): v is Record<string, any> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const typeKey = (rt: ResourceType) => `${rt.group}/${rt.plural}`;

/** Types whose objects carry metadata.generation. */
export function hasGeneration(rt: ResourceType): boolean {
  if (rt.custom) return true;
  return ['/pods', 'apps/deployments', 'apps/daemonsets', 'policy/poddisruptionbudgets'].includes(
    typeKey(rt),
  );
}

function defaultContainer(c: any): void {
  if (!isMap(c)) return;
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
    const lastSegment = c.image.split('/').pop() ?? '';
    const tagged = lastSegment.includes(':') || c.image.includes('@');
    c.imagePullPolicy = !tagged || lastSegment.endsWith(':latest') ? 'Always' : 'IfNotPresent';
  }
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isMap(p)) p.protocol ??= 'TCP';
}

export function defaultPodSpec(spec: any): void {
  if (!isMap(spec)) return;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  if (Array.isArray(spec.tolerations))
    for (const t of spec.tolerations) if (isMap(t) && t.operator === undefined && t.key) t.operator = 'Equal';
}

/** Scheme defaulting, applied to every object decoded from a request (create, update, patch result). */
export function applyDefaults(rt: ResourceType, obj: KubeObject): void {
  switch (typeKey(rt)) {
    case '/pods':
      obj.spec ??= {};
      defaultPodSpec(obj.spec);
      break;
    case 'apps/deployments':
    case 'apps/daemonsets':
      if (isMap(obj.spec?.template)) defaultPodSpec(obj.spec.template.spec);
      if (rt.plural === 'deployments' && isMap(obj.spec)) obj.spec.replicas ??= 1;
      break;
    case '/services':
      obj.spec ??= {};
      obj.spec.type ??= 'ClusterIP';
      obj.spec.sessionAffinity ??= 'None';
      for (const p of obj.spec.ports ?? [])
        if (isMap(p)) {
          p.protocol ??= 'TCP';
          p.targetPort ??= p.port;
        }
      break;
    case '/namespaces':
      obj.spec ??= {};
      obj.spec.finalizers ??= ['kubernetes'];
      break;
    case '/secrets':
      obj.type ??= 'Opaque';
      break;
  }
}

function qosClass(spec: any): string {
  const containers: any[] = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = c?.resources?.requests ?? {};
    const lim = c?.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r])))
        guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** What create resets or fills in after admission (PrepareForCreate), beyond the common metadata. */
export function prepareForCreate(rt: ResourceType, obj: KubeObject, allocateClusterIP: () => string): void {
  switch (typeKey(rt)) {
    case '/pods':
      obj.status = { phase: 'Pending', qosClass: qosClass(obj.spec) };
      break;
    case '/namespaces':
      obj.status = { phase: 'Active' };
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name! };
      break;
    case '/services':
      if (obj.spec.type !== 'ExternalName' && !obj.spec.clusterIP) obj.spec.clusterIP = allocateClusterIP();
      if (obj.spec.clusterIP && obj.spec.clusterIP !== 'None') obj.spec.clusterIPs ??= [obj.spec.clusterIP];
      obj.status = { loadBalancer: {} };
      break;
    case 'apps/deployments':
    case 'apps/daemonsets':
    case 'policy/poddisruptionbudgets':
      obj.status = {};
      break;
  }
}

/** The part of an object whose change bumps metadata.generation. */
function generationContent(rt: ResourceType, obj: KubeObject): unknown {
  if (rt.custom) {
    // Custom resources without a status subresource: everything but metadata counts.
    const { metadata: _m, ...rest } = obj;
    return rest;
  }
  return obj.spec;
}

export function generationChanged(rt: ResourceType, next: KubeObject, prev: KubeObject): boolean {
  return !jsonEqual(generationContent(rt, next), generationContent(rt, prev));
}
