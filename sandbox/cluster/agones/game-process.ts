// The game server processes inside the simulated pods: once its GameServer is Scheduled (pod
// running, address known) each process finishes starting and calls SDK.Ready() after a delay.

import type { Logger } from 'pino';
import type { KubeObject } from '../../kube/types.js';
import type { SimClock } from '../../clock.js';
import { informerFor, keyOf, type Informer, type InformerFactory } from '../informer.js';
import { GAMESERVERS, type ClusterHost } from '../host.js';
import { AGONES_CONTROLLER } from '../identities.js';
import { stateOf } from '../gameserver-state.js';
import type { GameServerSdk } from './sdk.js';

export interface GameProcessOptions {
  clock: SimClock;
  logger: Logger;
  /** Seconds from Scheduled until the process calls SDK.Ready() (default 1). */
  readyDelaySeconds?: number;
  sdk: (namespace: string, name: string) => GameServerSdk;
  informers?: InformerFactory;
}

export class GameProcesses {
  private readonly informer: Informer;
  /** GameServer uids whose process already called (or is about to call) Ready. */
  private readonly readied = new Map<string, () => void>();
  private stopped = false;
  readyCalls = 0;

  constructor(
    host: ClusterHost,
    private readonly options: GameProcessOptions,
  ) {
    this.informer = informerFor(options.informers, host.client(AGONES_CONTROLLER), GAMESERVERS, {
      logger: options.logger,
      clock: options.clock,
    }).on((type, gs) => this.onGameServer(type, gs));
  }

  async start(): Promise<void> {
    await this.informer.start();
  }

  stop(): void {
    this.stopped = true;
    for (const cancel of this.readied.values()) cancel();
    this.readied.clear();
    this.informer.stop();
  }

  private onGameServer(type: string, gs: KubeObject): void {
    const uid = gs.metadata.uid ?? keyOf(gs);
    if (type === 'DELETED') {
      this.readied.get(uid)?.();
      this.readied.delete(uid);
      return;
    }
    if (this.stopped || stateOf(gs) !== 'Scheduled' || gs.metadata.deletionTimestamp || this.readied.has(uid))
      return;
    const ns = gs.metadata.namespace ?? 'default';
    const name = gs.metadata.name!;
    const cancel = this.options.clock.setTimeout(
      () => {
        this.readied.set(uid, () => undefined);
        this.readyCalls++;
        this.options
          .sdk(ns, name)
          .ready()
          .catch((err) =>
            this.options.logger.debug({ err, gameServer: `${ns}/${name}` }, 'SDK.Ready() failed'),
          );
      },
      (this.options.readyDelaySeconds ?? 1) * 1000,
    );
    this.readied.set(uid, cancel);
  }
}
