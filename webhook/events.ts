// Kubernetes Events on GameServers (core/v1, so `kubectl describe gs` shows them). Sent in the
// background: an admission answer never waits for an Event.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { requestOptions } from '../certs/kube-request.js';
import { describeKubeError as describeError } from '../shared/kube-error.js';
import { settledWithin } from '../shared/timeout.js';
import type { GameServerRef } from './decide.js';

export const EVENT_REASON_DRAIN_TOLERATION_FAILED = 'DrainTolerationFailed';
/** The pod tolerates the drain taint, but Karpenter's do-not-disrupt mark could not be added. */
export const EVENT_REASON_DO_NOT_DISRUPT_MARK_FAILED = 'DoNotDisruptMarkFailed';
export const REPORTING_COMPONENT = 'fleetiq-agones-webhook';

export interface EventRecorder {
  warning(gs: GameServerRef, reason: string, message: string): void;
  /** Resolves once every Event sent so far has been answered, or after `timeoutMs` (for shutdown). */
  flush(timeoutMs: number): Promise<void>;
}

export class KubeEventRecorder implements EventRecorder {
  private readonly core: CoreV1Api;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    kubeConfig: KubeConfig,
    private readonly logger: Logger,
    private readonly onError: () => void = () => {},
    private readonly instance = process.env.HOSTNAME ?? hostname(),
  ) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
  }

  warning(gs: GameServerRef, reason: string, message: string): void {
    const now = new Date();
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${gs.name}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`,
        namespace: gs.namespace,
      },
      involvedObject: {
        apiVersion: 'agones.dev/v1',
        kind: 'GameServer',
        name: gs.name,
        namespace: gs.namespace,
        uid: gs.uid,
      },
      reason,
      message: message.slice(0, 1024),
      type: 'Warning',
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      // Legacy-style core/v1 Event, as client-go's recorder writes them (no eventTime/action/series).
      source: { component: REPORTING_COMPONENT, host: this.instance },
      reportingComponent: REPORTING_COMPONENT,
      reportingInstance: this.instance,
    };
    const sent = this.core
      .createNamespacedEvent(
        { namespace: gs.namespace, body },
        requestOptions({ signal: AbortSignal.timeout(5000) }),
      )
      .then(() => undefined)
      .catch((err: unknown) => {
        this.onError();
        this.logger.warn(
          { err: describeError(err), gameServer: `${gs.namespace}/${gs.name}`, reason },
          'could not record Event',
        );
      })
      .finally(() => this.pending.delete(sent));
    this.pending.add(sent);
  }

  async flush(timeoutMs: number): Promise<void> {
    if (this.pending.size === 0) return;
    await settledWithin(Promise.all([...this.pending]), timeoutMs);
  }
}
