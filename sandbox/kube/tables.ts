// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for, with the columns the
// real printers (and Agones' CRD printer columns) produce, so kubectl output looks as on a cluster.
import type { ResourceType } from './resources.js';
import type { KubeObject } from './types.js';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

type Cell = string | number | boolean;

interface Printer {
  columns: Array<[name: string, type: string, priority?: number, format?: string]>;
  row(obj: KubeObject, now: number): Cell[];
}

/** apimachinery's duration.HumanDuration: the AGE column. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    const y = Math.floor(hours / 24 / 365);
    return dy === 0 ? `${y}y` : `${y}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function age(ts: string | undefined, now: number): string {
  if (!ts) return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

const orNone = (v: unknown) => (v === undefined || v === null || v === '' ? '<none>' : String(v));
const orUnknown = (v: unknown) => (v === undefined || v === null || v === '' ? '<unknown>' : String(v));

function podStatus(pod: KubeObject): string {
  let reason: string = pod.status?.reason || pod.status?.phase || 'Unknown';
  for (const cs of (pod.status?.containerStatuses ?? []) as any[]) {
    if (cs?.state?.waiting?.reason) reason = cs.state.waiting.reason;
    else if (cs?.state?.terminated?.reason) reason = cs.state.terminated.reason;
  }
  if (pod.metadata.deletionTimestamp) reason = pod.status?.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

function nodeStatus(node: KubeObject): string {
  const ready = ((node.status?.conditions ?? []) as any[]).find((c) => c?.type === 'Ready');
  const parts = [ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

function nodeRoles(node: KubeObject): string {
  const roles: string[] = [];
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.push(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.push(v);
  }
  return roles.length ? roles.sort().join(',') : '<none>';
}

const nodeAddress = (node: KubeObject, type: string) =>
  orNone(((node.status?.addresses ?? []) as any[]).find((a) => a?.type === type)?.address);

function intOrPercent(v: unknown): string {
  return v === undefined || v === null ? 'N/A' : String(v);
}

/** The printer columns of Agones' Fleet and GameServerSet: replica counts by state. */
function replicaSetTable(): Printer {
  return {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Scheduling', 'string'],
      ['Desired', 'integer'],
      ['Current', 'integer'],
      ['Allocated', 'integer'],
      ['Ready', 'integer'],
      ['Age', 'date'],
    ],
    row: (f, now) => [
      f.metadata.name ?? '',
      f.spec?.scheduling ?? '',
      f.spec?.replicas ?? 0,
      f.status?.replicas ?? 0,
      f.status?.allocatedReplicas ?? 0,
      f.status?.readyReplicas ?? 0,
      age(f.metadata.creationTimestamp, now),
    ],
  };
}

