// The shape of an incoming admission.k8s.io/v1 AdmissionReview, as far as the webhook reads it.
// Checked with ajv (compiled once) so that a malformed review gets a 400 naming what is wrong,
// instead of an exception deep in the handler turning into a 500.
import { Ajv, type ErrorObject } from 'ajv';
import type { AdmissionRequest } from './decide.js';

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

const stringMap = { type: ['object', 'null'], additionalProperties: { type: 'string' } };

const kubeObject = {
  type: 'object',
  properties: {
    metadata: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        namespace: { type: 'string' },
        uid: { type: 'string' },
        resourceVersion: { type: 'string' },
        annotations: stringMap,
        labels: stringMap,
      },
    },
    status: { type: ['object', 'null'], properties: { state: { type: 'string' } } },
  },
};

export const admissionReviewSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { const: 'admission.k8s.io/v1' },
    kind: { const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'operation'],
      properties: {
        uid: { type: 'string', minLength: 1 },
        kind: {
          type: 'object',
          required: ['group', 'version', 'kind'],
          properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
        },
        subResource: { type: 'string' },
        name: { type: 'string' },
        namespace: { type: 'string' },
        operation: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
        dryRun: { type: 'boolean' },
        object: { anyOf: [{ type: 'null' }, kubeObject] },
        oldObject: { anyOf: [{ type: 'null' }, kubeObject] },
      },
      // An UPDATE always carries the object as sent and as stored; without them nothing can be decided.
      if: { properties: { operation: { const: 'UPDATE' } } },
      then: { required: ['object', 'oldObject'], properties: { object: kubeObject, oldObject: kubeObject } },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const validate = ajv.compile<AdmissionReview>(admissionReviewSchema);

function describe(error: ErrorObject): string {
  const where = `review${error.instancePath.replaceAll('/', '.')}`;
  switch (error.keyword) {
    case 'required':
      return `${where}.${(error.params as { missingProperty: string }).missingProperty} is required`;
    case 'const':
      return `${where} must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    case 'enum':
      return `${where} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}

export type ReviewCheck =
  { ok: true; review: AdmissionReview } | { ok: false; message: string; uid?: string };

/** Checks a parsed JSON body against the AdmissionReview schema. */
export function checkAdmissionReview(body: unknown): ReviewCheck {
  if (validate(body)) return { ok: true, review: body };
  const errors = validate.errors ?? [];
  // `if/then` reports the failing `then` branch and then the `if` itself; the first error is the useful one.
  const message = errors.length > 0 ? describe(errors[0]!) : 'not an AdmissionReview';
  const uid = (body as { request?: { uid?: unknown } } | null)?.request?.uid;
  return typeof uid === 'string' && uid !== '' ? { ok: false, message, uid } : { ok: false, message };
}
