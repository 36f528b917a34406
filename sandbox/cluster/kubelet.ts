// The kubelets of every simulated node (each acting as system:node:<name>): a pod bound to a Ready
// node gets its sandbox (pod IP) and then its containers running after the configured delays; a pod
// being deleted gets SIGTERM and is removed (delete with gracePeriodSeconds 0) once its process
// ends: when its grace period runs out, or earlier if the game server exits on SIGTERM (annotation
// EXIT_ON_SIGTERM_ANNOTATION, or the kubelet-wide default). Also the pod garbage collector's
// orphan sweep: pods bound to a node that no longer exists are force-deleted.

import type { Logger } from 'pino';
import type { KubeObject, LocalClient } from '../kube/types.js';
import type { SeededRandom, SimClock } from '../clock.js';
import { informerFor, keyOf, type Informer, type InformerFactory } from './informer.js';
import { POD_GC, kubelet } from './identities.js';
import { NODES, PODS, isApiErrorCode, named, type ClusterHost } from './host.js';
import { formatRFC3339 } from './time.js';

/** Pod annotation: the process exits this many seconds after SIGTERM (a clean shutdown). */
export const EXIT_ON_SIGTERM_ANNOTATION = 'sim.fleetiq-agones.io/exit-on-sigterm-seconds';

export interface KubeletOptions {
  clock: SimClock;
  random: SeededRandom;
  logger: Logger;
  /** Seconds from binding until the containers run (default 2). */
  podStartDelaySeconds?: number;
  /** Seconds from binding until the sandbox has an IP (default min(1, start delay)). */
  sandboxDelaySeconds?: number;
  /** Default for pods without the annotation: exit this long after SIGTERM; undefined: run until killed. */
  exitOnSigtermSeconds?: number;
  /** Orphaned pods (node gone) are force-deleted after this long (simulated seconds, default 40). */
  orphanGraceSeconds?: number;
  informers?: InformerFactory;
}

interface PodTimers {
  uid: string;
  cancel: (() => void)[];
  terminating?: boolean;
  started?: boolean;
}

function isFinished(pod: KubeObject): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function nodeReady(node: KubeObject | undefined): boolean {
  return (node?.status?.conditions ?? []).some((c: any) => c?.type === 'Ready' && c?.status === 'True');
}

export class Kubelets {
  private readonly podInformer: Informer;
  private readonly nodeInformer: Informer;
  private readonly timers = new Map<string, PodTimers>();
  private readonly clients = new Map<string, LocalClient>();
  private readonly orphanSince = new Map<string, number>();
  private podIpCounter = 0;
  private stopped = false;
  private cancelSweep: (() => void) | undefined;
  started = 0;
  terminated = 0;

  constructor(
    private readonly host: ClusterHost,
    private readonly options: KubeletOptions,
  ) {
    const watcher = host.client(POD_GC);
    const base = { logger: options.logger, clock: options.clock };
    this.nodeInformer = informerFor(options.informers, watcher, NODES, base).on((type, node) =>
      this.onNode(type, node),
    );
    this.podInformer = informerFor(options.informers, watcher, PODS, base).on((type, pod) =>
      this.onPod(type, pod),
    );
  }

  async start(): Promise<void> {
    await Promise.all([this.nodeInformer.start(), this.podInformer.start()]);
    for (const pod of this.podInformer.values()) this.reconcile(pod);
    const orphanGrace = (this.options.orphanGraceSeconds ?? 40) * 1000;
    this.cancelSweep = this.options.clock.setInterval(
      () => this.sweepOrphans(orphanGrace),
      Math.max(1000, orphanGrace / 2),
    );
  }

  stop(): void {
    this.stopped = true;
    this.cancelSweep?.();
    for (const t of this.timers.values()) for (const c of t.cancel) c();
    this.timers.clear();
    this.podInformer.stop();
    this.nodeInformer.stop();
  }

  private clientFor(nodeName: string): LocalClient {
    let c = this.clients.get(nodeName);
    if (!c) this.clients.set(nodeName, (c = this.host.client(kubelet(nodeName))));
    return c;
  }

  private onNode(type: string, node: KubeObject): void {
    if (type === 'DELETED') {
      this.clients.delete(node.metadata.name!);
      return;
    }
    // A node that became Ready starts the pods waiting on it.
    if (nodeReady(node)) {
      for (const pod of this.podInformer.values())
        if (pod.spec?.nodeName === node.metadata.name) this.reconcile(pod);
    }
  }

  private onPod(type: string, pod: KubeObject): void {
    const key = keyOf(pod);
    if (type === 'DELETED') {
      const t = this.timers.get(key);
      if (t) for (const c of t.cancel) c();
      this.timers.delete(key);
      this.orphanSince.delete(key);
      return;
    }
    this.reconcile(pod);
  }

