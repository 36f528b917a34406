// Agones' GameServerSet controller: keeps spec.replicas GameServers per set (computeReconciliation
// Action in scale-down.ts): creates missing ones (generateName `<set>-`, labels agones.dev/fleet and
// agones.dev/gameserverset, controller ownerReference, Agones' create defaults), moves Unhealthy
// ones and the scale-down picks to Shutdown (the GameServer controller then deletes them), and
// writes the set's status. Like Agones it remembers what it created or shut down until the watch
// shows it, so a burst of syncs does not over-create.

import type { Logger } from 'pino';
import type { KubeObject } from '../../kube/types.js';
import type { SimClock } from '../../clock.js';
import { keyOf } from '../informer.js';
import { WorkQueue } from '../workqueue.js';
import { EventRecorder } from '../events.js';
import { GAMESERVERS, GAMESERVERSETS, isApiErrorCode, named, type ClusterHost } from '../host.js';
import { AGONES_CONTROLLER } from '../identities.js';
import { applyGameServerDefaults } from '../gameserver-state.js';
import { FLEET_LABEL, GAMESERVERSET_LABEL } from '../names.js';
import {
  DEFAULT_RECONCILE_LIMITS,
  computeReconciliationAction,
  computeSetStatus,
  type ReconcileLimits,
} from '../scale-down.js';
import { controllerOf, updateStatus, type AgonesInformers } from './informers.js';

export interface GameServerSetControllerOptions {
  clock: SimClock;
  logger: Logger;
  events?: boolean;
  limits?: ReconcileLimits;
  creationParallelism?: number;
  deletionParallelism?: number;
  /** Real ms between two syncs of one set (default 10). */
  minSyncIntervalMs?: number;
}

