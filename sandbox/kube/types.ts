// Shapes shared by the parts of the Kubernetes API server emulator: the request pipeline
// (authentication → authorization → admission → validation → storage), its policy parts
// (RBAC, mutating admission) and the in-process client the simulated controllers use.

/** Any stored Kubernetes object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: any;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  [field: string]: any;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Who is making a request (what the authenticator resolves a bearer token to). */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** What a request is about, as authorization and admission see it. */
export interface ResourceAttributes {
  group: string; // '' for core
  version: string;
  resource: string; // plural, e.g. 'pods'
  subresource?: string; // e.g. 'eviction', 'status'
  namespace?: string;
  name?: string;
}

export interface AuthorizationDecision {
  allowed: boolean;
  /** For a denial: the sentence a real API server puts in its 403 message. */
  reason: string;
  /** For an allow: which binding and rule allowed it (the RBAC audit record uses it). */
  matched?: { binding: string; role: string; ruleIndex: number };
}

export interface Authorizer {
  authorize(user: UserInfo, verb: Verb, attrs: ResourceAttributes): AuthorizationDecision;
}

/** Read access to stored objects, for policy parts that look up configuration (roles, webhooks). */
export interface ObjectReader {
  list(group: string, resource: string, namespace?: string): KubeObject[];
  get(group: string, resource: string, namespace: string | undefined, name: string): KubeObject | undefined;
}

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionAttributes {
  operation: AdmissionOperation;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name: string;
  namespace?: string;
  /** The object as it would be stored (CREATE/UPDATE), undefined for DELETE. */
  object?: KubeObject;
  oldObject?: KubeObject;
  userInfo: UserInfo;
  dryRun: boolean;
  options?: Record<string, unknown>;
}

export interface AdmissionResult {
  object?: KubeObject;
  warnings: string[];
}

/** Where `<service>.<namespace>.svc` lives: the emulator resolves service references through this. */
export type ServiceResolver = (
  namespace: string,
  name: string,
  port: number,
) => { host: string; port: number } | undefined;
