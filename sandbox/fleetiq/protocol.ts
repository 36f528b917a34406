/**
 * The awsJson1_1 wire protocol as @aws-sdk/client-gamelift speaks it: `POST /` with
 * `x-amz-target: GameLift.<Operation>` and a JSON body; errors are a status >= 300 with
 * `{"__type": "...", "message": "..."}`. Pure: no sockets here, only envelopes in and out.
 */

/** The FleetIQ operations the emulator implements. */
export const FLEETIQ_OPERATIONS = [
  'RegisterGameServer',
  'DeregisterGameServer',
  'ClaimGameServer',
  'UpdateGameServer',
  'DescribeGameServer',
  'ListGameServers',
  'DescribeGameServerInstances',
  'DescribeGameServerGroup',
] as const;
export type FleetIQOperation = (typeof FLEETIQ_OPERATIONS)[number];

export function isFleetIQOperation(name: string): name is FleetIQOperation {
  return (FLEETIQ_OPERATIONS as readonly string[]).includes(name);
}

/** Error names the emulator answers with (GameLift's modeled errors plus the protocol-level ones). */
export type FleetIQErrorType =
  | 'ConflictException'
  | 'InternalServiceException'
  | 'InvalidRequestException'
  | 'LimitExceededException'
  | 'NotFoundException'
  | 'OutOfCapacityException'
  | 'UnauthorizedException'
  | 'ThrottlingException'
  | 'SerializationException'
  | 'UnknownOperationException';

/** An error the API answers with; `status` defaults to what AWS sends for that type. */
export class FleetIQError extends Error {
  readonly status: number;
  constructor(
    readonly type: FleetIQErrorType | string,
    message: string,
    status?: number,
  ) {
    super(message);
    this.name = type;
    this.status = status ?? defaultStatusFor(type);
  }
}

/**
 * AWS answers service faults with 500 and client errors with 400. The distinction matters: the SDK
 * retries InternalServiceException only when it arrives with a 5xx status.
 */
export function defaultStatusFor(type: string): number {
  return type === 'InternalServiceException' ? 500 : 400;
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const AMZ_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';

export function successResponse(output: unknown, requestId: string): WireResponse {
  return {
    status: 200,
    headers: { 'content-type': AMZ_JSON_CONTENT_TYPE, 'x-amzn-requestid': requestId },
    body: JSON.stringify(output ?? {}),
  };
}

export function errorResponse(error: FleetIQError, requestId: string): WireResponse {
  return {
    status: error.status,
    headers: {
      'content-type': AMZ_JSON_CONTENT_TYPE,
      'x-amzn-requestid': requestId,
      'x-amzn-errortype': error.type,
    },
    body: JSON.stringify({ __type: error.type, message: error.message }),
  };
}

export interface RawRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface ParsedCall {
  operation: FleetIQOperation;
  input: Record<string, unknown>;
  /** The SDK's attempt number from `amz-sdk-request: attempt=N; max=M` (1 when absent). */
  attempt: number;
  invocationId?: string;
}

/**
 * Checks the envelope of an API call and returns the operation and its JSON input. Throws
 * FleetIQError (400) for a wrong method or path, a missing or garbled target, an unknown
 * operation, a content type that is not awsJson, or a body that is not a JSON object.
 */
export function parseCall(req: RawRequest): ParsedCall {
  if (req.method !== 'POST' || req.path !== '/') {
    throw new FleetIQError(
      'InvalidRequestException',
      `the GameLift API is served at POST /, got ${req.method} ${req.path} (emulator controls live under /_emulator/)`,
    );
  }
  const target = header(req.headers, 'x-amz-target');
  if (!target) throw new FleetIQError('InvalidRequestException', 'missing x-amz-target header');
  const m = /^GameLift\.([A-Za-z0-9]+)$/.exec(target.trim());
  if (!m) {
    throw new FleetIQError(
      'InvalidRequestException',
      `garbled x-amz-target header "${truncate(target)}": expected GameLift.<Operation>`,
    );
  }
  const operation = m[1];
  if (!isFleetIQOperation(operation)) {
    throw new FleetIQError(
      'UnknownOperationException',
      `operation ${operation} is not served by the FleetIQ emulator (it serves ${FLEETIQ_OPERATIONS.join(', ')})`,
    );
  }
  const contentType = header(req.headers, 'content-type');
  if (contentType && !/^application\/(x-amz-json-1\.[01]|json)\b/i.test(contentType.trim())) {
    throw new FleetIQError(
      'SerializationException',
      `unsupported content-type "${truncate(contentType)}": expected ${AMZ_JSON_CONTENT_TYPE}`,
    );
  }
  let input: unknown;
  const text = req.body.trim() === '' ? '{}' : req.body;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new FleetIQError(
      'SerializationException',
      `request body is not valid JSON: ${(err as Error).message}`,
    );
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new FleetIQError('SerializationException', 'request body must be a JSON object');
  }
  return {
    operation,
    input: input as Record<string, unknown>,
    attempt: parseSdkAttempt(header(req.headers, 'amz-sdk-request')),
    invocationId: header(req.headers, 'amz-sdk-invocation-id'),
  };
}

/** `attempt=2; max=3` → 2. Absent or unreadable → 1 (a client without retry headers makes one attempt). */
export function parseSdkAttempt(value: string | undefined): number {
  if (!value) return 1;
  const m = /(?:^|;)\s*attempt=(\d+)/.exec(value);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

/** Epoch milliseconds → the epoch seconds with fraction that awsJson timestamps are. */
export function toEpochSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

function header(headers: RawRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
