// The sandbox's settings: what `fleetiq-sandbox` accepts, the defaults `npm start` runs with, and
// the parsing of each flag into them, every error naming the flag. Pure: no I/O.
//
// Time: everything the simulated world does (allocations, session lengths, interruptions, the run's
// duration) is in SIMULATED time, which the speed factor compresses. The project's own components run
// on real time, as they would in production.
import { CONTROL_PLANE_KINDS, type ControlPlaneKind } from './kube-backend.js';
import { parseDuration } from '../../shared/duration.js';
import { ConfigError } from '../../shared/ops-server.js';
import { SPOT_TARGETS, parseInterruptions, type Interruptions, type SpotTarget } from './interruptions.js';
import { parseChaos, type ChaosFault } from './chaos.js';
import { parseMigrate } from './migration.js';
import { DEFAULT_REBALANCE_ACTION } from '../../reconciler/config.js';
import { REBALANCE_ACTIONS, type RebalanceAction } from '../../reconciler/decide.js';
import { parseUpgrade, type UpgradeOptions } from './upgrade.js';

export type Scheduling = 'Packed' | 'Distributed';

export interface SandboxOptions {
  nodes: number;
  fleetReplicas: number;
  scheduling: Scheduling;
  /** Pod capacity of each node (the scheduler packs up to this many game servers on one). */
  podsPerNode: number;
  /** New sessions (allocations) per simulated second. */
  allocationRatePerSecond: number;
  /** Session length in simulated seconds, uniformly random in [min, max]. */
  sessionSeconds: { min: number; max: number };
  interruptions: Interruptions;
  /** Where Spot notices land: the busiest nodes (default) or any. */
  spotTarget: SpotTarget;
  /**
   * EC2 rebalance recommendations: the share of Spot notices (0-1) that one precedes, posted in the
   * instance's metadata `leadMs` (simulated) before the notice, on the instance the notice then hits.
   */
  rebalance: { share: number; leadMs: number };
  /** The agents' REBALANCE_RECOMMENDATION and REBALANCE_DRAIN_WINDOW (simulated ms, scaled by the speed). */
  agentRebalance: { action: RebalanceAction; windowMs: number };
  /** Simulated milliseconds of load (allocations and interruptions). */
  durationMs: number;
  /** After the load: wait (simulated ms, at most) for the sessions still held to end, so each has an outcome. */
  settleMs: number;
  speed: number;
  seed: number;
  /** MutatingWebhookConfiguration failurePolicy. */
  failurePolicy: 'Fail' | 'Ignore';
  /** The Kubernetes control plane: the emulator (starts in a second) or the real one (sandbox/control-plane). */
  controlPlane: ControlPlaneKind;
  /** HMAC signing of status messages between pubsub and the agents. */
  signing: boolean;
  /** Write an admin kubeconfig here (kubectl get nodes / gs / describe node while it runs). */
  kubeconfigPath?: string;
  reportPath: string;
  /** Component logs (JSON lines). */
  logPath: string;
  logLevel: string;
  ui: boolean;
  /** host:port or redis:// URL of an existing Redis; otherwise the sandbox spawns redis-server. */
  redisUrl?: string;
  /** Faults injected during the run (--chaos; see chaos.ts), in time order. */
  chaos: ChaosFault[];
  /** Nodes that start with the old Python adapter's daemon instead of the node agent (migration.ts). */
  legacyNodes: number;
  /** Simulated ms after the load starts at which one node moves from the old daemon to the agent. */
  migrate: number[];
  /** --upgrade: every node replaced through a rolling drain (upgrade.ts). */
  upgrade?: UpgradeOptions;
}

