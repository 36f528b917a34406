// The simulated cluster on top of the Kubernetes API server emulator: nodes (EC2 instances), the
// scheduler, kubelets, the NoExecute taint manager, Agones (GameServer, GameServerSet and Fleet
// controllers, the allocator, the SDK sidecars and the game server processes) and the players
// (the session driver with its ledger). Everything runs on one SimClock and one seed.

import { pino, type Logger } from 'pino';
import type { KubeObject } from '../kube/types.js';
import { SeededRandom, type SimClock } from '../clock.js';
import { FLEETS, GAMESERVERS, named, type ClusterHost } from './host.js';
import { NodePool, type NodeCapacity, type NodeOptions } from './nodes.js';
import { Scheduler } from './scheduler.js';
import { Kubelets } from './kubelet.js';
import { TaintManager } from './taint-manager.js';
import { AgonesInformers } from './agones/informers.js';
import { GameServerController } from './agones/gameserver-controller.js';
import { GameServerSetController } from './agones/gameserverset-controller.js';
import { FleetController } from './agones/fleet-controller.js';
import { Allocator } from './agones/allocator.js';
import { GameServerSdk } from './agones/sdk.js';
import { GameProcesses } from './agones/game-process.js';
import { GameSessionDriver } from './session-driver.js';
import { SessionLedger } from './sessions.js';
import { AGONES_CONTROLLER, sdkSidecar } from './identities.js';
import { InformerFactory } from './informer.js';
import { GAME_SERVER_NODE_LABEL } from '../../shared/contract.js';

export { SessionLedger } from './sessions.js';
export type { SessionRecord, SessionSummary } from './sessions.js';
export { GameSessionDriver } from './session-driver.js';
export type { SessionRequest, LoadOptions } from './session-driver.js';
export { GameServerSdk } from './agones/sdk.js';
export { EXIT_ON_SIGTERM_ANNOTATION } from './kubelet.js';
export { withAgonesMutation } from './agones/mutation.js';
export { registerClusterMetrics } from './metrics.js';
export type { ClusterHost } from './host.js';

export interface FleetOptions {
  name: string;
  namespace?: string;
  replicas: number;
  scheduling?: 'Packed' | 'Distributed';
  /** GameServer spec fields (ports, eviction, health, template...) merged over a default one. */
  template?: Record<string, any>;
  /** Labels and annotations of the game server pods. */
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  /** Tolerations of the game server pods. */
  tolerations?: any[];
  /** The game container's resource requests, e.g. { cpu: '500m' }. */
  requests?: Record<string, string>;
  /** terminationGracePeriodSeconds of the game server pods. */
  terminationGracePeriodSeconds?: number;
}

export interface ClusterSimulationOptions {
  clock: SimClock;
  seed?: number;
  logger?: Logger;
  nodes?: {
    count: number;
    labels?: Record<string, string>;
    capacity?: NodeCapacity;
    zones?: string[];
    region?: string;
    instanceType?: string;
  };
  fleets?: FleetOptions[];
  /** Seconds from binding until a pod's containers run (default 2). */
  podStartDelaySeconds?: number;
  /** Seconds from Scheduled until a game server calls SDK.Ready() (default 1). */
  readyDelaySeconds?: number;
  /** Game servers exit this many seconds after SIGTERM; undefined: they run until their grace period ends. */
  exitOnSigtermSeconds?: number;
  /** Write core/v1 Events as the real controllers do (default true). */
  events?: boolean;
  /** Agones allocator batch pause (simulated ms, default 0; Agones ships 500). */
  allocationBatchWaitMs?: number;
  /** The scheduler's percentageOfNodesToScore (0: adaptive, as the default). */
  percentageOfNodesToScore?: number;
  /** Wait for fleets to be fully Ready before resolving (default true when fleets are given). */
  waitForFleets?: boolean;
  /** How long to wait for that (real ms, default 60 s). */
  readyTimeoutMs?: number;
  /**
   * One watch per resource shared by all simulated components (default true): far cheaper at
   * scale; false gives each component its own watches under its own identity.
   */
  shareInformers?: boolean;
  /**
   * `emulated` (default): the simulation also plays kube-scheduler and the taint-eviction
   * controller. `real`: a real kube-scheduler and kube-controller-manager do that, and the
   * simulated kubelets renew their node Leases so the real node lifecycle controller sees them alive.
   */
  controlPlane?: 'emulated' | 'real';
}

