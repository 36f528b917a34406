// Small helpers around @kubernetes/client-node 2.x requests, shared by certs and webhook.
import {
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

// The error helpers moved to shared/kube-error.ts; these names stay for the modules that import them here.
