// A model of the old Python adapter's node daemon, written from its documented behaviour (not from its
// code), so that the sandbox can run nodes with it and move them to the node agent one by one, as a
// studio migrating a live fleet does (docs/migration.md). What it does, and no more:
//
// - At start: RegisterGameServer with the instance id as game server id (a ConflictException, the game
//   server being registered already, is taken as done), ClaimGameServer, then UpdateGameServer
//   UTILIZED: claimed for as long as it runs. It taints its Node `gamelift.status/active=true:NoExecute`
//   (the game servers of a fleet made for it tolerate that taint) and reports health on a timer.
// - It subscribes to the Redis channel named after its instance id (a pure subscriber: nothing is read
//   at start) and reads only `InstanceStatus` from each message's JSON.
// - On ACTIVE → DRAINING: it cordons the Node, adds the toleration `gamelift.status/draining=true:
//   NoExecute` to the pods of the Allocated game servers on its node (found by listing every GameServer
//   of the cluster), then taints the Node with it; un-allocated game servers are evicted by the taint.
//   It then lists the GameServers on a timer and, once none on its node is Allocated, deregisters.
// - SPOT_TERMINATING is not handled; a DRAINING that becomes ACTIVE again undoes nothing.
// - On SIGTERM (its pod deleted: a rollout, or the migration taking it off the node) it deregisters
//   the game server before it exits. Killed (its machine gone), it does nothing.
import {
  ClaimGameServerCommand,
  DeregisterGameServerCommand,
  RegisterGameServerCommand,
  UpdateGameServerCommand,
  type GameLiftClient,
} from '@aws-sdk/client-gamelift';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DRAIN_TAINT, FLEETIQ_STATUSES, type InstanceStatus } from '../../shared/contract.js';
import { drainTolerationPatch, podToleratesDrain, type PodTolerations } from '../../shared/drain-contract.js';
import { parseRedisUrl } from '../../shared/redis-url.js';
import { statusChannel } from '../../shared/status-message.js';
import type { LocalClient } from '../kube/types.js';

/** The taint the old daemon puts on its node at start. */
export const LEGACY_ACTIVE_TAINT = { key: 'gamelift.status/active', value: 'true', effect: 'NoExecute' };
/** What a fleet made for the old adapter carries so that its game servers run on its nodes. */
export const LEGACY_ACTIVE_TOLERATION = {
  key: 'gamelift.status/active',
  operator: 'Exists',
  effect: 'NoExecute',
};

const NODES = { group: '', version: 'v1', resource: 'nodes' };
const PODS = { group: '', version: 'v1', resource: 'pods' };
const GAMESERVERS = { group: 'agones.dev', version: 'v1', resource: 'gameservers' };

/**
 * How the old daemon reads a message from its channel: JSON, and the `InstanceStatus` field. Anything
 * else in the message (our pubsub's ObservedAt, Sequence, Signature) is not looked at.
 */
export function legacyDaemonReads(raw: string): InstanceStatus | undefined {
  try {
    const status = (JSON.parse(raw) as { InstanceStatus?: unknown })?.InstanceStatus;
    return (FLEETIQ_STATUSES as readonly unknown[]).includes(status) ? (status as InstanceStatus) : undefined;
  } catch {
    return undefined;
  }
}

export interface LegacyDaemonOptions {
  nodeName: string;
  instanceId: string;
  group: string;
  /** The old daemon's Kubernetes access (its RBAC granted every verb on nodes and pods). */
  kube: LocalClient;
  gamelift: Pick<GameLiftClient, 'send'>;
  redisUrl: string;
  /** Health reports (UpdateGameServer HEALTHY) this often. */
  healthIntervalMs: number;
  /** While draining, the GameServers are listed this often. */
  drainCheckIntervalMs: number;
  logger: Logger;
}

export type LegacyDaemonState = 'running' | 'draining' | 'deregistered' | 'stopped';

export interface LegacyDaemonStats {
  healthReports: number;
  /** DeregisterGameServer calls, and how they ended. */
  deregisterCalls: number;
  deregistered: number;
  deregisterRefused: number;
  drains: number;
}

const nameOf = (err: unknown) => (err as { name?: string })?.name ?? 'Error';

export class LegacyDaemon {
  private stateValue: LegacyDaemonState = 'running';
  private sub?: Redis;
  private healthTimer?: NodeJS.Timeout;
  private drainTimer?: NodeJS.Timeout;
  private lastStatus: InstanceStatus = 'ACTIVE';
  private draining?: Promise<void>;
  readonly stats: LegacyDaemonStats = {
    healthReports: 0,
    deregisterCalls: 0,
    deregistered: 0,
    deregisterRefused: 0,
    drains: 0,
  };

  private constructor(private readonly o: LegacyDaemonOptions) {}

  /** Starts the daemon: registered, claimed, UTILIZED, its node tainted, subscribed. */
  static async start(o: LegacyDaemonOptions): Promise<LegacyDaemon> {
    const d = new LegacyDaemon(o);
    await d.boot();
    return d;
  }

  state(): LegacyDaemonState {
    return this.stateValue;
  }

  private get key() {
    return { GameServerGroupName: this.o.group, GameServerId: this.o.instanceId };
  }

