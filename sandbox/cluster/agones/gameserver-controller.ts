// Agones' GameServer controller and health controller in one loop: for each GameServer it takes
// the next step of its lifecycle (gameserver-state.ts) from the cached GameServer, its pod and the
// pod's node: port allocation, creating the pod, Scheduled with address and ports, RequestReady to
// Ready, Unhealthy when the pod is gone or evicted, deleting Shutdown GameServers (then their pod,
// then the finalizer). Writes are full updates carrying the cached resourceVersion; a conflict just
// waits for the watch to deliver the newer object.

import type { Logger } from 'pino';
import type { KubeObject } from '../../kube/types.js';
import type { SeededRandom, SimClock } from '../../clock.js';
import { keyOf } from '../informer.js';
import { WorkQueue } from '../workqueue.js';
import { EventRecorder } from '../events.js';
import { GAMESERVERS, PODS, isApiErrorCode, named, type ClusterHost } from '../host.js';
import { AGONES_CONTROLLER } from '../identities.js';
import { PortAllocator } from '../ports.js';
import { nextGameServerStep, stateOf, withAllocatedPorts } from '../gameserver-state.js';
import { formatRFC3339 } from '../time.js';
import type { AgonesInformers } from './informers.js';

export interface GameServerControllerOptions {
  clock: SimClock;
  random: SeededRandom;
  logger: Logger;
  events?: boolean;
  portRange?: { min: number; max: number };
  concurrency?: number;
  /** Re-examine GameServers in a transient state this often (simulated ms); the informer resync. */
  resyncMs?: number;
}

const STEADY = new Set(['Ready', 'Allocated', 'Reserved', 'Unhealthy', 'Error']);

function dynamicHostPorts(gs: KubeObject): number[] {
  return (gs.spec?.ports ?? [])
    .filter((p: any) => (p?.portPolicy === 'Dynamic' || p?.portPolicy === 'Passthrough') && p?.hostPort)
    .map((p: any) => p.hostPort as number);
}

export class GameServerController {
  readonly queue: WorkQueue;
  readonly ports: PortAllocator;
  private readonly client;
  private readonly events: EventRecorder;
  private cancelResync: (() => void) | undefined;

  constructor(
    host: ClusterHost,
    private readonly informers: AgonesInformers,
    private readonly options: GameServerControllerOptions,
  ) {
    this.client = host.client(AGONES_CONTROLLER);
    this.events = new EventRecorder(
      this.client,
      'gameserver-controller',
      options.clock,
      options.events ?? true,
    );
    this.ports = new PortAllocator(
      options.portRange?.min ?? 7000,
      options.portRange?.max ?? 8000,
      options.random,
    );
    this.queue = new WorkQueue((key) => this.sync(key), {
      name: 'gameservers',
      clock: options.clock,
      logger: options.logger,
      concurrency: options.concurrency ?? 16,
    });
    informers.gameServers.on((type, gs) => {
      if (type === 'DELETED') {
        for (const p of dynamicHostPorts(gs)) this.ports.release(p);
        return;
      }
      this.queue.add(keyOf(gs));
    });
    // A pod event concerns the GameServer of the same name.
    informers.pods.on((_type, pod) => {
      const owner = (pod.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === 'GameServer');
      if (owner) this.queue.add(`${pod.metadata.namespace}/${owner.name}`);
    });
    informers.nodes.on((type) => {
      if (type !== 'MODIFIED') this.ports.setNodeCount(informers.nodes.cache.size);
    });
  }

  /** Call after the informers synced. */
  start(): void {
    this.ports.setNodeCount(this.informers.nodes.cache.size);
    for (const gs of this.informers.gameServers.values())
      for (const p of dynamicHostPorts(gs)) this.ports.markTaken(p);
    for (const gs of this.informers.gameServers.values()) this.queue.add(keyOf(gs));
    const resync = this.options.resyncMs ?? 30_000;
    this.cancelResync = this.options.clock.setInterval(() => {
      for (const gs of this.informers.gameServers.values()) {
        if (gs.metadata.deletionTimestamp || !STEADY.has(stateOf(gs))) this.queue.add(keyOf(gs));
      }
    }, resync);
  }

