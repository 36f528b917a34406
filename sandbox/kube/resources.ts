// The resources the emulated API server serves: names, scope, verbs, subresources, the fields a
// field selector may use, the strategic-merge-patch keys of each type, and how deletes answer.
import type { KubeObject, Verb } from './types.js';

/** What a strategic merge patch knows about one field (Kubernetes' patchStrategy/patchMergeKey tags). */
export interface SmpField {
  /** A list of objects merged element-wise by this key (`patchMergeKey`). */
  mergeKey?: string;
  /** A list of scalars merged as a set (`patchStrategy:"merge"` without a key, e.g. finalizers). */
  mergeScalars?: boolean;
  /** Fields of the nested object, or of each element of a keyed list. */
  fields?: SmpSchema;
}
export type SmpSchema = Record<string, SmpField>;

export interface SubresourceDef {
  name: string;
  kind: string;
  verbs: Verb[];
  /** Set when the subresource's kind lives in another group (pods/eviction is policy/v1 Eviction). */
  group?: string;
  version?: string;
}

export type FieldGetter = (obj: KubeObject) => string;

/** A custom resource's scale subresource (the CRD's `subresources.scale`), paths as JSONPath (`.spec.replicas`). */
export interface ScaleDef {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export type NameRule = 'subdomain' | 'label' | 'dns1035' | 'path';

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: Verb[];
  subresources: SubresourceDef[];
  /** Status is written only through /status; the main resource ignores it (and spec changes bump generation). */
  statusSubresource: boolean;
  /** Fields a field selector may use, read from the STORED form of the object. */
  fieldSelectors: Record<string, FieldGetter>;
  /** Strategic merge patch schema; undefined means the type does not accept strategic merge patches (CRDs). */
  smp?: SmpSchema;
  nameRule: NameRule;
  /** DELETE answers with the object (pods, services, namespaces) rather than a Success Status. */
  returnDeletedObject: boolean;
  /** Not stored: create hands the body to a registered handler (GameServerAllocation). */
  virtual?: boolean;
  /** Another resource's storage viewed through a conversion (events.k8s.io/v1 events are core events). */
  storage?: { group: string; resource: string };
  view?: { fromStorage(obj: KubeObject): KubeObject; toStorage(obj: KubeObject): KubeObject };
  /** A custom resource: no strategic merge patch; generation bumps on any change but metadata (and status). */
  custom: boolean;
  /** The /scale subresource (autoscaling/v1 Scale) of a custom resource. */
  scale?: ScaleDef;
}

export const ALL_VERBS: Verb[] = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
];
const READ_WRITE_STATUS: Verb[] = ['get', 'patch', 'update'];

export function apiVersionOf(rt: { group: string; version: string }): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

/** The key a resource is stored under: the resource itself, or the resource whose storage it views. */
export function storageKey(rt: ResourceType): string {
  const s = rt.storage ?? { group: rt.group, resource: rt.plural };
  return `${s.group}/${s.resource}`;
}

// ---------- field getters ----------

function path(obj: any, parts: string[]): unknown {
  let cur = obj;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[p];
  }
  return cur;
}

/** A field selector value: strings as they are, booleans and numbers formatted, absent as "". */
function field(dotted: string): FieldGetter {
  const parts = dotted.split('.');
  return (obj) => {
    const v = path(obj, parts);
    if (v === undefined || v === null) return '';
    return typeof v === 'string' ? v : String(v);
  };
}

function boolField(dotted: string): FieldGetter {
  const parts = dotted.split('.');
  return (obj) => (path(obj, parts) === true ? 'true' : 'false');
}

const metaFields: Record<string, FieldGetter> = {
  'metadata.name': field('metadata.name'),
  'metadata.namespace': field('metadata.namespace'),
};

const podFields: Record<string, FieldGetter> = {
  ...metaFields,
  'spec.nodeName': field('spec.nodeName'),
  'spec.restartPolicy': field('spec.restartPolicy'),
  'spec.schedulerName': field('spec.schedulerName'),
  'spec.serviceAccountName': field('spec.serviceAccountName'),
  'spec.hostNetwork': boolField('spec.hostNetwork'),
  'status.phase': field('status.phase'),
  'status.podIP': field('status.podIP'),
  'status.nominatedNodeName': field('status.nominatedNodeName'),
};

