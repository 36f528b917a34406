// The simulated cluster as flags of `fleetiq-sandbox emulator kube`: --nodes, --node-labels, --fleet
// (repeatable) and --seed (the clock speed is the command's own --speed). With them, a fresh
// emulator has nodes with kubelets, a scheduler, Agones and the fleets asked for, so that
// `kubectl get gs` shows the fleets' GameServers Ready on the nodes. Without --nodes it stays a
// plain API server. Each flag is checked before anything starts; a bad one fails naming itself.
import { InvalidArgumentError, type Command } from 'commander';
import { GAME_SERVER_NODE_LABEL } from '../../shared/contract.js';
import { ConfigError } from '../../shared/ops-server.js';
import type { KubeEmulatorExtension } from '../kube/cli.js';
import { dns1123SubdomainErrors, labelValueErrors, qualifiedNameErrors } from '../kube/names.js';
import { startClusterSimulation, type FleetOptions } from './index.js';

export interface FleetFlag {
  name: string;
  replicas: number;
  scheduling: 'Packed' | 'Distributed';
}

/** What the flags ask for, validated. */
export interface ClusterFlags {
  /** Undefined: no simulation. */
  nodes?: number;
  nodeLabels: Record<string, string>;
  fleets: FleetFlag[];
  seed: number;
}

const DEFAULT_SEED = 1;

/** `--nodes N`: a positive integer. */
export function parseNodeCount(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError(`--nodes must be a positive integer, got "${value}".`);
  return Number(value);
}

/** `--node-labels k=v,...`: label keys and values as Kubernetes accepts them. */
export function parseNodeLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0)
      throw new InvalidArgumentError(
        `--node-labels expects key=value pairs separated by commas, got "${pair}".`,
      );
    const key = pair.slice(0, eq).trim();
    const val = pair.slice(eq + 1).trim();
    const keyErrors = qualifiedNameErrors(key);
    if (keyErrors.length > 0)
      throw new InvalidArgumentError(
        `--node-labels key "${key}" is not a valid label key: ${keyErrors.join('; ')}.`,
      );
    const valueErrors = labelValueErrors(val);
    if (valueErrors.length > 0)
      throw new InvalidArgumentError(
        `--node-labels value "${val}" of "${key}" is not a valid label value: ${valueErrors.join('; ')}.`,
      );
    if (key in labels) throw new InvalidArgumentError(`--node-labels names "${key}" twice.`);
    labels[key] = val;
  }
  return labels;
}

/** `--fleet NAME=REPLICAS[:Packed|Distributed]`. */
export function parseFleet(value: string): FleetFlag {
  const m = /^([^=]*)=(\d+)(?::(Packed|Distributed))?$/.exec(value.trim());
  if (!m)
    throw new InvalidArgumentError(
      `--fleet expects NAME=REPLICAS[:Packed|Distributed] (e.g. simple=6:Packed), got "${value}".`,
    );
  const nameErrors = dns1123SubdomainErrors(m[1]);
  if (nameErrors.length > 0)
    throw new InvalidArgumentError(
      `--fleet name "${m[1]}" is not a valid Fleet name: ${nameErrors.join('; ')}.`,
    );
  const replicas = Number(m[2]);
  if (!Number.isSafeInteger(replicas) || replicas > 2147483647)
    throw new InvalidArgumentError(`--fleet replicas of "${m[1]}" must be at most 2147483647, got ${m[2]}.`);
  return { name: m[1], replicas, scheduling: (m[3] as FleetFlag['scheduling']) ?? 'Packed' };
}

/** `--seed S`: an integer. */
export function parseSeed(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError(`--seed must be an integer, got "${value}".`);
  return n;
}

/** The checks that involve more than one flag (each flag's own syntax is checked as it is parsed). */
export function clusterFlags(flags: Record<string, unknown>): ClusterFlags {
  const nodes = flags.nodes as number | undefined;
  const fleets = (flags.fleet as FleetFlag[] | undefined) ?? [];
  const nodeLabels = flags.nodeLabels as Record<string, string> | undefined;
  if (nodes === undefined) {
    if (fleets.length > 0) throw new ConfigError('--fleet', 'needs simulated nodes to run on: add --nodes N');
    if (nodeLabels !== undefined)
      throw new ConfigError('--node-labels', 'labels simulated nodes: add --nodes N');
    if (flags.seed !== undefined) throw new ConfigError('--seed', 'seeds the simulation: add --nodes N');
  }
  const seen = new Set<string>();
  for (const f of fleets) {
    if (seen.has(f.name)) throw new ConfigError('--fleet', `names the fleet "${f.name}" twice`);
    seen.add(f.name);
  }
  return {
    nodes,
    nodeLabels: { [GAME_SERVER_NODE_LABEL.key]: GAME_SERVER_NODE_LABEL.value, ...(nodeLabels ?? {}) },
    fleets,
    seed: (flags.seed as number | undefined) ?? DEFAULT_SEED,
  };
}

const collect = (value: string, previous: FleetFlag[] | undefined): FleetFlag[] => [
  ...(previous ?? []),
  parseFleet(value),
];

export function clusterSimulationExtension(): KubeEmulatorExtension {
  return {
    addOptions(command: Command) {
      command
        .option(
          '--nodes <n>',
          'simulate a cluster of N nodes (EC2 Spot instances with kubelets), with the scheduler, taint ' +
            'manager and Agones; without it the emulator is a plain API server',
          parseNodeCount,
        )
        .option(
          '--node-labels <k=v,...>',
          `labels of every simulated node, added to ${GAME_SERVER_NODE_LABEL.key}=${GAME_SERVER_NODE_LABEL.value} ` +
            '(a pair with that key overrides it); needs --nodes',
          parseNodeLabels,
        )
        .option(
          '--fleet <name=replicas[:Packed|Distributed]>',
          'create an Agones Fleet in the default namespace (scheduling Packed unless given); repeatable; needs --nodes',
          collect,
        )
        .option(
          '--seed <s>',
          `integer seed of the simulation's random choices (instance IDs, zones, scheduling and allocation picks); default ${DEFAULT_SEED}; needs --nodes`,
          parseSeed,
        )
        .addHelpText(
          'after',
          [
            '',
            'The simulated cluster runs on the clock set by --speed (e.g. --speed 20: twenty simulated',
            'seconds per second). "ready" is printed once the API server serves and the simulation runs;',
            'fleets then come up within a few simulated seconds. Example:',
            '  fleetiq-sandbox emulator kube --kubeconfig /tmp/kc --nodes 3 --fleet simple=6:Packed --speed 20',
            '  kubectl --kubeconfig /tmp/kc get gs',
          ].join('\n'),
        );
    },

    async start({ emulator, flags, logger, clock }) {
      const cfg = clusterFlags(flags);
      if (cfg.nodes === undefined) return;
      const fleets: FleetOptions[] = cfg.fleets.map((f) => ({
        name: f.name,
        replicas: f.replicas,
        scheduling: f.scheduling,
      }));
      const sim = await startClusterSimulation(emulator, {
        clock,
        seed: cfg.seed,
        logger: logger.child({ component: 'cluster-simulation' }),
        nodes: { count: cfg.nodes, labels: cfg.nodeLabels },
        fleets,
        // The ready line means "serving"; a fleet converges afterwards at the clock's pace.
        waitForFleets: false,
      });
      logger.info(
        { nodes: cfg.nodes, fleets: cfg.fleets, seed: cfg.seed, speed: clock.speed },
        'cluster simulation running',
      );
      return () => sim.stop();
    },
  };
}
