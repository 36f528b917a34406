// The one Kubernetes error type of the components: a failed API call reduced to the API server's
// Status (code, reason, message), so callers tell "it changed under me" (409, 422) and "it is gone"
// (404) from a real failure, and logs say what the server said.
//
// client-node's ApiException (the webhook's and certs' calls) is recognised by its shape, a numeric
// `code` and a `body`, not by its class: importing the class would load client-node into the node
// agent and pubsub, which do not use it (shared/kube-client/).

export class KubeApiError extends Error {
  constructor(
    readonly operation: string,
    /** The HTTP status; 0 when the request never got an answer (network error, timeout). */
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(`${operation}: ${code ? `${code} ${reason}: ` : ''}${message}`);
    this.name = 'KubeApiError';
  }
}

/** client-node's error (or any error with a numeric `code` and a Status body) as a KubeApiError. */
export function toKubeApiError(operation: string, err: unknown): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const e = err as { code?: unknown; body?: unknown; message?: string };
  if (typeof e?.code === 'number') {
    let status: any = e.body;
    if (typeof status === 'string') {
      try {
        status = JSON.parse(status);
      } catch {
        status = { message: status };
      }
    }
    return new KubeApiError(
      operation,
      e.code,
      String(status?.reason ?? ''),
      String(status?.message ?? e.message ?? 'request failed').slice(0, 500),
    );
  }
  const cause = (err as { cause?: { message?: string } })?.cause?.message;
  return new KubeApiError(operation, 0, 'NoResponse', cause ?? (err as Error)?.message ?? String(err));
}

/**
 * The HTTP status of a failed API call, whichever form the error has (KubeApiError, client-node's
 * ApiException, an error with a numeric `code`); undefined when the call never got an answer.
 */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.code || undefined;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** client-node's ApiException: an Error with the HTTP status as a number and the answer's body. */
function isApiException(err: unknown): err is Error & { code: number; body: unknown } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err;
}

/** A short, log-friendly description of a failed API call (the Status message when there is one). */
export function describeKubeError(err: unknown): string {
  if (err instanceof KubeApiError) return err.message;
  if (isApiException(err)) {
    const body = err.body;
    let message: string | undefined;
    if (typeof body === 'string') {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = body.slice(0, 200);
      }
    } else if (body && typeof body === 'object') {
      message = (body as { message?: string }).message;
    }
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  if (err instanceof Error)
    return err.name === 'AbortError' || err.name === 'TimeoutError' ? 'timed out' : err.message;
  return String(err);
}
