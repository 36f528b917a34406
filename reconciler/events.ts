// Kubernetes Events on the agent's Node (`kubectl describe node` and `kubectl get events` show the
// drain step by step). core/v1 Events in the `default` namespace, where the kubelet and the node
// controllers put theirs. Best effort, like client-go's recorder: an Event that cannot be written is
// logged and counted, and never holds up or fails a drain step.
import type { Logger } from '../shared/logger.js';
import { settledWithin } from '../shared/timeout.js';
import type { AgentKubeApi } from './kube-api.js';

export const REPORTING_COMPONENT = 'fleetiq-agones-reconciler';
export const NODE_EVENTS_NAMESPACE = 'default';
const MAX_QUEUED = 256;
const MAX_MESSAGE = 1024;

export interface NodeEventRecorderOptions {
  api: AgentKubeApi;
  nodeName: string;
  logger: Logger;
  now?: () => number;
  onResult?: (type: string, reason: string, ok: boolean) => void;
  /**
   * While this says the agent is busy with a drain, Events wait (at most maxDeferMs): on a loaded API
   * server they would otherwise compete with the drain's own requests, which must come first.
   */
  deferWhile?: () => boolean;
  maxDeferMs?: number;
  /** A failure Event (emitFailure) with the same reason is raised at most this often (default 30 s). */
  failureIntervalMs?: number;
}

interface Pending {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  at: number;
}

export class NodeEventRecorder {
  private readonly queue: Pending[] = [];
  private draining?: Promise<void>;
  private nodeUid?: string;
  private seq = 0;
  private dropped = 0;
  private wake?: () => void;
  private readonly now: () => number;
  private readonly lastFailure = new Map<string, number>();

  constructor(private readonly o: NodeEventRecorderOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The Node's uid, once read (Events name the object they are about by uid too). */
  setNodeUid(uid: string | undefined): void {
    this.nodeUid = uid;
  }

  /** Queues an Event; they are written one at a time, in order, without blocking the caller. */
  emit(type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.queue.length >= MAX_QUEUED) {
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 100 === 0)
        this.o.logger.warn({ dropped: this.dropped }, 'events: queue full, dropping Events');
      return;
    }
    this.queue.push({ type, reason, message: message.slice(0, MAX_MESSAGE), at: this.now() });
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  /**
   * A Warning for a failed step, at most once per reason per failureIntervalMs: a step retried every
   * few hundred milliseconds must not flood the Node's Events (the log and the metrics count each try).
   */
  emitFailure(reason: string, message: string): void {
    const now = this.now();
    const last = this.lastFailure.get(reason);
    if (last !== undefined && now - last < (this.o.failureIntervalMs ?? 30_000)) return;
    this.lastFailure.set(reason, now);
    this.emit('Warning', reason, message);
  }

  /** The agent is idle again: deferred Events go out now. */
  notifyIdle(): void {
    this.wake?.();
  }

  /** Waits (at most timeoutMs) for the queued Events to be written. */
  async flush(timeoutMs: number): Promise<void> {
    if (!this.draining) return;
    await settledWithin(this.draining, timeoutMs);
  }

  private async drain(): Promise<void> {
    const maxDefer = this.o.maxDeferMs ?? 2_000;
    for (let e = this.queue[0]; e; e = this.queue[0]) {
      const wait = this.o.deferWhile?.() ? e.at + maxDefer - this.now() : 0;
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      this.queue.shift();
      try {
        await this.o.api.createEvent(NODE_EVENTS_NAMESPACE, this.body(e));
        this.o.onResult?.(e.type, e.reason, true);
      } catch (err) {
        this.o.onResult?.(e.type, e.reason, false);
        this.o.logger.warn(
          { reason: e.reason, err: (err as Error).message },
          'events: could not write an Event',
        );
      }
    }
  }

  private body(e: Pending): object {
    const time = new Date(e.at).toISOString().replace(/\.\d+Z$/, 'Z');
    const suffix = (e.at * 1000 + (this.seq++ % 1000)).toString(16);
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${this.o.nodeName.slice(0, 200)}.${suffix}`, namespace: NODE_EVENTS_NAMESPACE },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Node',
        name: this.o.nodeName,
        ...(this.nodeUid ? { uid: this.nodeUid } : {}),
      },
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: REPORTING_COMPONENT, host: this.o.nodeName },
      reportingComponent: REPORTING_COMPONENT,
      reportingInstance: this.o.nodeName.slice(0, 128),
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    };
  }
}