/** GameServerSet.GameServer(): the GameServer the set creates, with Agones' create defaults applied. */
export function gameServerFromSet(gss: KubeObject): KubeObject {
  const template = gss.spec?.template ?? {};
  const metadata = structuredClone(template.metadata ?? {});
  const gs: KubeObject = {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: {
      ...metadata,
      name: undefined,
      generateName: `${gss.metadata.name}-`,
      namespace: gss.metadata.namespace,
      labels: {
        ...(metadata.labels ?? {}),
        [GAMESERVERSET_LABEL]: gss.metadata.name!,
        [FLEET_LABEL]: gss.metadata.labels?.[FLEET_LABEL] ?? '',
      },
      ownerReferences: [
        ...(metadata.ownerReferences ?? []),
        {
          apiVersion: 'agones.dev/v1',
          kind: 'GameServerSet',
          name: gss.metadata.name!,
          uid: gss.metadata.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: { ...structuredClone(template.spec ?? {}), scheduling: gss.spec?.scheduling ?? 'Packed' },
  };
  delete gs.metadata.name;
  delete gs.metadata.resourceVersion;
  delete gs.metadata.uid;
  return applyGameServerDefaults(gs);
}

async function parallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

interface SetState {
  /** Created, not yet in the cache: key → object and when it was created (simulated ms). */
  created: Map<string, { gs: KubeObject; at: number }>;
  shutDown: Map<string, KubeObject>;
}

/** How long a creation the watch never showed is remembered (it was deleted before we saw it). */
const PENDING_CREATION_TTL_MS = 60_000;

export class GameServerSetController {
  readonly queue: WorkQueue;
  private readonly client;
  private readonly events: EventRecorder;
  /** GameServer keys per owning set uid. */
  private readonly bySet = new Map<string, Set<string>>();
  private readonly owner = new Map<string, string>();
  private readonly pending = new Map<string, SetState>();
  private readonly sizes = new Map<string, number>();

  constructor(
    host: ClusterHost,
    private readonly informers: AgonesInformers,
    private readonly options: GameServerSetControllerOptions,
  ) {
    this.client = host.client(AGONES_CONTROLLER);
    this.events = new EventRecorder(
      this.client,
      'gameserverset-controller',
      options.clock,
      options.events ?? true,
    );
    this.queue = new WorkQueue((key) => this.sync(key), {
      name: 'gameserversets',
      clock: options.clock,
      logger: options.logger,
      concurrency: 4,
      // A sync walks all of the set's GameServers: big sets are re-examined less often on events.
      minIntervalMs: (key) => options.minSyncIntervalMs ?? Math.max(10, (this.sizes.get(key) ?? 0) / 50),
    });
    informers.gameServerSets.on((type, gss) => {
      if (type === 'DELETED') this.pending.delete(gss.metadata.uid!);
      else this.queue.add(keyOf(gss));
    });
    informers.gameServers.on((type, gs) => this.onGameServer(type, gs));
  }

  start(): void {
    for (const gs of this.informers.gameServers.values()) this.onGameServer('ADDED', gs);
    for (const gss of this.informers.gameServerSets.values()) this.queue.add(keyOf(gss));
  }

  stop(): void {
    this.queue.stop();
  }

  private onGameServer(type: string, gs: KubeObject): void {
    const key = keyOf(gs);
    const ref = controllerOf(gs);
    const prevOwner = this.owner.get(key);
    if (type === 'DELETED' || !ref || ref.kind !== 'GameServerSet') {
      if (prevOwner) this.bySet.get(prevOwner)?.delete(key);
      this.owner.delete(key);
    } else {
      if (prevOwner && prevOwner !== ref.uid) this.bySet.get(prevOwner)?.delete(key);
      let set = this.bySet.get(ref.uid);
      if (!set) this.bySet.set(ref.uid, (set = new Set()));
      set.add(key);
      this.owner.set(key, ref.uid);
    }
    if (ref?.kind === 'GameServerSet') this.queue.add(`${gs.metadata.namespace}/${ref.name}`);
  }

  /** The set's GameServers, corrected for creations and shutdowns the watch has not shown yet. */
  private gameServersOf(gss: KubeObject): KubeObject[] {
    const uid = gss.metadata.uid!;
    let state = this.pending.get(uid);
    if (!state) this.pending.set(uid, (state = { created: new Map(), shutDown: new Map() }));
    const list: KubeObject[] = [];
    const seen = new Set<string>();
    const cache = this.informers.gameServers.cache;
    for (const key of this.bySet.get(uid) ?? []) {
      const gs = cache.get(key);
      if (!gs) continue;
      seen.add(key);
      state.created.delete(key);
      const shut = state.shutDown.get(key);
      if (shut) {
        if (gs.status?.state === 'Shutdown' || gs.metadata.deletionTimestamp) {
          state.shutDown.delete(key);
        } else {
          list.push({ ...gs, status: { ...gs.status, state: 'Shutdown' } });
          continue;
        }
      }
      list.push(gs);
    }
    const now = this.options.clock.now();
    for (const [key, c] of state.created) {
      if (seen.has(key)) continue;
      if (now - c.at > PENDING_CREATION_TTL_MS) state.created.delete(key);
      else list.push(c.gs);
    }
    for (const key of state.shutDown.keys()) if (!seen.has(key)) state.shutDown.delete(key);
    return list;
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const gss = this.informers.gameServerSets.get(namespace, name);
    if (!gss) return;
    const list = this.gameServersOf(gss);
    this.sizes.set(key, list.length);
    const state = this.pending.get(gss.metadata.uid!)!;
    const action = computeReconciliationAction(
      gss.spec?.scheduling,
      list,
      this.informers.counter.counts,
      Number(gss.spec?.replicas ?? 0),
      this.options.limits ?? DEFAULT_RECONCILE_LIMITS,
      this.options.clock.now(),
    );
    const toAdd = gss.metadata.deletionTimestamp ? 0 : action.toAdd;

    if (toAdd > 0) {
      const template = gameServerFromSet(gss);
      await parallel(
        Array.from({ length: toAdd }, (_, i) => i),
        this.options.creationParallelism ?? 16,
        async () => {
          try {
            const created = await this.client.create({ ...GAMESERVERS, namespace }, template);
            state.created.set(keyOf(created), { gs: created, at: this.options.clock.now() });
            this.events.record(
              gss,
              'Normal',
              'SuccessfulCreate',
              `Created gameserver: ${created.metadata.name}`,
            );
          } catch (err) {
            this.options.logger.warn({ err, gameServerSet: key }, 'error creating gameserver');
          }
        },
      );
    }
    if (action.toDelete.length > 0) {
      await parallel(action.toDelete, this.options.deletionParallelism ?? 64, async (gs) => {
        // Agones does not delete: it sets Shutdown and lets the GameServer controller delete.
        const copy = structuredClone(gs);
        copy.status = { ...(copy.status ?? {}), state: 'Shutdown' };
        try {
          const updated = await this.client.update(named(GAMESERVERS, namespace, gs.metadata.name!), copy);
          state.shutDown.set(keyOf(updated), updated);
          this.events.record(
            gss,
            'Normal',
            'SuccessfulDelete',
            `Deleted gameserver in state ${gs.status?.state}: ${gs.metadata.name}`,
          );
        } catch (err) {
          if (!isApiErrorCode(err, 409) && !isApiErrorCode(err, 404))
            this.options.logger.warn({ err, gameServer: keyOf(gs) }, 'error shutting down gameserver');
        }
      });
    }
    if (action.partial) this.queue.addNow(key);

    const status = computeSetStatus(list);
    const current = gss.status ?? {};
    const changed = (Object.keys(status) as (keyof typeof status)[]).some(
      (k) => (current[k] ?? 0) !== status[k],
    );
    if (changed) {
      try {
        await updateStatus(this.client, GAMESERVERSETS, { ...gss, status: { ...current, ...status } });
      } catch (err) {
        if (!isApiErrorCode(err, 409) && !isApiErrorCode(err, 404)) throw err;
      }
    }
  }
}
