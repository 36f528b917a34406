// The whole system on one machine, assembled in one place for everything that runs it: `npm start` (the
// sandbox), the end-to-end tests, the node agent's tests and the benchmarks. Each caller takes the
// parts it needs, in the order it needs them:
//
//   startSystem()      the Kubernetes control plane (the API server emulator or the real one, see
//                      sandbox/run/kube-backend.ts) with the installation from manifests/, on a SimClock
//   .startRedis()      a real redis-server on a free loopback port
//   .startFleetIQ()    the FleetIQ emulator, on the same clock
//   .startImds()       an instance's metadata service (the IMDS emulator), on loopback
//   .startCluster()    the simulated cluster (kubelets, Agones, players; on the emulator also the
//                      scheduler and taint manager) as a client of that control plane
//   .startComponents() the project's components (webhook, pubsub, node agents) under their
//                      ServiceAccounts
//   .kubeConfig(user)  a kubeconfig for any identity (a ServiceAccount's token on the real one)
//   .defer()           anything else the caller started, to be stopped with the rest
//
// stop() stops everything in the reverse order it started, each step bounded (teardown.ts).
//
// What needs no Kubernetes (the clock, Redis, the FleetIQ and instance metadata emulators) is also had
// alone, startParts(), for what measures those parts only (bench/pubsub.ts): a System is those parts
// with a control plane under them.
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { SimClock } from '../clock.js';
import {
  startClusterSimulation,
  type ClusterSimulation,
  type ClusterSimulationOptions,
} from '../cluster/index.js';
import {
  startFleetIQEmulator,
  type FleetIQEmulator,
  type FleetIQEmulatorOptions,
} from '../fleetiq/emulator.js';
import type { LocalClient, UserInfo } from '../kube/types.js';
import { Components, type ComponentsOptions } from '../run/components.js';
import { startKubeBackend, type ControlPlaneKind, type KubeBackend } from '../run/kube-backend.js';
import { WEBHOOK_CONFIGURATION_NAME, type Installation } from '../run/manifests.js';
import { startRedisProcess, type RedisProcess } from '../run/redis-process.js';
import { startImdsEmulator, type ImdsEmulator, type ImdsEmulatorOptions } from '../imds/emulator.js';
import { DEFAULT_STEP_LIMIT_MS, Teardown, describeFailures, type TeardownFailure } from './teardown.js';

/** The parts that need no Kubernetes, and how they are stopped. */
export interface PartsOptions {
  /** The simulated clock every part shares; default a new one at `speed` (1), stopped with the parts. */
  clock?: SimClock;
  speed?: number;
  /** Each part's logger (default: silent). */
  logger?: (component: string) => Logger;
  /**
   * Start a redis-server first, before the control plane: a machine without one is told so at once
   * (SetupError), not after the real control plane took its ten seconds. Later: startRedis().
   */
  redis?: boolean | { requirePass?: string };
  /** Called with each teardown step that failed or did not finish in its time. */
  onTeardownFailure?: (f: TeardownFailure) => void;
}

export interface SystemOptions extends PartsOptions {
  /** The emulator (starts in a second) or kube-apiserver, etcd and the controllers of the pinned release. */
  controlPlane: ControlPlaneKind;
  /** Random numbers for the emulator's generated names (default: a fixed sequence). */
  random?: () => number;
  /** The webhook configuration's failurePolicy (default Fail, as manifests/ has it). */
  failurePolicy?: 'Fail' | 'Ignore';
  /** The real API server's audit policy (see KubeBackendOptions). */
  auditPolicy?: Record<string, unknown>;
  /** Also install manifests/base's ValidatingAdmissionPolicies (real control plane only). */
  admissionPolicies?: boolean;
  /**
   * Keep the installation's MutatingWebhookConfiguration (default true). Without a webhook running,
   * its failurePolicy Fail would refuse every allocation: a system without one deletes it.
   */
  webhookConfiguration?: boolean;
}