const PRINTERS: Record<string, Printer> = {
  '/pods': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Ready', 'string'],
      ['Status', 'string'],
      ['Restarts', 'string'],
      ['Age', 'string'],
      ['IP', 'string', 1],
      ['Node', 'string', 1],
      ['Nominated Node', 'string', 1],
      ['Readiness Gates', 'string', 1],
    ],
    row(pod, now) {
      const statuses = (pod.status?.containerStatuses ?? []) as any[];
      const total = (pod.spec?.containers ?? []).length;
      const ready = statuses.filter((c) => c?.ready).length;
      const restarts = statuses.reduce((n, c) => n + (c?.restartCount ?? 0), 0);
      return [
        pod.metadata.name ?? '',
        `${ready}/${total}`,
        podStatus(pod),
        String(restarts),
        age(pod.metadata.creationTimestamp, now),
        orNone(pod.status?.podIP),
        orNone(pod.spec?.nodeName),
        orNone(pod.status?.nominatedNodeName),
        '<none>',
      ];
    },
  },
  '/nodes': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Status', 'string'],
      ['Roles', 'string'],
      ['Age', 'string'],
      ['Version', 'string'],
      ['Internal-IP', 'string', 1],
      ['External-IP', 'string', 1],
      ['OS-Image', 'string', 1],
      ['Kernel-Version', 'string', 1],
      ['Container-Runtime', 'string', 1],
    ],
    row(node, now) {
      const info = node.status?.nodeInfo ?? {};
      return [
        node.metadata.name ?? '',
        nodeStatus(node),
        nodeRoles(node),
        age(node.metadata.creationTimestamp, now),
        // printNode: the kubelet version as it is (empty when unknown), the others '<unknown>'.
        String(info.kubeletVersion ?? ''),
        nodeAddress(node, 'InternalIP'),
        nodeAddress(node, 'ExternalIP'),
        orUnknown(info.osImage),
        orUnknown(info.kernelVersion),
        orUnknown(info.containerRuntimeVersion),
      ];
    },
  },
  '/events': {
    columns: [
      ['Last Seen', 'string'],
      ['Type', 'string'],
      ['Reason', 'string'],
      ['Object', 'string'],
      ['Subobject', 'string', 1],
      ['Source', 'string', 1],
      ['Message', 'string'],
      ['First Seen', 'string', 1],
      ['Count', 'string', 1],
      ['Name', 'string', 1, 'name'],
    ],
    row(ev, now) {
      const last = ev.lastTimestamp || ev.eventTime || ev.metadata.creationTimestamp;
      const first = ev.firstTimestamp || ev.eventTime || ev.metadata.creationTimestamp;
      const io = ev.involvedObject ?? {};
      const source = ev.source?.component
        ? [ev.source.component, ev.source.host].filter(Boolean).join(', ')
        : ev.reportingComponent;
      return [
        age(last, now),
        ev.type ?? '',
        ev.reason ?? '',
        `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`,
        io.fieldPath ?? '',
        orNone(source),
        String(ev.message ?? '').trim(),
        age(first, now),
        String(ev.count ?? 1),
        ev.metadata.name ?? '',
      ];
    },
  },
  '/namespaces': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Status', 'string'],
      ['Age', 'string'],
    ],
    row: (ns, now) => [
      ns.metadata.name ?? '',
      ns.status?.phase ?? '',
      age(ns.metadata.creationTimestamp, now),
    ],
  },
  'apps/deployments': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Ready', 'string'],
      ['Up-to-date', 'string'],
      ['Available', 'string'],
      ['Age', 'string'],
    ],
    row: (d, now) => [
      d.metadata.name ?? '',
      `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
      String(d.status?.updatedReplicas ?? 0),
      String(d.status?.availableReplicas ?? 0),
      age(d.metadata.creationTimestamp, now),
    ],
  },
  'apps/daemonsets': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Desired', 'string'],
      ['Current', 'string'],
      ['Ready', 'string'],
      ['Up-to-date', 'string'],
      ['Available', 'string'],
      ['Node Selector', 'string'],
      ['Age', 'string'],
    ],
    row: (d, now) => [
      d.metadata.name ?? '',
      String(d.status?.desiredNumberScheduled ?? 0),
      String(d.status?.currentNumberScheduled ?? 0),
      String(d.status?.numberReady ?? 0),
      String(d.status?.updatedNumberScheduled ?? 0),
      String(d.status?.numberAvailable ?? 0),
      orNone(
        Object.entries(d.spec?.template?.spec?.nodeSelector ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      ),
      age(d.metadata.creationTimestamp, now),
    ],
  },
  'policy/poddisruptionbudgets': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Min Available', 'string'],
      ['Max Unavailable', 'string'],
      ['Allowed Disruptions', 'integer'],
      ['Age', 'string'],
    ],
    row: (p, now) => [
      p.metadata.name ?? '',
      intOrPercent(p.spec?.minAvailable),
      intOrPercent(p.spec?.maxUnavailable),
      p.status?.disruptionsAllowed ?? 0,
      age(p.metadata.creationTimestamp, now),
    ],
  },
  'coordination.k8s.io/leases': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['Holder', 'string'],
      ['Age', 'string'],
    ],
    row: (l, now) => [
      l.metadata.name ?? '',
      l.spec?.holderIdentity ?? '',
      age(l.metadata.creationTimestamp, now),
    ],
  },
  // Agones' CRD additionalPrinterColumns (Name first, as for any CRD).
  'agones.dev/gameservers': {
    columns: [
      ['Name', 'string', 0, 'name'],
      ['State', 'string'],
      ['Address', 'string'],
      ['Port', 'string'],
      ['Node', 'string'],
      ['Age', 'date'],
    ],
    row: (gs, now) => [
      gs.metadata.name ?? '',
      gs.status?.state ?? '',
      gs.status?.address ?? '',
      gs.status?.ports?.[0]?.port !== undefined ? String(gs.status.ports[0].port) : '',
      gs.status?.nodeName ?? '',
      age(gs.metadata.creationTimestamp, now),
    ],
  },
  // Fleets and GameServerSets print the same columns (Agones' CRDs declare the same printer columns).
  'agones.dev/fleets': replicaSetTable(),
  'agones.dev/gameserversets': replicaSetTable(),
};

/** The default table of a type without a printer: Name and Created At. */
const DEFAULT_PRINTER: Printer = {
  columns: [
    ['Name', 'string', 0, 'name'],
    ['Created At', 'date'],
  ],
  row: (obj) => [obj.metadata.name ?? '', obj.metadata.creationTimestamp ?? ''],
};

function printerFor(rt: ResourceType): Printer {
  // events.k8s.io events are printed from the stored core form, as the core printer does.
  const key = rt.storage ? `${rt.storage.group}/${rt.storage.resource}` : `${rt.group}/${rt.plural}`;
  return PRINTERS[key] ?? DEFAULT_PRINTER;
}

export function columnDefinitions(rt: ResourceType): ColumnDefinition[] {
  return printerFor(rt).columns.map(([name, type, priority, format]) => ({
    name,
    type,
    format: format ?? '',
    description: name,
    priority: priority ?? 0,
  }));
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** A row; `stored` is the stored form, `view` what the client asked for (they differ for views). */
export function tableRow(
  rt: ResourceType,
  stored: KubeObject,
  view: KubeObject,
  now: number,
  include: IncludeObject,
) {
  const row: Record<string, unknown> = { cells: printerFor(rt).row(stored, now) };
  if (include === 'Object') row.object = view;
  else if (include === 'Metadata')
    row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: view.metadata };
  return row;
}

export function table(
  rt: ResourceType,
  rows: Array<{ stored: KubeObject; view: KubeObject }>,
  meta: { resourceVersion?: string; continue?: string; remainingItemCount?: number },
  now: number,
  include: IncludeObject,
  withColumns = true,
): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: withColumns ? columnDefinitions(rt) : [],
    rows: rows.map((r) => tableRow(rt, r.stored, r.view, now, include)),
  };
}