  private reconcile(pod: KubeObject): void {
    if (this.stopped || !this.podInformer.hasSynced) return;
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) return;
    const key = keyOf(pod);
    let t = this.timers.get(key);
    if (t && t.uid !== pod.metadata.uid) {
      for (const c of t.cancel) c();
      this.timers.delete(key);
      t = undefined;
    }
    const node = this.nodeInformer.get(undefined, nodeName);
    // A kubelet that is not running (node NotReady or gone) does nothing.
    if (!nodeReady(node)) return;
    if (!t) this.timers.set(key, (t = { uid: pod.metadata.uid ?? '', cancel: [] }));

    if (pod.metadata.deletionTimestamp) {
      if (!t.terminating && !isFinished(pod)) this.beginTermination(pod, t);
      else if (isFinished(pod) && !t.terminating) {
        t.terminating = true;
        void this.removePod(pod);
      }
      return;
    }
    if (isFinished(pod) || t.started) return;
    t.started = true;
    const startMs = (this.options.podStartDelaySeconds ?? 2) * 1000;
    const sandboxMs = Math.min(startMs, (this.options.sandboxDelaySeconds ?? 1) * 1000);
    const hasIp = Boolean(pod.status?.podIP);
    if (pod.status?.phase === 'Running') return;
    if (!hasIp && sandboxMs < startMs) {
      t.cancel.push(this.options.clock.setTimeout(() => void this.sandboxReady(key), sandboxMs));
    }
    t.cancel.push(
      this.options.clock.setTimeout(
        () => void this.containersRunning(key),
        hasIp ? startMs - sandboxMs : startMs,
      ),
    );
  }

  private nextPodIp(): string {
    const n = this.podIpCounter++;
    return `192.168.${Math.floor(n / 250) % 256}.${(n % 250) + 2}`;
  }

  /** PUT pods/<name>/status with a change built from the freshest copy; retried on conflict. */
  private async writeStatus(
    key: string,
    change: (pod: KubeObject) => Record<string, any> | undefined,
  ): Promise<KubeObject | undefined> {
    const [namespace, name] = key.split('/');
    let pod = this.podInformer.get(namespace, name);
    for (let attempt = 0; attempt < 5 && pod && !this.stopped; attempt++) {
      const nodeName = pod.spec?.nodeName;
      if (!nodeName) return undefined;
      const status = change(pod);
      if (!status) return undefined;
      try {
        return await this.clientFor(nodeName).update(named(PODS, namespace, name, 'status'), {
          ...pod,
          status,
        });
      } catch (err) {
        if (isApiErrorCode(err, 404)) return undefined;
        if (!isApiErrorCode(err, 409)) {
          this.options.logger.warn({ err, pod: key }, 'kubelet status update failed');
          return undefined;
        }
        try {
          pod = await this.clientFor(nodeName).get(named(PODS, namespace, name));
        } catch {
          return undefined;
        }
      }
    }
    return undefined;
  }

  private containerIds(pod: KubeObject): string[] {
    return (pod.spec?.containers ?? []).map(
      () => `containerd://${this.options.random.string(64, '0123456789abcdef')}`,
    );
  }

  private baseConditions(now: string, ready: boolean): any[] {
    const c = (type: string, status: boolean, reason?: string) => ({
      type,
      status: status ? 'True' : 'False',
      lastProbeTime: null,
      lastTransitionTime: now,
      ...(reason ? { reason } : {}),
    });
    return [
      c('PodReadyToStartContainers', true),
      c('Initialized', true),
      c('Ready', ready, ready ? undefined : 'ContainersNotReady'),
      c('ContainersReady', ready, ready ? undefined : 'ContainersNotReady'),
      c('PodScheduled', true),
    ];
  }

  private async sandboxReady(key: string): Promise<void> {
    const ip = this.nextPodIp();
    await this.writeStatus(key, (pod) => {
      if (pod.metadata.deletionTimestamp || pod.status?.podIP) return undefined;
      const now = formatRFC3339(this.options.clock.now());
      const hostIP = this.hostIp(pod);
      return {
        ...(pod.status ?? {}),
        phase: 'Pending',
        conditions: this.baseConditions(now, false),
        hostIP,
        hostIPs: [{ ip: hostIP }],
        podIP: ip,
        podIPs: [{ ip }],
        startTime: now,
        containerStatuses: (pod.spec?.containers ?? []).map((c: any) => ({
          name: c.name,
          image: c.image,
          imageID: '',
          ready: false,
          restartCount: 0,
          started: false,
          state: { waiting: { reason: 'ContainerCreating' } },
          lastState: {},
        })),
      };
    });
  }

  private hostIp(pod: KubeObject): string {
    const node = this.nodeInformer.get(undefined, pod.spec?.nodeName ?? '');
    return (node?.status?.addresses ?? []).find((a: any) => a?.type === 'InternalIP')?.address ?? '';
  }

  private async containersRunning(key: string): Promise<void> {
    const written = await this.writeStatus(key, (pod) => {
      if (pod.metadata.deletionTimestamp || pod.status?.phase === 'Running' || isFinished(pod))
        return undefined;
      const now = formatRFC3339(this.options.clock.now());
      const ip = pod.status?.podIP ?? this.nextPodIp();
      const hostIP = pod.status?.hostIP ?? this.hostIp(pod);
      const ids = this.containerIds(pod);
      return {
        ...(pod.status ?? {}),
        phase: 'Running',
        conditions: this.baseConditions(now, true),
        hostIP,
        hostIPs: [{ ip: hostIP }],
        podIP: ip,
        podIPs: [{ ip }],
        startTime: pod.status?.startTime ?? now,
        containerStatuses: (pod.spec?.containers ?? []).map((c: any, i: number) => ({
          name: c.name,
          image: c.image,
          imageID: `${c.image}@sha256:${'0'.repeat(64)}`,
          containerID: ids[i],
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: now } },
          lastState: {},
        })),
      };
    });
    if (written) this.started++;
  }

  private exitAfterSigtermMs(pod: KubeObject): number | undefined {
    const raw = pod.metadata.annotations?.[EXIT_ON_SIGTERM_ANNOTATION];
    const v = raw !== undefined ? Number(raw) : this.options.exitOnSigtermSeconds;
    return v !== undefined && Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  }

  private beginTermination(pod: KubeObject, t: PodTimers): void {
    t.terminating = true;
    for (const c of t.cancel.splice(0)) c();
    const key = keyOf(pod);
    const now = this.options.clock.now();
    const killAt = Date.parse(pod.metadata.deletionTimestamp!);
    const graceLeft = Math.max(0, (Number.isFinite(killAt) ? killAt : now) - now);
    const running = pod.status?.phase === 'Running';
    const exitMs = running ? this.exitAfterSigtermMs(pod) : 0;
    // The process ends by itself (clean exit) before the grace period runs out, or is killed.
    const selfExit = exitMs !== undefined && exitMs < graceLeft;
    const delay = selfExit ? exitMs! : graceLeft;
    t.cancel.push(this.options.clock.setTimeout(() => void this.finishTermination(key, selfExit), delay));
  }

  private async finishTermination(key: string, selfExit: boolean): Promise<void> {
    const written = await this.writeStatus(key, (pod) => {
      if (!pod.metadata.deletionTimestamp) return undefined;
      const now = formatRFC3339(this.options.clock.now());
      const exitCode = selfExit ? 0 : 137;
      return {
        ...(pod.status ?? {}),
        phase: selfExit ? 'Succeeded' : 'Failed',
        conditions: this.baseConditions(now, false),
        containerStatuses: (pod.status?.containerStatuses ?? []).map((cs: any) => ({
          ...cs,
          ready: false,
          started: false,
          state: {
            terminated: {
              exitCode,
              reason: selfExit ? 'Completed' : 'Error',
              startedAt: cs.state?.running?.startedAt ?? now,
              finishedAt: now,
              containerID: cs.containerID,
            },
          },
        })),
      };
    });
    const [namespace, name] = key.split('/');
    const pod = written ?? this.podInformer.get(namespace, name);
    if (pod) await this.removePod(pod);
  }

  /** The kubelet's final delete of a pod whose containers have stopped. */
  private async removePod(pod: KubeObject): Promise<void> {
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) return;
    try {
      await this.clientFor(nodeName).delete(named(PODS, pod.metadata.namespace, pod.metadata.name!), {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      });
      this.terminated++;
    } catch (err) {
      if (!isApiErrorCode(err, 404) && !isApiErrorCode(err, 409))
        this.options.logger.warn({ err, pod: keyOf(pod) }, 'kubelet delete failed');
    }
  }

  private sweepOrphans(graceMs: number): void {
    if (!this.nodeInformer.hasSynced || !this.podInformer.hasSynced) return;
    const now = this.options.clock.now();
    const gc = this.host.client(POD_GC);
    for (const pod of this.podInformer.values()) {
      const nodeName = pod.spec?.nodeName;
      const key = keyOf(pod);
      if (!nodeName || this.nodeInformer.get(undefined, nodeName)) {
        this.orphanSince.delete(key);
        continue;
      }
      const since = this.orphanSince.get(key);
      if (since === undefined) this.orphanSince.set(key, now);
      else if (now - since >= graceMs) {
        this.orphanSince.delete(key);
        gc.delete(named(PODS, pod.metadata.namespace, pod.metadata.name!), { gracePeriodSeconds: 0 }).catch(
          () => undefined,
        );
      }
    }
  }
}
