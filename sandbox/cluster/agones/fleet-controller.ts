// Agones' Fleet controller, reduced: a Fleet owns one active GameServerSet with its template
// (generateName `<fleet>-`, label agones.dev/fleet) and keeps its replicas; a changed template gets
// a new set while the old sets are scaled to 0 (their Allocated GameServers stay, counting against
// the fleet) and deleted once empty. The fleet's status sums its sets'. (Agones' RollingUpdate
// pacing by maxSurge/maxUnavailable is not modelled: the switch behaves like Recreate.)

import type { Logger } from 'pino';
import type { KubeObject } from '../../kube/types.js';
import type { SimClock } from '../../clock.js';
import { keyOf } from '../informer.js';
import { WorkQueue } from '../workqueue.js';
import { EventRecorder } from '../events.js';
import { FLEETS, GAMESERVERSETS, isApiErrorCode, named, type ClusterHost } from '../host.js';
import { AGONES_CONTROLLER } from '../identities.js';
import { FLEET_LABEL } from '../names.js';
import { controllerOf, updateStatus, type AgonesInformers } from './informers.js';

export interface FleetControllerOptions {
  clock: SimClock;
  logger: Logger;
  events?: boolean;
}

const sameTemplate = (a: unknown, b: unknown) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

export class FleetController {
  readonly queue: WorkQueue;
  private readonly client;
  private readonly events: EventRecorder;
  /** A set created for a fleet that the watch has not shown yet (so a second sync does not create another). */
  private readonly creating = new Map<string, { name: string; at: number }>();

  constructor(
    host: ClusterHost,
    private readonly informers: AgonesInformers,
    private readonly options: FleetControllerOptions,
  ) {
    this.client = host.client(AGONES_CONTROLLER);
    this.events = new EventRecorder(this.client, 'fleet-controller', options.clock, options.events ?? true);
    this.queue = new WorkQueue((key) => this.sync(key), {
      name: 'fleets',
      clock: options.clock,
      logger: options.logger,
      concurrency: 2,
      minIntervalMs: 10,
    });
    informers.fleets.on((type, fleet) => {
      if (type !== 'DELETED') this.queue.add(keyOf(fleet));
    });
    informers.gameServerSets.on((_type, gss) => {
      const ref = controllerOf(gss);
      if (ref?.kind === 'Fleet') this.queue.add(`${gss.metadata.namespace}/${ref.name}`);
    });
  }

  start(): void {
    for (const f of this.informers.fleets.values()) this.queue.add(keyOf(f));
  }

  stop(): void {
    this.queue.stop();
  }

  private setsOf(fleet: KubeObject): KubeObject[] {
    const out: KubeObject[] = [];
    for (const gss of this.informers.gameServerSets.values()) {
      if (gss.metadata.namespace !== fleet.metadata.namespace) continue;
      const ref = controllerOf(gss);
      if (ref?.kind === 'Fleet' && ref.uid === fleet.metadata.uid) out.push(gss);
    }
    return out;
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const fleet = this.informers.fleets.get(namespace, name);
    if (!fleet || fleet.metadata.deletionTimestamp) return;
    const replicas = Number(fleet.spec?.replicas ?? 0);
    const scheduling = fleet.spec?.scheduling ?? 'Packed';
    const sets = this.setsOf(fleet);
    const pendingSet = this.creating.get(fleet.metadata.uid!);
    if (pendingSet) {
      const seen = sets.some((s) => s.metadata.name === pendingSet.name);
      if (seen || this.options.clock.now() - pendingSet.at > 60_000)
        this.creating.delete(fleet.metadata.uid!);
      else return;
    }
    const active = sets.find(
      (s) => sameTemplate(s.spec?.template, fleet.spec?.template) && !s.metadata.deletionTimestamp,
    );
    const rest = sets.filter((s) => s !== active);
    const allocatedElsewhere = rest.reduce(
      (n, s) => n + Number(s.status?.allocatedReplicas ?? 0) + Number(s.status?.reservedReplicas ?? 0),
      0,
    );
    const desired = Math.max(0, replicas - allocatedElsewhere);

    try {
      if (!active) {
        const gss = {
          apiVersion: 'agones.dev/v1',
          kind: 'GameServerSet',
          metadata: {
            generateName: `${name}-`,
            namespace,
            labels: { ...(fleet.spec?.template?.metadata?.labels ?? {}), [FLEET_LABEL]: name },
            annotations: { ...(fleet.spec?.template?.metadata?.annotations ?? {}) },
            ownerReferences: [
              {
                apiVersion: 'agones.dev/v1',
                kind: 'Fleet',
                name,
                uid: fleet.metadata.uid!,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          spec: {
            replicas: desired,
            scheduling,
            template: structuredClone(fleet.spec?.template ?? {}),
            ...(fleet.spec?.priorities ? { priorities: fleet.spec.priorities } : {}),
          },
        };
        const created = await this.client.create({ ...GAMESERVERSETS, namespace }, gss);
        this.creating.set(fleet.metadata.uid!, {
          name: created.metadata.name!,
          at: this.options.clock.now(),
        });
        this.events.record(
          fleet,
          'Normal',
          'CreatingGameServerSet',
          `Created GameServerSet ${created.metadata.name}`,
        );
      } else if (
        Number(active.spec?.replicas ?? 0) !== desired ||
        (active.spec?.scheduling ?? 'Packed') !== scheduling
      ) {
        const previous = Number(active.spec?.replicas ?? 0);
        await this.client.update(named(GAMESERVERSETS, namespace, active.metadata.name!), {
          ...active,
          spec: { ...active.spec, replicas: desired, scheduling },
        });
        this.events.record(
          fleet,
          'Normal',
          'ScalingGameServerSet',
          `Scaling active GameServerSet ${active.metadata.name} from ${previous} to ${desired}`,
        );
      }
      for (const old of rest) {
        if (old.metadata.deletionTimestamp) continue;
        if (Number(old.spec?.replicas ?? 0) !== 0) {
          await this.client.update(named(GAMESERVERSETS, namespace, old.metadata.name!), {
            ...old,
            spec: { ...old.spec, replicas: 0 },
          });
        } else if (
          Number(old.status?.replicas ?? 0) === 0 &&
          Number(old.status?.shutdownReplicas ?? 0) === 0
        ) {
          await this.client.delete(named(GAMESERVERSETS, namespace, old.metadata.name!));
        }
      }
    } catch (err) {
      if (!isApiErrorCode(err, 409) && !isApiErrorCode(err, 404)) throw err;
    }

    const sum = (f: string) => sets.reduce((n, s) => n + Number(s.status?.[f] ?? 0), 0);
    const status = {
      replicas: sum('replicas'),
      readyReplicas: sum('readyReplicas'),
      reservedReplicas: sum('reservedReplicas'),
      allocatedReplicas: sum('allocatedReplicas'),
    };
    const current = fleet.status ?? {};
    if ((Object.keys(status) as (keyof typeof status)[]).some((k) => (current[k] ?? 0) !== status[k])) {
      try {
        await updateStatus(this.client, FLEETS, { ...fleet, status: { ...current, ...status } });
      } catch (err) {
        if (!isApiErrorCode(err, 409) && !isApiErrorCode(err, 404)) throw err;
      }
    }
  }
}
