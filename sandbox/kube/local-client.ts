// The in-process client: the same pipeline as an HTTP request (authorization, admission,
// validation, watches, request log), as a given identity, without the network. Objects handed
// out are copies the caller may mutate.
import type { ApiError } from './errors.js';
import type { Pipeline } from './pipeline.js';
import type { Delivery } from './store.js';
import type {
  DeleteOptions,
  KubeObject,
  ListOptions,
  LocalClient,
  PatchType,
  ResourceRef,
  UserInfo,
  WatchEvent,
  WriteOptions,
} from './types.js';

export function createLocalClient(pipeline: Pipeline, user: UserInfo): LocalClient {
  return {
    user,
    async get(ref) {
      return (await pipeline.get(user, ref)).value.copy();
    },
    async list(ref, options?: ListOptions) {
      const res = await pipeline.list(user, ref, options);
      return {
        items: res.items.map((s) => s.copy()),
        metadata: {
          resourceVersion: res.resourceVersion,
          ...(res.continue ? { continue: res.continue } : {}),
        },
      };
    },
    async create(ref, body, options?: WriteOptions) {
      return (await pipeline.create(user, ref, body, options)).value.copy();
    },
    async update(ref, body: KubeObject, options?: WriteOptions) {
      return (await pipeline.update(user, ref, body, options)).value.copy();
    },
    async patch(ref, type: PatchType, patch: unknown, options?: WriteOptions) {
      return (await pipeline.patch(user, ref, type, patch, options)).value.copy();
    },
    async delete(ref, options?: DeleteOptions) {
      return (await pipeline.delete(user, ref, options)).value.copy();
    },
    watch(ref: ResourceRef, options: ListOptions, onEvent: (event: WatchEvent) => void): () => void {
      // Resolved up front: the initial ADDED events are delivered while the watch opens.
      const rt = pipeline.registry.get(ref.group, ref.version, ref.resource);
      const viewOf = (obj: KubeObject) => (rt?.view ? rt.view.fromStorage(obj) : obj);
      const apiVersion = rt ? (rt.group ? `${rt.group}/${rt.version}` : rt.version) : '';
      let stopped = false;
      let stopWatcher: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      const stop = () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        stopWatcher?.();
      };
      const emit = (event: WatchEvent) => {
        if (stopped) return;
        try {
          onEvent(event);
        } catch {
          // A subscriber's exception must not break delivery to the others.
        }
      };
      const fail = (err: ApiError | Error) => {
        const status =
          'toStatus' in err
            ? (err as ApiError).toStatus()
            : {
                kind: 'Status',
                apiVersion: 'v1',
                metadata: {},
                status: 'Failure',
                message: err.message,
                reason: 'InternalError',
                code: 500,
              };
        emit({ type: 'ERROR', object: status as unknown as KubeObject });
        stop();
      };
      pipeline
        .watch(user, ref, options, {
          deliver: (d: Delivery) => {
            // The copy is made per subscriber: what one watcher does to its object no one else sees.
            emit({ type: d.type, object: viewOf(JSON.parse(d.stored.json())) });
          },
          bookmark: (rv) =>
            emit({
              type: 'BOOKMARK',
              object: { apiVersion, kind: rt?.kind ?? '', metadata: { resourceVersion: String(rv) } },
            }),
          error: (err) => fail(err),
        })
        .then(({ watcher }) => {
          stopWatcher = () => watcher.stop();
          if (stopped) watcher.stop();
          else if (options.timeoutSeconds && options.timeoutSeconds > 0)
            timer = setTimeout(stop, options.timeoutSeconds * 1000);
        })
        .catch((err: ApiError) => fail(err));
      return stop;
    },
  };
}
