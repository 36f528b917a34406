// The I/O of a transition: read the GameServer's pod (and its node's drain labels, for the fence), ask
// decidePod what to do, and patch it with one guarded JSON Patch (the drain toleration and Karpenter's
// mark, whichever it lacks). Everything runs under one deadline (the pod-patch budget), so the
// admission answer always leaves before the API server's webhook timeout.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { requestOptions } from '../certs/kube-request.js';
import { describeKubeError as describeError, statusCode } from '../shared/kube-error.js';
import {
  checkStoredGameServer,
  decidePod,
  type GameServerRef,
  type KubeLike,
  type PodView,
} from './decide.js';
import type { NodeStatusSource } from './node-status.js';

export type TolerationResult =
  /** The toleration was added now; `marked`: Karpenter's mark too, in the same patch. */
  (
    | { kind: 'tolerated'; attempts: number; marked: boolean }
    /** The pod already tolerated; `marked`: it lacked only Karpenter's mark, added now. */
    | { kind: 'already-tolerating'; marked: boolean }
    | { kind: 'fenced'; message: string }
    /**
     * `podTolerates`: the pod was read tolerating the drain taint, and only Karpenter's mark could not
     * be added (so the GameServer may still say its pod tolerates).
     */
    | { kind: 'failed'; reason: FailureReason; message: string; podTolerates: boolean }
    /** The review does not match the stored GameServer: nothing was patched. */
    | { kind: 'not-stored'; message: string }
  ) & {
    /** Time spent waiting on the Kubernetes API (reads, patch, retry): the rest is the webhook's own. */
    apiMs: number;
  };

export type FailureReason = 'timeout' | 'conflict' | 'api-error' | 'not-owned' | 'pod-missing';

export interface PodTolerationOptions {
  fence: boolean;
  /** Mark the pod `karpenter.sh/do-not-disrupt: "true"` too. */
  karpenterDoNotDisrupt: boolean;
  /** Total time for reads, patch and the one retry. */
  budgetMs: number;
}

export interface PodTolerator {
  ensure(gs: GameServerRef): Promise<TolerationResult>;
}

type Outcome = TolerationResult extends infer T ? (T extends unknown ? Omit<T, 'apiMs'> : never) : never;

export class KubePodTolerator implements PodTolerator {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(
    kubeConfig: KubeConfig,
    private readonly nodes: NodeStatusSource | undefined,
    private readonly options: PodTolerationOptions,
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async ensure(gs: GameServerRef): Promise<TolerationResult> {
    let apiMs = 0;
    const timed = async <T>(call: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await call();
      } finally {
        apiMs += performance.now() - t0;
      }
    };
    const outcome = await this.attempt(gs, timed);
    return { ...outcome, apiMs } as TolerationResult;
  }

  private async attempt(
    gs: GameServerRef,
    timed: <T>(call: () => Promise<T>) => Promise<T>,
  ): Promise<Outcome> {
    const signal = AbortSignal.timeout(this.options.budgetMs);
    // Whether the pod, as last read, tolerated the drain taint (a failure then only misses the mark).
    let podTolerates = false;
    try {
      // Attempt 1, and once more after a conflict: a failed `test` (422) or a 409 means the pod
      // changed between our read and our patch, so read it again and decide again.
      for (let attempt = 1; ; attempt++) {
        // The first time, the stored GameServer is read alongside the pod (no added latency).
        const [pod, stored] = await timed(() =>
          Promise.all([
            this.readPod(gs, signal),
            attempt === 1 && gs.stored ? this.readGameServer(gs, signal) : Promise.resolve(null),
          ]),
        );
        if (stored !== null) {
          const check = checkStoredGameServer(stored, gs);
          if (check !== true) return { kind: 'not-stored', message: check };
        }
        const nodeName = pod?.spec?.nodeName;
        const node =
          this.options.fence && nodeName && this.nodes
            ? await this.nodes.sessionSignalsOf(nodeName, signal)
            : undefined;
        const decision = decidePod(gs, pod, node, {
          fence: this.options.fence,
          karpenterDoNotDisrupt: this.options.karpenterDoNotDisrupt,
        });
        switch (decision.kind) {
          case 'already-tolerating':
            return { kind: 'already-tolerating', marked: false };
          case 'fence':
            return { kind: 'fenced', message: decision.message };
          case 'not-owned':
            return { kind: 'failed', reason: 'not-owned', message: decision.message, podTolerates: false };
          case 'pod-missing':
            return { kind: 'failed', reason: 'pod-missing', message: decision.message, podTolerates: false };
          case 'patch-pod':
            podTolerates = !decision.addsToleration;
            try {
              await timed(() =>
                this.core.patchNamespacedPod(
                  { name: gs.name, namespace: gs.namespace, body: decision.patch },
                  requestOptions({ jsonPatch: true, signal }),
                ),
              );
              return decision.addsToleration
                ? { kind: 'tolerated', attempts: attempt, marked: decision.marks }
                : { kind: 'already-tolerating', marked: decision.marks };
            } catch (err) {
              const code = statusCode(err);
              if ((code === 409 || code === 422) && attempt < 2) continue;
              if (code === 409 || code === 422) {
                return {
                  kind: 'failed',
                  reason: 'conflict',
                  message: `patching the pod kept conflicting: ${describeError(err)}`,
                  podTolerates,
                };
              }
              throw err;
            }
        }
      }
    } catch (err) {
      if (signal.aborted) {
        return {
          kind: 'failed',
          reason: 'timeout',
          message: `the pod update did not finish within ${this.options.budgetMs} ms`,
          podTolerates,
        };
      }
      return {
        kind: 'failed',
        reason: 'api-error',
        message: `updating the pod failed: ${describeError(err)}`,
        podTolerates,
      };
    }
  }

  /** The stored GameServer, or undefined when there is none (404). */
  private async readGameServer(gs: GameServerRef, signal: AbortSignal): Promise<KubeLike | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject(
        { group: 'agones.dev', version: 'v1', namespace: gs.namespace, plural: 'gameservers', name: gs.name },
        requestOptions({ signal }),
      )) as KubeLike;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  private async readPod(gs: GameServerRef, signal: AbortSignal): Promise<PodView | undefined> {
    try {
      const pod: V1Pod = await this.core.readNamespacedPod(
        { name: gs.name, namespace: gs.namespace },
        requestOptions({ signal }),
      );
      return pod as PodView;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }
}
