// `--chaos LIST`: named faults injected into the running sandbox at given simulated times, each the
// kind of bad day (or attacker) the product must survive without losing a session or stranding a node.
// The parsing and the schedule, pure; chaos-injector.ts carries the faults out.
//
// LIST is comma-separated `FAULT[:DURATION]@TIME`, TIME (and DURATION) in simulated time, TIME counted
// from the start of the load: `redis-down:30s@1m,agent-kill@90s,imds-spot-notice@2m`.
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { ConfigError } from '../../shared/ops-server.js';

/** What each fault does; the README of sandbox/run says the same to users. */
export const CHAOS_FAULTS = {
  'redis-down': {
    duration: true,
    does: 'kills the sandbox redis-server for DURATION, then starts it again, empty, on the same port',
  },
  'redis-poison-sequence': {
    duration: false,
    does: 'SETs the status sequence key to 1, as anyone with write access to Redis could; pubsub must repair it',
  },
  'replay-status': {
    duration: false,
    does:
      'on the quietest node holding sessions: captures its signed DRAINING from Redis, has FleetIQ revert it to ACTIVE, restarts ' +
      'the node agent and writes the captured message back into the latest-status key and its channel',
  },
  'webhook-down': {
    duration: true,
    does: 'stops every webhook replica for DURATION (the Service has no endpoint), then starts them again',
  },
  'fleetiq-errors': {
    duration: true,
    does: 'every FleetIQ call answers InternalServiceException (HTTP 500) for DURATION',
  },
  'agent-kill': {
    duration: false,
    does: 'stops the busiest node’s agent at once and starts a new one, as the DaemonSet would',
  },
  'imds-spot-notice': {
    duration: false,
    does:
      'a Spot interruption notice on the busiest node seen only through its instance metadata (FleetIQ ' +
      'still says ACTIVE); EC2 reclaims the instance 2 minutes later and the group launches a replacement',
  },
} as const satisfies Record<string, { duration: boolean; does: string }>;

export type ChaosFaultKind = keyof typeof CHAOS_FAULTS;
export const CHAOS_FAULT_KINDS = Object.keys(CHAOS_FAULTS) as ChaosFaultKind[];

export interface ChaosFault {
  kind: ChaosFaultKind;
  /** Simulated ms after the load starts. */
  atMs: number;
  /** Simulated ms the fault lasts (outages only). */
  durationMs?: number;
}

/** How long after a Spot interruption notice EC2 takes the instance back (AWS: two minutes). */
export const SPOT_NOTICE_MS = 120_000;

const EXAMPLE = 'redis-down:30s@1m,agent-kill@90s';

/** Parses `--chaos`; `none` or an empty value mean no faults. Errors name the flag and the item. */
export function parseChaos(value: string, flag = '--chaos'): ChaosFault[] {
  const text = value.trim();
  if (text === '' || text === 'none') return [];
  const faults = text.split(',').map((item, i) => parseItem(item.trim(), i, flag));
  return faults.sort((a, b) => a.atMs - b.atMs);
}

function parseItem(item: string, index: number, flag: string): ChaosFault {
  const bad = (why: string) =>
    new ConfigError(
      flag,
      `item ${index + 1} "${item}": ${why} (expected FAULT[:DURATION]@TIME, e.g. ${EXAMPLE})`,
    );
  const m = /^([a-z-]+)(?::([^@]*))?@(.*)$/.exec(item);
  if (!m) throw bad('no @TIME');
  const kind = m[1] as ChaosFaultKind;
  if (!CHAOS_FAULT_KINDS.includes(kind)) throw bad(`unknown fault; known: ${CHAOS_FAULT_KINDS.join(', ')}`);
  const duration = (text: string, what: string) => {
    try {
      return parseDuration(text.trim(), flag, { requireUnit: true });
    } catch {
      throw bad(`${what} "${text}" is not a duration such as 30s or 2m`);
    }
  };
  const atMs = duration(m[3]!, 'TIME');
  if (CHAOS_FAULTS[kind].duration) {
    if (m[2] === undefined) throw bad(`${kind} needs a DURATION (${kind}:30s@TIME)`);
    const durationMs = duration(m[2], 'DURATION');
    if (durationMs <= 0) throw bad('DURATION must be longer than 0');
    return { kind, atMs, durationMs };
  }
  if (m[2] !== undefined) throw bad(`${kind} takes no DURATION`);
  return { kind, atMs };
}

/** The fault as it is written in a chaos list. */
export function describeFault(f: ChaosFault): string {
  return `${f.kind}${f.durationMs !== undefined ? `:${formatDuration(f.durationMs)}` : ''}@${formatDuration(f.atMs)}`;
}

export type ChaosAction = { atMs: number; action: 'start' | 'end'; fault: number };

/**
 * The actions in time order (simulated ms after the load starts): each fault's start, and the end of
 * each outage. At the same instant ends come first, so back-to-back outages of one kind do not
 * overlap; a fault never ends before it starts.
 */
export function chaosSchedule(faults: readonly ChaosFault[]): ChaosAction[] {
  const out: ChaosAction[] = [];
  faults.forEach((f, i) => {
    out.push({ atMs: f.atMs, action: 'start', fault: i });
    if (f.durationMs !== undefined) out.push({ atMs: f.atMs + f.durationMs, action: 'end', fault: i });
  });
  return out.sort(
    (a, b) => a.atMs - b.atMs || (a.action === b.action ? a.fault - b.fault : a.action === 'end' ? -1 : 1),
  );
}

/** One injected fault, as the report lists it (`chaos.injected`). */
export interface ChaosInjection {
  /** As written in the list, e.g. `redis-down:30s@1m`. */
  fault: string;
  kind: ChaosFaultKind;
  /** Simulated seconds after the load started when it was injected (and when it ended). */
  atSeconds: number;
  endedAtSeconds?: number;
  /** What it hit: a node, an instance, `redis`, `2 webhook replicas`, `FleetIQ (all operations)`. */
  target?: string;
  /** What it did, measured: e.g. `repaired by pubsub after 1.2 s (real)`, `refused by the agent`. */
  effect?: string;
  /** Whether the system undid or refused the fault as it should (undefined: nothing to judge). */
  contained?: boolean;
  /** Not injected (the run ended first) or failed to inject, and why. */
  skipped?: string;
}

/**
 * Nodes cordoned or tainted while FleetIQ says their (live) instance is ACTIVE: nothing will bring them
 * back. A node whose instance got a Spot notice is not one: EC2 takes it back within two minutes; nor
 * is one an operator's drain request holds.
 */
export function strandedNodes(
  nodes: Iterable<{
    name: string;
    instanceId: string;
    cordoned: boolean;
    tainted: boolean;
    leftAt?: number;
    /** An operator's drain request holds it drained: intended, and undone by removing the request. */
    requested?: boolean;
  }>,
  fleetiqStatus: (instanceId: string) => { status: string; terminated: boolean } | undefined,
  spotNoticed: (nodeName: string) => boolean = () => false,
): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    if (n.leftAt !== undefined || !(n.cordoned || n.tainted) || spotNoticed(n.name) || n.requested) continue;
    const i = fleetiqStatus(n.instanceId);
    if (i && !i.terminated && i.status === 'ACTIVE') out.push(n.name);
  }
  return out.sort();
}