const eventFields: Record<string, FieldGetter> = {
  ...metaFields,
  'involvedObject.kind': field('involvedObject.kind'),
  'involvedObject.namespace': field('involvedObject.namespace'),
  'involvedObject.name': field('involvedObject.name'),
  'involvedObject.uid': field('involvedObject.uid'),
  'involvedObject.apiVersion': field('involvedObject.apiVersion'),
  'involvedObject.resourceVersion': field('involvedObject.resourceVersion'),
  'involvedObject.fieldPath': field('involvedObject.fieldPath'),
  reason: field('reason'),
  reportingComponent: field('reportingComponent'),
  source: field('source.component'),
  type: field('type'),
};

// events.k8s.io/v1 names the same stored fields after its own schema.
const eventsV1Fields: Record<string, FieldGetter> = {
  ...eventFields,
  'regarding.kind': eventFields['involvedObject.kind'],
  'regarding.namespace': eventFields['involvedObject.namespace'],
  'regarding.name': eventFields['involvedObject.name'],
  'regarding.uid': eventFields['involvedObject.uid'],
  'regarding.apiVersion': eventFields['involvedObject.apiVersion'],
  'regarding.resourceVersion': eventFields['involvedObject.resourceVersion'],
  'regarding.fieldPath': eventFields['involvedObject.fieldPath'],
  reportingController: field('reportingComponent'),
};

// ---------- strategic merge patch schemas (from the Go types' struct tags) ----------

const metadataSmp: SmpSchema = {
  finalizers: { mergeScalars: true },
  ownerReferences: { mergeKey: 'uid' },
};

const containerSmp: SmpSchema = {
  ports: { mergeKey: 'containerPort' },
  env: { mergeKey: 'name' },
  volumeMounts: { mergeKey: 'mountPath' },
  volumeDevices: { mergeKey: 'devicePath' },
};

// tolerations: no patch strategy, a patch replaces the whole list.
const podSpecSmp: SmpSchema = {
  containers: { mergeKey: 'name', fields: containerSmp },
  initContainers: { mergeKey: 'name', fields: containerSmp },
  ephemeralContainers: { mergeKey: 'name', fields: containerSmp },
  volumes: { mergeKey: 'name' },
  imagePullSecrets: { mergeKey: 'name' },
  hostAliases: { mergeKey: 'ip' },
  topologySpreadConstraints: { mergeKey: 'topologyKey' },
  schedulingGates: { mergeKey: 'name' },
  resourceClaims: { mergeKey: 'name' },
};

const conditionsByType: SmpField = { mergeKey: 'type' };

const podSmp: SmpSchema = {
  metadata: { fields: metadataSmp },
  spec: { fields: podSpecSmp },
  status: {
    fields: { conditions: conditionsByType, podIPs: { mergeKey: 'ip' }, hostIPs: { mergeKey: 'ip' } },
  },
};

// node taints: no patch strategy, replaced whole.
const nodeSmp: SmpSchema = {
  metadata: { fields: metadataSmp },
  spec: { fields: { podCIDRs: { mergeScalars: true } } },
  status: { fields: { conditions: conditionsByType, addresses: { mergeKey: 'type' } } },
};

const podTemplateSmp: SmpField = {
  fields: { metadata: { fields: metadataSmp }, spec: { fields: podSpecSmp } },
};

const workloadSmp: SmpSchema = {
  metadata: { fields: metadataSmp },
  spec: { fields: { template: podTemplateSmp } },
  status: { fields: { conditions: conditionsByType } },
};

const plainSmp: SmpSchema = { metadata: { fields: metadataSmp } };

// ---------- events.k8s.io/v1 <-> core/v1 Event ----------

const eventRenames: Array<[string, string]> = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];

function renameFields(obj: KubeObject, pairs: Array<[string, string]>, apiVersion: string): KubeObject {
  const out: KubeObject = { ...obj, apiVersion, kind: 'Event' };
  for (const [from, to] of pairs) {
    if (from in out) {
      const v = out[from];
      delete out[from];
      if (v !== undefined && v !== null) out[to] = v;
    }
  }
  return out;
}

const eventsV1View = {
  fromStorage: (obj: KubeObject) =>
    renameFields(
      obj,
      eventRenames.map(([a, b]) => [b, a] as [string, string]),
      'events.k8s.io/v1',
    ),
  toStorage: (obj: KubeObject) => renameFields(obj, eventRenames, 'v1'),
};