  stop(): void {
    this.cancelResync?.();
    this.queue.stop();
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const gs = this.informers.gameServers.get(namespace, name);
    if (!gs) return;
    const pod = this.informers.pods.get(namespace, name);
    const node = pod?.spec?.nodeName ? this.informers.nodes.get(undefined, pod.spec.nodeName) : undefined;
    const step = nextGameServerStep(gs, pod, node);
    const gsRef = named(GAMESERVERS, namespace, name);
    try {
      switch (step.kind) {
        case 'none':
        case 'wait':
          return;
        case 'applyDefaults':
          await this.client.update(gsRef, step.gameServer);
          return;
        case 'allocatePorts': {
          const ports = this.ports.allocate(step.count);
          if (!ports) {
            this.options.logger.warn({ gameServer: key }, 'no free host ports');
            throw new Error('no free host ports');
          }
          try {
            await this.client.update(gsRef, withAllocatedPorts(gs, ports));
          } catch (err) {
            for (const p of ports) this.ports.release(p);
            throw err;
          }
          return;
        }
        case 'createPod': {
          try {
            await this.client.create({ ...PODS, namespace }, step.pod);
            this.events.record(gs, 'Normal', 'Creating', `Pod ${name} created`);
          } catch (err) {
            if (isApiErrorCode(err, 422)) {
              // An invalid pod template: the GameServer goes to Error (and its set recreates it later).
              const errored = structuredClone(gs);
              errored.status = { ...(errored.status ?? {}), state: 'Error' };
              errored.metadata.annotations = {
                ...(errored.metadata.annotations ?? {}),
                'agones.dev/errored-at': formatRFC3339(this.options.clock.now()),
              };
              await this.client.update(gsRef, errored);
              this.events.record(gs, 'Warning', 'Error', (err as Error).message);
              return;
            }
            if (!isApiErrorCode(err, 409)) throw err;
          }
          await this.client.update(gsRef, step.then);
          return;
        }
        case 'update': {
          await this.client.update(gsRef, step.gameServer);
          const state = step.gameServer.status?.state;
          if (state === 'Unhealthy') this.events.record(gs, 'Warning', 'Unhealthy', step.reason);
          else if (state === 'Scheduled')
            this.events.record(gs, 'Normal', 'Scheduled', 'Address and port populated');
          return;
        }
        case 'markReady': {
          if (step.podAnnotation && pod) {
            const annotated = structuredClone(pod);
            annotated.metadata.annotations = {
              ...(annotated.metadata.annotations ?? {}),
              [step.podAnnotation.name]: step.podAnnotation.value,
            };
            await this.client.update(named(PODS, namespace, name), annotated);
          }
          await this.client.update(gsRef, step.gameServer);
          this.events.record(gs, 'Normal', 'Ready', `SDK.Ready() complete`);
          return;
        }
        case 'deletePod':
          try {
            await this.client.delete(named(PODS, namespace, name));
          } catch (err) {
            if (!isApiErrorCode(err, 404)) throw err;
          }
          return;
        case 'removeFinalizer':
          await this.client.update(gsRef, step.gameServer);
          return;
        case 'deleteGameServer':
          try {
            await this.client.delete(gsRef, { propagationPolicy: 'Background' });
            this.events.record(gs, 'Normal', 'Shutdown', 'Deleting shutdown GameServer');
          } catch (err) {
            if (!isApiErrorCode(err, 404)) throw err;
          }
          return;
      }
    } catch (err) {
      // A conflict means the cache is behind: the watch brings the newer object and a new sync.
      if (isApiErrorCode(err, 409) || isApiErrorCode(err, 404)) return;
      throw err;
    }
  }
}
