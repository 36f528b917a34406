// Small helpers around @kubernetes/client-node 2.x requests, shared by certs and webhook.
import {
  ApiException,
  Observable,
  PatchStrategy,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';

/**
 * Per-request options: a JSON Patch content type (client-node would otherwise pick its own default
 * among the patch types) and/or an AbortSignal that bounds the request's time.
 */
export function requestOptions(options: {
  jsonPatch?: boolean;
  signal?: AbortSignal;
}): ConfigurationOptions | undefined {
  if (!options.jsonPatch && !options.signal) return undefined;
  const middleware: ObservableMiddleware = {
    pre: (context) => {
      if (options.jsonPatch) context.setHeaderParam('Content-Type', PatchStrategy.JsonPatch);
      if (options.signal) context.setSignal(options.signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' } as ConfigurationOptions;
}

/** The HTTP status of a failed API call (undefined for network errors, timeouts and the like). */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A short, log-friendly description of a failed API call (the Status message when there is one). */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as unknown;
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
