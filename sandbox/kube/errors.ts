// The API server's error type: every failure a client can see is an ApiError, rendered as a
// meta/v1 Status with the code, reason and message a real kube-apiserver would send.

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'Forbidden'
  | 'BadRequest'
  | 'UnsupportedMediaType'
  | 'Gone'
  | 'Expired'
  | 'TooManyRequests'
  | 'MethodNotAllowed'
  | 'Unauthorized'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'RequestEntityTooLarge'
  | 'NotAcceptable'
  | 'Timeout';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason | string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    // An empty `details: {}` is part of some real answers (404 of an unknown path, a failed JSON patch).
    if (this.details) status.details = this.details;
    return status;
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

/** `pods "x"` or, for a group resource, `gameservers.agones.dev "x"`, as the real messages name things. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

function named(group: string, resource: string, name: string | undefined): string {
  const qr = qualifiedResource(group, resource);
  return name === undefined ? qr : `${qr} "${name}"`;
}

function details(group: string, resource: string, name?: string, extra?: StatusDetails): StatusDetails {
  const d: StatusDetails = { ...(name !== undefined ? { name } : {}), group, kind: resource, ...extra };
  // A real Status omits an empty group.
  if (!group) delete d.group;
  return d;
}

export function notFound(group: string, resource: string, name: string): ApiError {
  return new ApiError(
    404,
    'NotFound',
    `${named(group, resource, name)} not found`,
    details(group, resource, name),
  );
}

export function alreadyExists(group: string, resource: string, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${named(group, resource, name)} already exists`,
    details(group, resource, name),
  );
}

/** The optimistic-concurrency failure: `Operation cannot be fulfilled on pods "x": <why>`. */
export function conflict(
  group: string,
  resource: string,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${named(group, resource, name)}: ${why}`,
    details(group, resource, name),
  );
}

export interface FieldError {
  /** e.g. 'FieldValueInvalid', 'FieldValueRequired', 'FieldValueForbidden', 'FieldValueDuplicate', 'FieldValueNotSupported' */
  type: string;
  field: string;
  /** The detail sentence, e.g. `Invalid value: "X": a lowercase RFC 1123 subdomain must ...` */
  message: string;
}

/**
 * 422 Invalid: `Kind "name" is invalid: [field: msg, field: msg]` (one cause without brackets),
 * with details.causes, as apimachinery's NewInvalid renders it.
 */
export function invalid(group: string, kind: string, name: string, causes: FieldError[]): ApiError {
  // ErrorList.ToAggregate: the message names each distinct error once; the causes keep them all.
  const parts = [...new Set(causes.map((c) => `${c.field}: ${c.message}`))];
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    ...(name ? { name } : {}),
    ...(group ? { group } : {}),
    kind,
    causes: causes.map((c) => ({ reason: c.type, message: c.message, field: c.field })),
  });
}

/** 403 `<resource> "<name>" is forbidden: <reason>` (without a name: `<resource> is forbidden: ...`). */
export function forbidden(
  group: string,
  resource: string,
  name: string | undefined,
  reason: string,
): ApiError {
  return new ApiError(
    403,
    'Forbidden',
    `${named(group, resource, name)} is forbidden: ${reason}`,
    details(group, resource, name),
  );
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

/** 415 for a body format the endpoint does not accept, listing what it does accept. */
export function unsupportedMediaType(acceptedTypes: string[] = ['application/json']): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${acceptedTypes.join(', ')}`,
  );
}

export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function tooManyRequests(
  message: string,
  causes?: StatusCause[],
  retryAfterSeconds?: number,
): ApiError {
  const d: StatusDetails = {};
  if (causes) d.causes = causes;
  if (retryAfterSeconds !== undefined) d.retryAfterSeconds = retryAfterSeconds;
  return new ApiError(429, 'TooManyRequests', message, Object.keys(d).length ? d : undefined);
}

export function methodNotAllowed(
  message = 'the server does not allow this method on the requested resource',
): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function unauthorized(message = 'Unauthorized'): ApiError {
  return new ApiError(401, 'Unauthorized', message);
}

export function internal(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ message }],
  });
}

export function serviceUnavailable(message: string): ApiError {
  return new ApiError(503, 'ServiceUnavailable', message);
}

export function requestEntityTooLarge(message = 'Request entity too large: limit is 3145728'): ApiError {
  return new ApiError(413, 'RequestEntityTooLarge', message);
}
