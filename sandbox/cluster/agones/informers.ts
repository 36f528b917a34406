// The informers the agones-controller process shares between its controllers (one watch per
// resource, as its SharedInformerFactory does), plus the per-node counter fed by them.

import type { Logger } from 'pino';
import type { KubeObject, LocalClient, ResourceRef } from '../../kube/types.js';
import type { SimClock } from '../../clock.js';
import { informerFor, type Informer, type InformerFactory } from '../informer.js';
import { FLEETS, GAMESERVERS, GAMESERVERSETS, NODES, PODS, isApiErrorCode, named } from '../host.js';
import { ROLE_GAMESERVER, ROLE_LABEL } from '../names.js';
import { PerNodeCounter } from './node-counter.js';

export class AgonesInformers {
  readonly gameServers: Informer;
  readonly gameServerSets: Informer;
  readonly fleets: Informer;
  readonly pods: Informer;
  readonly nodes: Informer;
  readonly counter = new PerNodeCounter();

  constructor(
    client: LocalClient,
    options: { logger: Logger; clock: SimClock; informers?: InformerFactory },
  ) {
    const base = { logger: options.logger, clock: options.clock };
    const f = options.informers;
    this.gameServers = informerFor(f, client, GAMESERVERS, base).on((type, gs, old) =>
      this.counter.onGameServer(type, gs, old),
    );
    this.gameServerSets = informerFor(f, client, GAMESERVERSETS, base);
    this.fleets = informerFor(f, client, FLEETS, base);
    this.pods = informerFor(f, client, PODS, base, { labelSelector: `${ROLE_LABEL}=${ROLE_GAMESERVER}` });
    this.nodes = informerFor(f, client, NODES, base).on((type, node) => {
      if (type === 'DELETED') this.counter.onNodeDeleted(node.metadata.name!);
    });
  }

  async start(): Promise<void> {
    await Promise.all([
      this.nodes.start(),
      this.pods.start(),
      this.gameServers.start(),
      this.gameServerSets.start(),
      this.fleets.start(),
    ]);
  }

  stop(): void {
    for (const i of [this.gameServers, this.gameServerSets, this.fleets, this.pods, this.nodes]) i.stop();
  }
}

/** The controller owning this object, if any. */
export function controllerOf(obj: KubeObject): { kind: string; name: string; uid: string } | undefined {
  return (obj.metadata.ownerReferences ?? []).find((r) => r.controller);
}

const noStatusSubresource = new Set<string>();

/**
 * Writes an object's status: through the status subresource where the API server has one (as
 * UpdateStatus does), else through the main resource.
 */
export async function updateStatus(
  client: LocalClient,
  ref: ResourceRef,
  obj: KubeObject,
): Promise<KubeObject> {
  const key = `${ref.group}/${ref.resource}`;
  const target = named(ref, obj.metadata.namespace, obj.metadata.name!);
  if (!noStatusSubresource.has(key)) {
    try {
      return await client.update({ ...target, subresource: 'status' }, obj);
    } catch (err) {
      const msg = (err as Error)?.message ?? '';
      if (!(isApiErrorCode(err, 404) && msg.includes('could not find the requested resource'))) throw err;
      noStatusSubresource.add(key);
    }
  }
  return client.update(target, obj);
}