/** The clock, Redis, FleetIQ and instance metadata: what startParts() gives, and every System too. */
export interface SystemParts {
  readonly clock: SimClock;
  logger(component: string): Logger;
  /** The first of each started so far (undefined until started). */
  readonly redis: RedisProcess | undefined;
  readonly fleetiq: FleetIQEmulator | undefined;
  startRedis(options?: { requirePass?: string }): Promise<RedisProcess>;
  /** The FleetIQ emulator on the system's clock and logger unless `options` says otherwise. */
  startFleetIQ(options: FleetIQEmulatorOptions): Promise<FleetIQEmulator>;
  /** One instance's metadata service on loopback (on real time, as the agents that poll it are). */
  startImds(options: ImdsEmulatorOptions): Promise<ImdsEmulator>;
  /** Stops `run` with the system, before everything started so far. */
  defer(name: string, run: () => unknown, limitMs?: number): void;
  /** Stops every part, last started first; once. Rejects naming each step that failed or hung. */
  stop(): Promise<void>;
}

export interface System extends SystemParts {
  readonly kind: ControlPlaneKind;
  readonly kube: KubeBackend;
  /** The admin's client (in-process on the emulator, HTTPS on the real one). */
  readonly admin: LocalClient;
  readonly installation: Installation;
  /** The parts started so far (undefined until started). */
  readonly sim: ClusterSimulation | undefined;
  readonly components: Components | undefined;
  /** A client-node KubeConfig for `user`; with `nodeName`, bound to that node (see KubeBackend.kubeconfig). */
  kubeConfig(user: UserInfo, options?: { nodeName?: string }): Promise<KubeConfig>;
  startCluster(options: Omit<ClusterSimulationOptions, 'clock' | 'controlPlane'>): Promise<ClusterSimulation>;
  startComponents(options: Omit<ComponentsOptions, 'kube' | 'logger'>): Components;
}

const silentLogger = pino({ level: 'silent' });

/** A fixed sequence of numbers in [0, 1): generated names are the same from run to run. */
export function fixedRandom(seed = 0x2545f491): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

class Parts implements SystemParts {
  redis: RedisProcess | undefined;
  fleetiq: FleetIQEmulator | undefined;

  constructor(
    readonly clock: SimClock,
    readonly logger: (component: string) => Logger,
    protected readonly teardown: Teardown,
    firstRedis: RedisProcess | undefined,
  ) {
    this.redis = firstRedis;
  }

  /**
   * `part`, stopped with the system; stopped at once when the system already is (a part started while
   * it stopped, e.g. for an instance launched meanwhile), so that nothing outlives it.
   */
  protected async own<T extends { stop(): Promise<void> }>(name: string, part: T): Promise<T> {
    try {
      this.teardown.defer(name, () => part.stop());
    } catch (err) {
      await part.stop();
      throw err;
    }
    return part;
  }

  async startRedis(options: { requirePass?: string } = {}): Promise<RedisProcess> {
    const r = await this.own('redis-server', await startRedisProcess(options));
    this.redis ??= r;
    return r;
  }

  async startFleetIQ(options: FleetIQEmulatorOptions): Promise<FleetIQEmulator> {
    const f = await this.own(
      'the FleetIQ emulator',
      await startFleetIQEmulator({ clock: this.clock, logger: this.logger('fleetiq'), ...options }),
    );
    this.fleetiq ??= f;
    return f;
  }

  startImds(options: ImdsEmulatorOptions): Promise<ImdsEmulator> {
    return startImdsEmulator(options).then((i) =>
      this.own(`the instance metadata of ${options.instanceId}`, i),
    );
  }

  defer(name: string, run: () => unknown, limitMs = DEFAULT_STEP_LIMIT_MS): void {
    this.teardown.defer(name, run, limitMs);
  }

  async stop(): Promise<void> {
    const failures = await this.teardown.stop();
    if (failures.length > 0) throw new Error(`stopping the system: ${describeFailures(failures)}`);
  }
}