export interface ClusterSimulation {
  readonly clock: SimClock;
  readonly random: SeededRandom;
  readonly ledger: SessionLedger;
  readonly sessions: GameSessionDriver;
  readonly nodes: NodePool;
  /** The simulated scheduler and taint manager; absent on a real control plane, which has its own. */
  readonly scheduler?: Scheduler;
  readonly kubelets: Kubelets;
  readonly taintManager?: TaintManager;
  readonly allocator: Allocator;
  readonly gameServerController: GameServerController;
  /** The SDK sidecar of a GameServer (cached per GameServer). */
  sdk(name: string, namespace?: string): GameServerSdk;
  /** Spot reclaim of an instance: node NotReady, pods force-deleted, Node removed. */
  terminateInstance(instanceId: string): Promise<{ nodeName: string; podsDeleted: number }>;
  addNode(options?: NodeOptions): Promise<KubeObject>;
  /** Creates (or scales) a Fleet. */
  applyFleet(fleet: FleetOptions): Promise<KubeObject>;
  scaleFleet(name: string, replicas: number, namespace?: string): Promise<KubeObject>;
  /** Resolves when the fleet has `replicas` Ready+Allocated GameServers (default its spec.replicas). */
  waitForFleetReady(
    name: string,
    options?: { namespace?: string; replicas?: number; timeoutMs?: number },
  ): Promise<void>;
  stop(): Promise<void>;
}

/** The Fleet object for the options (a UDP game server on a dynamic port, Packed by default). */
export function fleetObject(f: FleetOptions): KubeObject {
  const template = f.template ?? {};
  const container: any = {
    name: 'game',
    image: 'us-docker.pkg.dev/agones-images/examples/simple-game-server:0.35',
    ...(f.requests ? { resources: { requests: f.requests } } : {}),
  };
  return {
    apiVersion: 'agones.dev/v1',
    kind: 'Fleet',
    metadata: { name: f.name, namespace: f.namespace ?? 'default' },
    spec: {
      replicas: f.replicas,
      scheduling: f.scheduling ?? 'Packed',
      template: {
        metadata: {},
        spec: {
          ports: [{ name: 'default', portPolicy: 'Dynamic', containerPort: 7654, protocol: 'UDP' }],
          ...template,
          template: {
            metadata: {
              ...(f.podLabels ? { labels: f.podLabels } : {}),
              ...(f.podAnnotations ? { annotations: f.podAnnotations } : {}),
            },
            spec: {
              containers: [container],
              ...(f.tolerations ? { tolerations: f.tolerations } : {}),
              ...(f.terminationGracePeriodSeconds !== undefined
                ? { terminationGracePeriodSeconds: f.terminationGracePeriodSeconds }
                : {}),
              ...(template.template?.spec ?? {}),
            },
          },
        },
      },
    },
  };
}

