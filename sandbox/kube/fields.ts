// Unknown fields, as kube-apiserver's decoder sees them: a field the type does not declare is dropped
// from the object, and reported according to the request's `fieldValidation` (Strict: 400; Warn, the
// default: a `Warning` header per field; Ignore: nothing). The declared fields come from the typed
// models of @kubernetes/client-node (generated from Kubernetes' OpenAPI document), so the emulator
// knows the fields of that client's release. Custom resources declare apiVersion, kind, metadata,
// spec and status (the Agones CRDs keep every field under spec and status).
import * as k8s from '@kubernetes/client-node';
import { badRequest } from './errors.js';
import type { ResourceType } from './resources.js';
import type { KubeObject } from './types.js';

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';
export const FIELD_VALIDATION_VALUES = ['', 'Ignore', 'Strict', 'Warn'] as const;

interface Attribute {
  baseName: string;
  type: string;
}

interface ModelClass {
  getAttributeTypeMap(): Attribute[];
}

const models = k8s as unknown as Record<string, ModelClass | undefined>;
const fieldsOf = new Map<string, Map<string, string> | undefined>();

/** The declared fields of a client-node model (name → type), undefined when there is no such model. */
function modelFields(model: string): Map<string, string> | undefined {
  if (fieldsOf.has(model)) return fieldsOf.get(model);
  const cls = models[model];
  const fields =
    cls && typeof cls.getAttributeTypeMap === 'function'
      ? new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]))
      : undefined;
  fieldsOf.set(model, fields);
  return fields;
}

/** The client-node model of a served type. */
function modelOf(rt: ResourceType): string | undefined {
  if (rt.group === '' && rt.kind === 'Event') return 'CoreV1Event';
  if (rt.group === 'events.k8s.io') return 'EventsV1Event';
  const version = rt.version.charAt(0).toUpperCase() + rt.version.slice(1);
  return `${version}${rt.kind}`;
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;

/** Walks `value` as `type`, removing undeclared fields and recording their paths. */
function walk(value: unknown, type: string, path: string, unknown: string[]): void {
  const array = ARRAY.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, array[1], `${path}[${i}]`, unknown));
    return;
  }
  const map = MAP.exec(type);
  if (map) {
    if (isMap(value)) for (const [k, v] of Object.entries(value)) walk(v, map[1], `${path}.${k}`, unknown);
    return;
  }
  const fields = modelFields(type);
  if (!fields || !isMap(value)) return;
  walkObject(value, fields, path, unknown);
}

function walkObject(
  obj: Record<string, unknown>,
  fields: Map<string, string>,
  path: string,
  unknown: string[],
): void {
  for (const key of Object.keys(obj)) {
    const p = path ? `${path}.${key}` : key;
    const type = fields.get(key);
    if (type === undefined) {
      unknown.push(p);
      delete obj[key];
    } else walk(obj[key], type, p, unknown);
  }
}

const CUSTOM_TOP_LEVEL = new Map([
  ['apiVersion', 'string'],
  ['kind', 'string'],
  ['metadata', 'V1ObjectMeta'],
  ['spec', 'any'],
  ['status', 'any'],
]);

/**
 * Removes the fields `rt` does not declare from `obj` (in place) and returns their paths, in the
 * object's order, as the real decoder names them (`spec.containers[0].foo`).
 */
export function pruneUnknownFields(rt: ResourceType, obj: KubeObject): string[] {
  const unknown: string[] = [];
  const fields = rt.custom ? CUSTOM_TOP_LEVEL : modelFields(modelOf(rt) ?? '');
  // A type without a model is taken as it is (nothing is known to be unknown).
  if (fields) walkObject(obj as Record<string, unknown>, fields, '', unknown);
  return unknown;
}

/**
 * What the request gets for the unknown fields found: Strict refuses it (400, as the strict decoder
 * does), Warn (the default) gets one warning per field, Ignore nothing.
 */
export function reportUnknownFields(
  rt: ResourceType,
  unknown: string[],
  mode: FieldValidation | undefined,
): string[] {
  if (unknown.length === 0 || mode === 'Ignore') return [];
  const listed = unknown.map((p) => `unknown field ${JSON.stringify(p)}`);
  if (mode === 'Strict')
    throw badRequest(
      `${rt.kind} in version ${JSON.stringify(rt.version)} cannot be handled as a ${rt.kind}: strict decoding error: ${listed.join(', ')}`,
    );
  return listed;
}