class WholeSystem extends Parts implements System {
  readonly kind: ControlPlaneKind;
  readonly admin: LocalClient;
  readonly installation: Installation;
  sim: ClusterSimulation | undefined;
  components: Components | undefined;

  constructor(
    clock: SimClock,
    logger: (component: string) => Logger,
    teardown: Teardown,
    firstRedis: RedisProcess | undefined,
    readonly kube: KubeBackend,
  ) {
    super(clock, logger, teardown, firstRedis);
    this.kind = kube.kind;
    this.admin = kube.client();
    this.installation = kube.installation;
  }

  async kubeConfig(user: UserInfo, options: { nodeName?: string } = {}): Promise<KubeConfig> {
    const kc = new KubeConfig();
    kc.loadFromString(await this.kube.kubeconfig(user, options));
    return kc;
  }

  async startCluster(
    options: Omit<ClusterSimulationOptions, 'clock' | 'controlPlane'>,
  ): Promise<ClusterSimulation> {
    const s = await this.own(
      'the simulated cluster',
      await startClusterSimulation(this.kube.host, {
        logger: this.logger('cluster'),
        ...options,
        clock: this.clock,
        controlPlane: this.kube.kind,
      }),
    );
    this.sim ??= s;
    return s;
  }

  startComponents(options: Omit<ComponentsOptions, 'kube' | 'logger'>): Components {
    const c = new Components({ ...options, kube: this.kube, logger: this.logger });
    this.teardown.defer('the components', () => c.stop());
    this.components ??= c;
    return c;
  }
}

/** The teardown, the clock and (when asked for) Redis: what every caller starts with. */
async function openParts(o: PartsOptions) {
  const logger = o.logger ?? (() => silentLogger);
  const teardown = new Teardown(o.onTeardownFailure);
  let redis: RedisProcess | undefined;
  if (o.redis) {
    const r = await startRedisProcess(o.redis === true ? {} : o.redis);
    teardown.defer('redis-server', () => r.stop());
    redis = r;
  }
  let clock = o.clock;
  if (!clock) {
    const own = new SimClock({ speed: o.speed ?? 1 });
    teardown.defer('the clock', () => own.stop());
    clock = own;
  }
  return { logger, teardown, redis, clock };
}

/** The parts that need no Kubernetes (no control plane is started). */
export async function startParts(o: PartsOptions = {}): Promise<SystemParts> {
  const { logger, teardown, redis, clock } = await openParts(o);
  return new Parts(clock, logger, teardown, redis);
}

export async function startSystem(o: SystemOptions): Promise<System> {
  const { logger, teardown, redis, clock } = await openParts(o);
  try {
    const backend = await startKubeBackend({
      kind: o.controlPlane,
      clock,
      failurePolicy: o.failurePolicy ?? 'Fail',
      logger: logger('kube-apiserver'),
      random: o.random ?? fixedRandom(),
      ...(o.auditPolicy ? { auditPolicy: o.auditPolicy } : {}),
      ...(o.admissionPolicies !== undefined ? { admissionPolicies: o.admissionPolicies } : {}),
    });
    // Its owner may stop it early (the real one before the servers it calls: test/e2e/harness.ts).
    const kube: KubeBackend = { ...backend, stop: once(() => backend.stop()) };
    teardown.defer('the control plane', () => kube.stop());
    if (o.webhookConfiguration === false)
      await kube.client().delete({
        group: 'admissionregistration.k8s.io',
        version: 'v1',
        resource: 'mutatingwebhookconfigurations',
        name: WEBHOOK_CONFIGURATION_NAME,
      });
    return new WholeSystem(clock, logger, teardown, redis, kube);
  } catch (err) {
    // Why it did not start matters more than what stopping the rest then ran into.
    await teardown.stop();
    throw err;
  }
}

/** `fn` called once; later calls get the first call's promise (a part may be stopped early by its owner). */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
