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

/** Options of a list or watch, as in the REST API's query parameters. */
export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject;
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  /** What unknown fields get: Warn (the default, a warning each), Strict (400) or Ignore. */
  fieldValidation?: 'Ignore' | 'Warn' | 'Strict';
}

export interface DeleteOptions extends WriteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  /** The deprecated field as sent: an explicit `false` turns a deletion still pending into a 202. */
  orphanDependents?: boolean;
}

export type PatchType = 'json' | 'merge' | 'strategic';

/** A resource (optionally one object of it, optionally a subresource) addressed by a client. */
export interface ResourceRef {
  group: string;
  version: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/**
 * The in-process client of the emulator. It goes through the very same pipeline as an HTTP request
 * (authentication is replaced by the given identity; authorization, admission, validation, watches
 * and audit all apply), so what a simulated controller does is seen and checked like any client's.
 * Errors are thrown as the emulator's ApiError (with `code` and `reason` as in a Status).
 */
export interface LocalClient {
  readonly user: UserInfo;
  get(ref: ResourceRef): Promise<KubeObject>;
  list(
    ref: ResourceRef,
    options?: ListOptions,
  ): Promise<{ items: KubeObject[]; metadata: { resourceVersion: string; continue?: string } }>;
  create(
    ref: ResourceRef,
    body: KubeObject | Record<string, unknown>,
    options?: WriteOptions,
  ): Promise<KubeObject>;
  update(ref: ResourceRef, body: KubeObject, options?: WriteOptions): Promise<KubeObject>;
  patch(ref: ResourceRef, type: PatchType, patch: unknown, options?: WriteOptions): Promise<KubeObject>;
  delete(ref: ResourceRef, options?: DeleteOptions): Promise<KubeObject>;
  /** Streams events until the returned function is called (or the watch ends with an ERROR event). */
  watch(ref: ResourceRef, options: ListOptions, onEvent: (event: WatchEvent) => void): () => void;
}