export async function startClusterSimulation(
  host: ClusterHost,
  options: ClusterSimulationOptions,
): Promise<ClusterSimulation> {
  const { clock } = options;
  const seed = options.seed ?? 1;
  const random = new SeededRandom(seed);
  // Each part gets its own stream so that adding a caller in one does not shift the others.
  const stream = (n: number) => new SeededRandom((seed * 7919 + n * 104729) >>> 0);
  const logger = options.logger ?? pino({ level: 'silent' });
  const events = options.events ?? true;
  const log = (component: string) => logger.child({ component });
  const shared =
    (options.shareInformers ?? true)
      ? new InformerFactory(host.client(AGONES_CONTROLLER), { logger: log('informers'), clock })
      : undefined;

  const real = options.controlPlane === 'real';
  const nodes = new NodePool(host, clock, stream(1), log('nodes'), {
    heartbeat: real,
    labels: options.nodes?.labels ?? { [GAME_SERVER_NODE_LABEL.key]: GAME_SERVER_NODE_LABEL.value },
    capacity: options.nodes?.capacity,
    zones: options.nodes?.zones,
    region: options.nodes?.region,
    instanceType: options.nodes?.instanceType,
  });
  const scheduler = real
    ? undefined
    : new Scheduler(host, {
        clock,
        random: stream(2),
        logger: log('kube-scheduler'),
        events,
        percentageOfNodesToScore: options.percentageOfNodesToScore,
        informers: shared,
      });
  const kubelets = new Kubelets(host, {
    clock,
    random: stream(3),
    logger: log('kubelet'),
    podStartDelaySeconds: options.podStartDelaySeconds,
    exitOnSigtermSeconds: options.exitOnSigtermSeconds,
    informers: shared,
  });
  const taintManager = real
    ? undefined
    : new TaintManager(host, {
        clock,
        logger: log('taint-eviction-controller'),
        events,
        informers: shared,
      });
  const informers = new AgonesInformers(host.client(AGONES_CONTROLLER), {
    logger: log('agones-informers'),
    clock,
    informers: shared,
  });
  const gameServerController = new GameServerController(host, informers, {
    clock,
    random: stream(4),
    logger: log('gameserver-controller'),
    events,
  });
  const gssController = new GameServerSetController(host, informers, {
    clock,
    logger: log('gameserverset-controller'),
    events,
  });
  const fleetController = new FleetController(host, informers, {
    clock,
    logger: log('fleet-controller'),
    events,
  });
  const allocator = new Allocator(host, {
    clock,
    random: stream(5),
    logger: log('allocator'),
    batchWaitMs: options.allocationBatchWaitMs,
    informers: shared,
  });

  const sdks = new Map<string, GameServerSdk>();
  const sdk = (name: string, namespace = 'default') => {
    const key = `${namespace}/${name}`;
    let s = sdks.get(key);
    if (!s)
      sdks.set(key, (s = new GameServerSdk(host.client(sdkSidecar(namespace)), namespace, name, { clock })));
    return s;
  };
  const processes = new GameProcesses(host, {
    clock,
    logger: log('game-server'),
    readyDelaySeconds: options.readyDelaySeconds,
    sdk: (ns, name) => sdk(name, ns),
    informers: shared,
  });
  const ledger = new SessionLedger();
  const sessions = new GameSessionDriver(host, {
    clock,
    random: stream(6),
    logger: log('sessions'),
    ledger,
    sdk: (ns, name) => sdk(name, ns),
    informers: shared,
  });

  const admin = host.client(AGONES_CONTROLLER);
  const stopAll = () => {
    sessions.stop();
    processes.stop();
    allocator.stop();
    fleetController.stop();
    gssController.stop();
    gameServerController.stop();
    informers.stop();
    taintManager?.stop();
    kubelets.stop();
    scheduler?.stop();
    nodes.stop();
    shared?.stop();
    for (const s of sdks.values()) s.stop();
  };

  try {
    await Promise.all([
      scheduler?.start(),
      kubelets.start(),
      taintManager?.start(),
      informers.start(),
      allocator.start(),
      processes.start(),
      sessions.start(),
    ]);
    gameServerController.start();
    gssController.start();
    fleetController.start();
    if (options.nodes?.count) await nodes.addNodes(options.nodes.count);
  } catch (err) {
    stopAll();
    throw err;
  }

  const applyFleet = async (f: FleetOptions): Promise<KubeObject> => {
    const obj = fleetObject(f);
    const ref = named(FLEETS, obj.metadata.namespace, f.name);
    try {
      const existing = await admin.get(ref);
      return await admin.update(ref, { ...existing, spec: obj.spec });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      return admin.create({ ...FLEETS, namespace: obj.metadata.namespace }, obj);
    }
  };

  const countReady = (items: Iterable<KubeObject>, namespace: string, fleet: string) => {
    let n = 0;
    for (const gs of items) {
      if (
        gs.metadata.namespace !== namespace ||
        gs.metadata.labels?.['agones.dev/fleet'] !== fleet ||
        gs.metadata.deletionTimestamp
      )
        continue;
      if (gs.status?.state === 'Ready' || gs.status?.state === 'Allocated') n++;
    }
    return n;
  };
  const waitForFleetReady = async (
    name: string,
    o: { namespace?: string; replicas?: number; timeoutMs?: number } = {},
  ) => {
    const namespace = o.namespace ?? 'default';
    const timeout = o.timeoutMs ?? options.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeout;
    let ready = 0;
    let want = 0;
    for (;;) {
      // The informer cache says when it is worth asking; a fresh list from the API decides
      // (the cache may still hold a GameServer that has just left Ready).
      const fleet = informers.fleets.get(namespace, name);
      want = o.replicas ?? Number(fleet?.spec?.replicas ?? 0);
      if (fleet && countReady(informers.gameServers.values(), namespace, name) >= want) {
        const list = await admin.list(
          { ...GAMESERVERS, namespace },
          { labelSelector: `agones.dev/fleet=${name}` },
        );
        ready = countReady(list.items, namespace, name);
        if (ready >= want) return;
      }
      if (Date.now() > deadline)
        throw new Error(
          `fleet ${namespace}/${name}: ${ready}/${want} game servers Ready after ${timeout} ms`,
        );
      // Counting walks the cache: poll a big fleet less often.
      await new Promise((r) => setTimeout(r, Math.max(25, informers.gameServers.cache.size / 50)));
    }
  };

  for (const f of options.fleets ?? []) await applyFleet(f);
  if ((options.waitForFleets ?? true) && options.fleets?.length) {
    for (const f of options.fleets)
      await waitForFleetReady(f.name, { namespace: f.namespace, replicas: f.replicas });
  }

  return {
    clock,
    random,
    ledger,
    sessions,
    nodes,
    scheduler,
    kubelets,
    taintManager,
    allocator,
    gameServerController,
    sdk,
    terminateInstance: (id) => nodes.terminateInstance(id),
    addNode: (o) => nodes.addNode(o),
    applyFleet,
    async scaleFleet(name, replicas, namespace = 'default') {
      const ref = named(FLEETS, namespace, name);
      for (let attempt = 0; ; attempt++) {
        const fleet = await admin.get(ref);
        try {
          return await admin.update(ref, { ...fleet, spec: { ...fleet.spec, replicas } });
        } catch (err) {
          if ((err as { code?: number }).code !== 409 || attempt >= 5) throw err;
        }
      }
    },
    waitForFleetReady,
    async stop() {
      // The clock is the caller's (shared with the emulators): only our own timers are cancelled.
      stopAll();
    },
  };
}

/** GameServers of a fleet right now, from the API (for tests and reports). */
export async function listFleetGameServers(
  host: ClusterHost,
  fleet: string,
  namespace = 'default',
): Promise<KubeObject[]> {
  const res = await host
    .client(AGONES_CONTROLLER)
    .list({ ...GAMESERVERS, namespace }, { labelSelector: `agones.dev/fleet=${fleet}` });
  return res.items;
}