export const DEFAULT_OPTIONS: SandboxOptions = {
  nodes: 6,
  fleetReplicas: 48,
  scheduling: 'Packed',
  podsPerNode: 12,
  // 12 a simulated minute of 1–3 minute sessions: about half the fleet busy, so drains have sessions
  // to wait for and allocations rarely find the fleet empty.
  allocationRatePerSecond: 12 / 60,
  sessionSeconds: { min: 60, max: 180 },
  interruptions: { kind: 'rate', perMinute: 1, spotShare: 0.5 },
  spotTarget: 'busiest',
  // Off unless asked for, so that a run's Spot notices (and the scenarios built on them) stay as they were;
  // bench:spot turns it on.
  rebalance: { share: 0, leadMs: 3 * 60_000 },
  agentRebalance: { action: DEFAULT_REBALANCE_ACTION, windowMs: 10 * 60_000 },
  durationMs: 5 * 60_000,
  settleMs: 4 * 60_000,
  speed: 10,
  seed: 1,
  failurePolicy: 'Fail',
  controlPlane: 'emulated',
  signing: true,
  reportPath: '.sandbox/report.json',
  logPath: '.sandbox/components.log',
  logLevel: 'info',
  ui: true,
  chaos: [],
  legacyNodes: 0,
  migrate: [],
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Flags as commander hands them over (strings; `ui` from --no-ui, `signing` from --no-signing). */
export interface SandboxFlags {
  nodes?: string;
  fleetReplicas?: string;
  scheduling?: string;
  podsPerNode?: string;
  allocationRate?: string;
  sessionSeconds?: string;
  interruptions?: string;
  spotShare?: string;
  spotTarget?: string;
  rebalanceShare?: string;
  rebalanceLead?: string;
  rebalanceRecommendation?: string;
  rebalanceDrainWindow?: string;
  duration?: string;
  settle?: string;
  speed?: string;
  seed?: string;
  failurePolicy?: string;
  controlPlane?: string;
  signing?: boolean;
  kubeconfig?: string;
  report?: string;
  logFile?: string;
  logLevel?: string;
  ui?: boolean;
  redisUrl?: string;
  chaos?: string;
  legacyNodes?: string;
  migrate?: string;
  /** `--upgrade` alone is true; with a value, its spec. */
  upgrade?: string | boolean;
}

export function parseInteger(value: string, flag: string, min: number, max: number): number {
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new ConfigError(flag, `expected a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

export function parsePositiveNumber(value: string, flag: string, max = Infinity): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max)
    throw new ConfigError(
      flag,
      `expected a positive number${Number.isFinite(max) ? ` up to ${max}` : ''}, got "${value}"`,
    );
  return n;
}

const PER_UNIT_SECONDS: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600 };

/**
 * A rate: `2` or `2/s` (per second), `30/min`, `30/m`, `100/h`. Returns events per second.
 * `allowZero`: `0` or `none` mean no events.
 */
export function parseRate(value: string, flag: string, allowZero = false): number {
  const text = value.trim().toLowerCase();
  if (allowZero && (text === '0' || text === 'none' || text === 'off')) return 0;
  const m = /^(\d+(?:\.\d+)?)(?:\s*\/\s*([a-z]+))?$/.exec(text);
  const unit = m?.[2] ?? 's';
  const per = PER_UNIT_SECONDS[unit];
  const n = m ? Number(m[1]) : NaN;
  if (!m || per === undefined || !(n > 0))
    throw new ConfigError(
      flag,
      `expected a rate such as 2/s, 30/min or 100/h${allowZero ? ' (or none)' : ''}, got "${value}"`,
    );
  return n / per;
}

/** `120` (a mean: lengths uniformly within ±50 % of it) or `60-180` (uniform between the two), in seconds. */
export function parseSessionSeconds(value: string, flag = '--session-seconds'): { min: number; max: number } {
  const text = value.trim();
  const range = /^(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)$/.exec(text);
  if (range) {
    const min = Number(range[1]);
    const max = Number(range[2]);
    if (!(min >= 1) || !(max >= min))
      throw new ConfigError(flag, `expected MIN-MAX seconds with 1 <= MIN <= MAX, got "${value}"`);
    return { min, max };
  }
  if (/^\d+(?:\.\d+)?$/.test(text) && Number(text) >= 2) {
    const mean = Number(text);
    return { min: mean / 2, max: (mean * 3) / 2 };
  }
  throw new ConfigError(
    flag,
    `expected a mean in seconds (e.g. 120) or a range (e.g. 60-180), got "${value}"`,
  );
}

/** The pod capacity that lets `replicas` fit on the nodes with room for a drain or two. */
export function defaultPodsPerNode(replicas: number, nodes: number): number {
  return Math.max(4, Math.ceil((1.5 * replicas) / nodes));
}

export function parseSandboxFlags(flags: SandboxFlags): SandboxOptions {
  const d = DEFAULT_OPTIONS;
  const nodes = flags.nodes !== undefined ? parseInteger(flags.nodes, '--nodes', 1, 2000) : d.nodes;
  const fleetReplicas =
    flags.fleetReplicas !== undefined
      ? parseInteger(flags.fleetReplicas, '--fleet-replicas', 1, 50_000)
      : d.fleetReplicas;
  const scheduling = flags.scheduling ?? d.scheduling;
  if (scheduling !== 'Packed' && scheduling !== 'Distributed')
    throw new ConfigError('--scheduling', `expected Packed or Distributed, got "${scheduling}"`);
  const podsPerNode =
    flags.podsPerNode !== undefined
      ? parseInteger(flags.podsPerNode, '--pods-per-node', 1, 1000)
      : defaultPodsPerNode(fleetReplicas, nodes);
  if (podsPerNode * nodes < fleetReplicas)
    throw new ConfigError(
      flags.podsPerNode !== undefined ? '--pods-per-node' : '--fleet-replicas',
      `${fleetReplicas} game servers do not fit on ${nodes} nodes of ${podsPerNode} pods`,
    );
  const allocationRatePerSecond =
    flags.allocationRate !== undefined
      ? parseRate(flags.allocationRate, '--allocation-rate')
      : d.allocationRatePerSecond;
  const sessionSeconds =
    flags.sessionSeconds !== undefined ? parseSessionSeconds(flags.sessionSeconds) : d.sessionSeconds;
  const spotShare = flags.spotShare !== undefined ? parseShare(flags.spotShare, '--spot-share') : undefined;
  let interruptions =
    flags.interruptions !== undefined
      ? parseInterruptions(flags.interruptions, '--interruptions')
      : d.interruptions;
  if (spotShare !== undefined) {
    if (interruptions.kind !== 'rate')
      throw new ConfigError(
        '--spot-share',
        'applies to a rate of --interruptions (e.g. 2/min), not a script',
      );
    interruptions = { ...interruptions, spotShare };
  }
  const spotTarget = (flags.spotTarget ?? d.spotTarget) as SpotTarget;
  if (!SPOT_TARGETS.includes(spotTarget))
    throw new ConfigError(
      '--spot-target',
      `expected ${SPOT_TARGETS.join(' or ')}, got "${flags.spotTarget}"`,
    );
  const rebalance = {
    share:
      flags.rebalanceShare !== undefined
        ? parseShare(flags.rebalanceShare, '--rebalance-share')
        : d.rebalance.share,
    leadMs:
      flags.rebalanceLead !== undefined
        ? parseDuration(flags.rebalanceLead, '--rebalance-lead', { requireUnit: true })
        : d.rebalance.leadMs,
  };
  const action = (flags.rebalanceRecommendation ?? d.agentRebalance.action).trim().toLowerCase();
  if (!(REBALANCE_ACTIONS as readonly string[]).includes(action))
    throw new ConfigError(
      '--rebalance-recommendation',
      `expected ${REBALANCE_ACTIONS.join(' or ')}, got "${flags.rebalanceRecommendation}"`,
    );
  const agentRebalance = {
    action: action as RebalanceAction,
    windowMs:
      flags.rebalanceDrainWindow !== undefined
        ? positiveDuration(flags.rebalanceDrainWindow, '--rebalance-drain-window')
        : d.agentRebalance.windowMs,
  };
  const durationMs =
    flags.duration !== undefined ? positiveDuration(flags.duration, '--duration') : d.durationMs;
  const settleMs =
    flags.settle !== undefined
      ? parseDuration(flags.settle, '--settle', { requireUnit: true })
      : Math.max(d.settleMs, sessionSeconds.max * 1000 + 60_000);
  const speed = flags.speed !== undefined ? parsePositiveNumber(flags.speed, '--speed', 1000) : d.speed;
  const seed = flags.seed !== undefined ? parseInteger(flags.seed, '--seed', 0, 2 ** 31 - 1) : d.seed;
  const failurePolicy = flags.failurePolicy ?? d.failurePolicy;
  if (failurePolicy !== 'Fail' && failurePolicy !== 'Ignore')
    throw new ConfigError('--failure-policy', `expected Fail or Ignore, got "${failurePolicy}"`);
  const controlPlane = (flags.controlPlane ?? d.controlPlane) as ControlPlaneKind;
  if (!CONTROL_PLANE_KINDS.includes(controlPlane))
    throw new ConfigError('--control-plane', `expected emulated or real, got "${controlPlane}"`);
  const logLevel = flags.logLevel ?? d.logLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError('--log-level', `expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const chaos = flags.chaos !== undefined ? parseChaos(flags.chaos, '--chaos') : d.chaos;
  if (flags.redisUrl && chaos.some((f) => f.kind === 'redis-down'))
    throw new ConfigError(
      '--chaos',
      'redis-down stops the sandbox’s own redis-server; it cannot be used with --redis-url (REDIS_URL)',
    );
  const legacyNodes =
    flags.legacyNodes !== undefined
      ? parseInteger(flags.legacyNodes, '--legacy-nodes', 0, nodes)
      : d.legacyNodes;
  const migrate = flags.migrate !== undefined ? parseMigrate(flags.migrate, '--migrate') : d.migrate;
  if (migrate.length && legacyNodes === 0)
    throw new ConfigError('--migrate', 'moves nodes off the old daemon: give --legacy-nodes too');
  const nonEmpty = (v: string | undefined, flag: string) => {
    if (v !== undefined && v.trim() === '') throw new ConfigError(flag, 'must not be empty');
    return v;
  };
  return {
    nodes,
    fleetReplicas,
    scheduling,
    podsPerNode,
    allocationRatePerSecond,
    sessionSeconds,
    interruptions,
    spotTarget,
    rebalance,
    agentRebalance,
    durationMs,
    settleMs,
    speed,
    seed,
    failurePolicy,
    controlPlane,
    signing: flags.signing ?? d.signing,
    ...(nonEmpty(flags.kubeconfig, '--kubeconfig') ? { kubeconfigPath: flags.kubeconfig } : {}),
    reportPath: nonEmpty(flags.report, '--report') ?? d.reportPath,
    logPath: nonEmpty(flags.logFile, '--log-file') ?? d.logPath,
    logLevel,
    ui: flags.ui ?? d.ui,
    ...(flags.redisUrl ? { redisUrl: flags.redisUrl } : {}),
    chaos,
    legacyNodes,
    migrate,
    ...(flags.upgrade !== undefined && flags.upgrade !== false
      ? { upgrade: parseUpgrade(flags.upgrade, '--upgrade') }
      : {}),
  };
}

function parseShare(value: string, flag: string): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new ConfigError(flag, `expected a fraction from 0 to 1, got "${value}"`);
  return n;
}

function positiveDuration(value: string, flag: string): number {
  const ms = parseDuration(value, flag, { requireUnit: true });
  if (ms <= 0) throw new ConfigError(flag, `must be longer than 0, got "${value}"`);
  return ms;
}