  private async boot(): Promise<void> {
    try {
      await this.o.gamelift.send(
        new RegisterGameServerCommand({ ...this.key, InstanceId: this.o.instanceId }),
      );
    } catch (err) {
      if (nameOf(err) !== 'ConflictException') throw err;
    }
    try {
      await this.o.gamelift.send(new ClaimGameServerCommand(this.key));
    } catch (err) {
      if (nameOf(err) !== 'ConflictException') throw err;
    }
    await this.o.gamelift.send(
      new UpdateGameServerCommand({ ...this.key, UtilizationStatus: 'UTILIZED', HealthCheck: 'HEALTHY' }),
    );
    await this.patchTaints((taints) =>
      taints.some((t) => t.key === LEGACY_ACTIVE_TAINT.key)
        ? undefined
        : [...taints, { ...LEGACY_ACTIVE_TAINT }],
    );
    const sub = new Redis({ ...parseRedisUrl(this.o.redisUrl), lazyConnect: true, retryStrategy: () => 500 });
    this.sub = sub;
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, raw: string) => this.onMessage(raw));
    await sub.connect();
    await sub.subscribe(statusChannel(this.o.instanceId));
    this.scheduleHealth();
    this.o.logger.info({ node: this.o.nodeName }, 'legacy daemon: registered, claimed, tainted, subscribed');
  }

  private scheduleHealth(): void {
    this.healthTimer = setTimeout(() => {
      if (this.stateValue !== 'running' && this.stateValue !== 'draining') return;
      this.o.gamelift
        .send(new UpdateGameServerCommand({ ...this.key, HealthCheck: 'HEALTHY' }))
        .then(() => void this.stats.healthReports++)
        .catch((err: Error) =>
          this.o.logger.warn({ err: err.message }, 'legacy daemon: health report failed'),
        )
        .finally(() => this.scheduleHealth());
    }, this.o.healthIntervalMs);
    this.healthTimer.unref?.();
  }

  private onMessage(raw: string): void {
    const status = legacyDaemonReads(raw);
    if (status === undefined || this.stateValue !== 'running') return;
    const before = this.lastStatus;
    this.lastStatus = status;
    if (before === 'ACTIVE' && status === 'DRAINING') this.draining = this.drain();
  }

  private async drain(): Promise<void> {
    this.stateValue = 'draining';
    this.stats.drains++;
    this.o.logger.info({ node: this.o.nodeName }, 'legacy daemon: DRAINING: cordon, tolerate, taint');
    try {
      await this.o.kube.patch({ ...NODES, name: this.o.nodeName }, 'merge', {
        spec: { unschedulable: true },
      });
      for (const gs of await this.allocatedHere()) {
        const ref = { ...PODS, namespace: gs.namespace, name: gs.name };
        const pod = (await this.o.kube.get(ref).catch(() => undefined)) as PodTolerations | undefined;
        if (!pod || podToleratesDrain(pod)) continue;
        await this.o.kube.patch(ref, 'json', drainTolerationPatch(pod)).catch(() => undefined);
      }
      await this.patchTaints((taints) =>
        taints.some((t) => t.key === DRAIN_TAINT.key) ? undefined : [...taints, { ...DRAIN_TAINT }],
      );
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'legacy daemon: drain step failed');
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    this.drainTimer = setTimeout(() => {
      if (this.stateValue !== 'draining') return;
      this.allocatedHere()
        .then(async (left) => {
          if (left.length > 0 || this.stateValue !== 'draining') return this.checkDrained();
          if (await this.deregister()) this.stateValue = 'deregistered';
          else this.checkDrained();
        })
        .catch(() => this.checkDrained());
    }, this.o.drainCheckIntervalMs);
    this.drainTimer.unref?.();
  }

  /** Every Allocated GameServer on this node, from a list of all GameServers (as the old daemon does). */
  private async allocatedHere(): Promise<{ namespace: string; name: string }[]> {
    const list = await this.o.kube.list(GAMESERVERS);
    return list.items
      .filter((gs) => gs.status?.nodeName === this.o.nodeName && gs.status?.state === 'Allocated')
      .map((gs) => ({ namespace: gs.metadata.namespace!, name: gs.metadata.name! }));
  }

  /** DeregisterGameServer; false when it failed (an IAM deny, FleetIQ down). */
  private async deregister(): Promise<boolean> {
    this.stats.deregisterCalls++;
    try {
      await this.o.gamelift.send(new DeregisterGameServerCommand(this.key));
      this.stats.deregistered++;
      this.o.logger.info({ node: this.o.nodeName }, 'legacy daemon: deregistered');
      return true;
    } catch (err) {
      if (nameOf(err) === 'NotFoundException') return true;
      if (nameOf(err) === 'AccessDeniedException') this.stats.deregisterRefused++;
      this.o.logger.warn({ err: (err as Error).message }, 'legacy daemon: deregistration failed');
      return false;
    }
  }

  private async patchTaints(
    change: (taints: { key: string }[]) => { key: string }[] | undefined,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const node = await this.o.kube.get({ ...NODES, name: this.o.nodeName });
      const taints = change((node.spec?.taints ?? []) as { key: string }[]);
      if (!taints) return;
      try {
        await this.o.kube.patch({ ...NODES, name: this.o.nodeName }, 'merge', {
          metadata: { resourceVersion: node.metadata.resourceVersion },
          spec: { taints },
        });
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt >= 5) throw err;
      }
    }
  }

  /**
   * `sigterm`: its pod was deleted; it deregisters the game server (unless IAM refuses), then exits.
   * `killed`: its machine went away; nothing more is called.
   */
  async stop(how: 'sigterm' | 'killed'): Promise<void> {
    const was = this.stateValue;
    this.stateValue = 'stopped';
    clearTimeout(this.healthTimer);
    clearTimeout(this.drainTimer);
    this.sub?.disconnect();
    await this.draining?.catch(() => undefined);
    if (how === 'sigterm' && was !== 'deregistered') await this.deregister();
  }
}