// ---------- the registry ----------

interface Def extends Partial<ResourceType> {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

function define(d: Def): ResourceType {
  return {
    singular: d.kind.toLowerCase(),
    shortNames: [],
    categories: [],
    verbs: d.virtual ? ['create'] : ALL_VERBS,
    subresources: [],
    statusSubresource: false,
    fieldSelectors: metaFields,
    smp: d.custom ? undefined : plainSmp,
    nameRule: 'subdomain',
    returnDeletedObject: false,
    custom: false,
    ...d,
  };
}

const statusSub = (kind: string): SubresourceDef => ({ name: 'status', kind, verbs: READ_WRITE_STATUS });
const scaleSub: SubresourceDef = {
  name: 'scale',
  kind: 'Scale',
  group: 'autoscaling',
  version: 'v1',
  verbs: READ_WRITE_STATUS,
};
// What Agones' CRDs declare for GameServerSet and Fleet (install/helm/agones/templates/crds).
const agonesReplicasScale: ScaleDef = {
  specReplicasPath: '.spec.replicas',
  statusReplicasPath: '.status.replicas',
  labelSelectorPath: '.status.labelSelector',
};

export const BUILTIN_RESOURCES: ResourceType[] = [
  define({
    group: '',
    version: 'v1',
    plural: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    nameRule: 'label',
    statusSubresource: true,
    subresources: [statusSub('Namespace'), { name: 'finalize', kind: 'Namespace', verbs: ['update'] }],
    fieldSelectors: { ...metaFields, 'status.phase': field('status.phase') },
    returnDeletedObject: true,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  define({
    group: '',
    version: 'v1',
    plural: 'nodes',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    statusSubresource: true,
    subresources: [statusSub('Node')],
    fieldSelectors: { ...metaFields, 'spec.unschedulable': boolField('spec.unschedulable') },
    smp: nodeSmp,
  }),
  define({
    group: '',
    version: 'v1',
    plural: 'pods',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    statusSubresource: true,
    subresources: [
      statusSub('Pod'),
      { name: 'eviction', kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] },
      { name: 'binding', kind: 'Binding', verbs: ['create'] },
    ],
    fieldSelectors: podFields,
    smp: podSmp,
    returnDeletedObject: true,
  }),
  define({
    group: '',
    version: 'v1',
    plural: 'configmaps',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
  }),
  define({
    group: '',
    version: 'v1',
    plural: 'secrets',
    kind: 'Secret',
    namespaced: true,
    fieldSelectors: { ...metaFields, type: field('type') },
  }),
  define({
    group: '',
    version: 'v1',
    plural: 'services',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    nameRule: 'dns1035',
    statusSubresource: true,
    subresources: [statusSub('Service')],
    fieldSelectors: {
      ...metaFields,
      'spec.clusterIP': field('spec.clusterIP'),
      'spec.type': field('spec.type'),
    },
    smp: {
      metadata: { fields: metadataSmp },
      spec: { fields: { ports: { mergeKey: 'port' } } },
      status: { fields: { conditions: conditionsByType } },
    },
    returnDeletedObject: true,
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  define({
    group: '',
    version: 'v1',
    plural: 'serviceaccounts',
    kind: 'ServiceAccount',
    namespaced: true,
    shortNames: ['sa'],
    smp: { metadata: { fields: metadataSmp }, secrets: { mergeKey: 'name' } },
  }),
  define({
    group: '',
    version: 'v1',
    plural: 'events',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    fieldSelectors: eventFields,
    nameRule: 'path',
  }),
  define({
    group: 'events.k8s.io',
    version: 'v1',
    plural: 'events',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    fieldSelectors: eventsV1Fields,
    nameRule: 'path',
    storage: { group: '', resource: 'events' },
    view: eventsV1View,
  }),
  define({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true }),
  // Stored so the manifests apply as they would on a cluster; not enforced (the emulator has no network).
  define({
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    kind: 'NetworkPolicy',
    namespaced: true,
    shortNames: ['netpol'],
  }),
  define({
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
    categories: ['api-extensions'],
    smp: { metadata: { fields: metadataSmp }, webhooks: { mergeKey: 'name' } },
  }),
  // Stored so the manifests' ValidatingAdmissionPolicies apply as on a cluster; not enforced (the
  // policies are proven on the real control plane).
  define({
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'validatingadmissionpolicies',
    kind: 'ValidatingAdmissionPolicy',
    namespaced: false,
    categories: ['api-extensions'],
    statusSubresource: true,
    subresources: [statusSub('ValidatingAdmissionPolicy')],
  }),
  define({
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'validatingadmissionpolicybindings',
    kind: 'ValidatingAdmissionPolicyBinding',
    namespaced: false,
    categories: ['api-extensions'],
  }),
  ...(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'] as const).map((kind) =>
    define({
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      plural: kind.toLowerCase() + 's',
      kind,
      namespaced: !kind.startsWith('Cluster'),
      nameRule: 'path',
    }),
  ),
  define({
    group: 'policy',
    version: 'v1',
    plural: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    namespaced: true,
    shortNames: ['pdb'],
    statusSubresource: true,
    subresources: [statusSub('PodDisruptionBudget')],
    smp: { metadata: { fields: metadataSmp }, status: { fields: { conditions: conditionsByType } } },
  }),
  define({
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    statusSubresource: true,
    subresources: [statusSub('Deployment')],
    smp: workloadSmp,
  }),
  define({
    group: 'apps',
    version: 'v1',
    plural: 'daemonsets',
    kind: 'DaemonSet',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
    statusSubresource: true,
    subresources: [statusSub('DaemonSet')],
    smp: workloadSmp,
  }),
  // Agones CRDs. GameServer has no status subresource (status goes through the main resource and
  // bumps generation); GameServerSet and Fleet have status and scale subresources.
  define({
    group: 'agones.dev',
    version: 'v1',
    plural: 'gameservers',
    kind: 'GameServer',
    namespaced: true,
    shortNames: ['gs'],
    custom: true,
    returnDeletedObject: false,
  }),
  define({
    group: 'agones.dev',
    version: 'v1',
    plural: 'gameserversets',
    kind: 'GameServerSet',
    namespaced: true,
    shortNames: ['gss', 'gsset'],
    custom: true,
    statusSubresource: true,
    subresources: [statusSub('GameServerSet'), scaleSub],
    scale: agonesReplicasScale,
  }),
  define({
    group: 'agones.dev',
    version: 'v1',
    plural: 'fleets',
    kind: 'Fleet',
    namespaced: true,
    shortNames: ['flt'],
    custom: true,
    statusSubresource: true,
    subresources: [statusSub('Fleet'), scaleSub],
    scale: agonesReplicasScale,
  }),
  define({
    group: 'allocation.agones.dev',
    version: 'v1',
    plural: 'gameserverallocations',
    kind: 'GameServerAllocation',
    namespaced: true,
    shortNames: ['gsa'],
    custom: true,
    virtual: true,
  }),
];

/** Lookup of served resources by group/version/plural, kind, short name and storage. */
export class ResourceRegistry {
  private readonly byGvr = new Map<string, ResourceType>();
  readonly all: ResourceType[];

  constructor(types: ResourceType[] = BUILTIN_RESOURCES) {
    this.all = types;
    for (const rt of types) this.byGvr.set(`${rt.group}/${rt.version}/${rt.plural}`, rt);
  }

  get(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byGvr.get(`${group}/${version}/${plural}`);
  }

  /** The preferred (only) version of a group's resource. */
  byGroupResource(group: string, plural: string): ResourceType | undefined {
    return this.all.find((rt) => rt.group === group && rt.plural === plural && !rt.storage);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.all.find((rt) => apiVersionOf(rt) === apiVersion && rt.kind === kind);
  }

  /** Group → versions, in registration order (core first). */
  groups(): Array<{ group: string; versions: string[] }> {
    const out: Array<{ group: string; versions: string[] }> = [];
    for (const rt of this.all) {
      let g = out.find((x) => x.group === rt.group);
      if (!g) out.push((g = { group: rt.group, versions: [] }));
      if (!g.versions.includes(rt.version)) g.versions.push(rt.version);
    }
    return out;
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all.filter((rt) => rt.group === group && rt.version === version);
  }

  /** Types that are stored (not virtual, not a view of another's storage). */
  stored(): ResourceType[] {
    return this.all.filter((rt) => !rt.virtual && !rt.storage);
  }
}
