// Prometheus metrics of the simulated cluster, read from its parts when scraped.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterSimulation } from './index.js';

/** A counter whose value is read from `read()` at scrape time (the parts keep their own totals). */
function mirroredCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => [Record<string, string>, number][],
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

export function registerClusterMetrics(sim: ClusterSimulation, registry: Registry): void {
  new Gauge({
    name: 'cluster_sim_sessions',
    help: 'Game sessions of the simulation by outcome (active, completed, lost) and those reached by a spot notice',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = sim.ledger.summary();
      this.set({ outcome: 'started' }, s.started);
      this.set({ outcome: 'active' }, s.active);
      this.set({ outcome: 'completed' }, s.completed);
      this.set({ outcome: 'lost' }, s.lost);
      this.set({ outcome: 'interrupted_by_spot_notice' }, s.interruptedBySpotNotice);
    },
  });
  mirroredCounter(
    registry,
    'cluster_sim_allocations_total',
    'GameServerAllocations answered by the simulated allocator, by result',
    ['result'],
    () => {
      const a = sim.allocator.stats;
      return [
        [{ result: 'allocated' }, a.allocated],
        [{ result: 'unallocated' }, a.unallocated],
        [{ result: 'contention' }, a.contention],
        [{ result: 'error' }, a.failed],
      ];
    },
  );
  mirroredCounter(
    registry,
    'cluster_sim_allocation_conflicts_total',
    'Allocator GameServer updates that got 409 Conflict',
    [],
    () => [[{}, sim.allocator.stats.conflicts]],
  );
  mirroredCounter(
    registry,
    'cluster_sim_pods_scheduled_total',
    'Pods bound by the simulated scheduler',
    [],
    () => [[{}, sim.scheduler?.scheduled ?? 0]],
  );
  mirroredCounter(
    registry,
    'cluster_sim_scheduling_failures_total',
    'Scheduling attempts that found no node',
    [],
    () => [[{}, sim.scheduler?.failedAttempts ?? 0]],
  );
  mirroredCounter(
    registry,
    'cluster_sim_taint_evictions_total',
    'Pods deleted by the NoExecute taint manager',
    [],
    () => [[{}, sim.taintManager?.evictions ?? 0]],
  );
  mirroredCounter(
    registry,
    'cluster_sim_pods_started_total',
    'Pods whose containers the simulated kubelets started',
    [],
    () => [[{}, sim.kubelets.started]],
  );
  mirroredCounter(
    registry,
    'cluster_sim_pods_terminated_total',
    'Pods the simulated kubelets removed after termination',
    [],
    () => [[{}, sim.kubelets.terminated]],
  );
  new Gauge({
    name: 'cluster_sim_unschedulable_pods',
    help: 'Pods waiting in the scheduler unschedulable queue',
    registers: [registry],
    collect() {
      this.set(sim.scheduler?.unschedulableCount() ?? 0);
    },
  });
  new Gauge({
    name: 'cluster_sim_gameserver_queue_depth',
    help: 'GameServers waiting in the simulated GameServer controller queue',
    registers: [registry],
    collect() {
      this.set(sim.gameServerController.queue.length);
    },
  });
}
