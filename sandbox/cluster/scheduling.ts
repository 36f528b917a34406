// The kube-scheduler's choice for one pending pod, reduced to what the default profile does with
// the pods this project runs: the same filters in the same order with the same failure messages,
// the same feasible-node search window, the same scores and the same random tie-break.
//
// Filters (first failing plugin wins, as in the framework): NodeUnschedulable, TaintToleration
// (NoSchedule and NoExecute, plus the condition taints the node lifecycle controller puts on a
// node that is not Ready), NodeAffinity (nodeSelector and required node affinity), NodePorts,
// NodeResourcesFit (pods, cpu, memory). Scores: InterPodAffinity (preferred terms, weight 2),
// NodeResourcesFit LeastAllocated (weight 1), NodeAffinity preferred (weight 2), TaintToleration
// PreferNoSchedule (weight 3). Not modelled: BalancedAllocation, ImageLocality, PodTopologySpread
// (its system defaults only apply to pods owned by Services/ReplicaSets/StatefulSets), volumes,
// required pod (anti-)affinity, preemption itself (only its message).

import type { KubeObject } from '../kube/types.js';
import type { SeededRandom } from '../clock.js';
import { integral, milliCpu } from './quantity.js';
import {
  matchesLabelSelector,
  matchesNodeSelectorMap,
  matchesNodeSelectorTerm,
  matchesNodeSelectorTerms,
  type LabelSelector,
} from './selectors.js';
import { firstUntoleratedTaint, toleratesTaint, type Taint, type Toleration } from './tolerations.js';
import { TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE, TAINT_NODE_UNSCHEDULABLE } from './names.js';

export const MSG_UNSCHEDULABLE = 'node(s) were unschedulable';
export const MSG_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const MSG_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";
export const MSG_TOO_MANY_PODS = 'Too many pods';
export function msgUntoleratedTaint(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
}

/** The scheduler's defaults for containers without requests, used only for scoring. */
const DEFAULT_MILLI_CPU_REQUEST = 100;
const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;
const MAX_NODE_SCORE = 100;
const MIN_FEASIBLE_NODES_TO_FIND = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;

export interface Resources {
  milliCpu: number;
  memory: number;
}

function containerRequests(c: any): Resources {
  // The API server defaults requests to limits when only limits are set.
  const req = c?.resources?.requests ?? {};
  const lim = c?.resources?.limits ?? {};
  return {
    milliCpu: milliCpu(req.cpu ?? lim.cpu),
    memory: integral(req.memory ?? lim.memory),
  };
}

/** What the pod asks for: containers summed, init containers' maximum if larger, plus overhead. */
export function podRequests(pod: KubeObject, nonZero = false): Resources {
  const sum: Resources = { milliCpu: 0, memory: 0 };
  for (const c of pod.spec?.containers ?? []) {
    const r = containerRequests(c);
    const hasCpu = c?.resources?.requests?.cpu !== undefined || c?.resources?.limits?.cpu !== undefined;
    const hasMem = c?.resources?.requests?.memory !== undefined || c?.resources?.limits?.memory !== undefined;
    sum.milliCpu += nonZero && !hasCpu ? DEFAULT_MILLI_CPU_REQUEST : r.milliCpu;
    sum.memory += nonZero && !hasMem ? DEFAULT_MEMORY_REQUEST : r.memory;
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const r = containerRequests(c);
    sum.milliCpu = Math.max(sum.milliCpu, r.milliCpu);
    sum.memory = Math.max(sum.memory, r.memory);
  }
  const overhead = pod.spec?.overhead ?? {};
  sum.milliCpu += milliCpu(overhead.cpu);
  sum.memory += integral(overhead.memory);
  return sum;
}

/** Host ports the pod binds, as `protocol/port` (hostIP is not modelled: every port is 0.0.0.0). */
export function podHostPorts(pod: KubeObject): string[] {
  const out: string[] = [];
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const p of c?.ports ?? []) {
      if (p?.hostPort) out.push(`${p.protocol ?? 'TCP'}/${p.hostPort}`);
    }
  }
  return out;
}

function podKey(pod: KubeObject): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

function isTerminal(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/**
 * The scheduler's view of one node: the node and the pods bound to it (terminating ones included:
 * they hold their resources until they are gone), with running totals so filtering stays cheap.
 */
interface PodAccount {
  uid: string | undefined;
  generation: number | undefined;
  requested: Resources;
  nonZero: Resources;
  ports: string[];
}

export class NodeInfo {
  readonly pods = new Map<string, KubeObject>();
  requested: Resources = { milliCpu: 0, memory: 0 };
  nonZeroRequested: Resources = { milliCpu: 0, memory: 0 };
  podCount = 0;
  private readonly accounts = new Map<string, PodAccount>();
  private readonly usedPorts = new Map<string, number>();
  /** Bumped whenever the pods change; memoized counts are keyed on it. */
  private generation = 0;
  private readonly matchMemo = new Map<string, { generation: number; count: number }>();

  private allocatableOf: { node: KubeObject; value: Allocatable } | undefined;

  constructor(public node: KubeObject) {}

  /** The node's allocatable resources, parsed once per node object. */
  allocatable(): Allocatable {
    if (this.allocatableOf?.node !== this.node)
      this.allocatableOf = { node: this.node, value: allocatable(this.node) };
    return this.allocatableOf.value;
  }

  static of(node: KubeObject, pods: KubeObject[] = []): NodeInfo {
    const info = new NodeInfo(node);
    for (const p of pods) info.addPod(p);
    return info;
  }

  get name(): string {
    return this.node.metadata.name ?? '';
  }

  /**
   * Adds or replaces a pod. A pod's spec (what it requests) only changes with its generation, so a
   * status-only update replaces the object without recounting.
   */
  addPod(pod: KubeObject): void {
    const key = podKey(pod);
    const prev = this.accounts.get(key);
    if (isTerminal(pod)) {
      if (prev) this.removePod(key);
      return;
    }
    if (prev && prev.uid === pod.metadata.uid && prev.generation === pod.metadata.generation) {
      const before = this.pods.get(key);
      this.pods.set(key, pod);
      // Labels count for pod affinity: a label change invalidates the memoized counts.
      if (JSON.stringify(before?.metadata.labels) !== JSON.stringify(pod.metadata.labels)) this.generation++;
      return;
    }
    if (prev) this.removePod(key);
    const account: PodAccount = {
      uid: pod.metadata.uid,
      generation: pod.metadata.generation,
      requested: podRequests(pod),
      nonZero: podRequests(pod, true),
      ports: podHostPorts(pod),
    };
    this.accounts.set(key, account);
    this.pods.set(key, pod);
    this.requested.milliCpu += account.requested.milliCpu;
    this.requested.memory += account.requested.memory;
    this.nonZeroRequested.milliCpu += account.nonZero.milliCpu;
    this.nonZeroRequested.memory += account.nonZero.memory;
    this.podCount++;
    for (const p of account.ports) this.usedPorts.set(p, (this.usedPorts.get(p) ?? 0) + 1);
    this.generation++;
  }

  removePod(key: string): void {
    const account = this.accounts.get(key);
    if (!account) return;
    this.accounts.delete(key);
    this.pods.delete(key);
    this.requested.milliCpu -= account.requested.milliCpu;
    this.requested.memory -= account.requested.memory;
    this.nonZeroRequested.milliCpu -= account.nonZero.milliCpu;
    this.nonZeroRequested.memory -= account.nonZero.memory;
    this.podCount--;
    for (const p of account.ports) {
      const n = (this.usedPorts.get(p) ?? 0) - 1;
      if (n <= 0) this.usedPorts.delete(p);
      else this.usedPorts.set(p, n);
    }
    this.generation++;
  }

  portInUse(port: string): boolean {
    return this.usedPorts.has(port);
  }

  /** Pods on this node in one of `namespaces` (null: any) matching `selector`; memoized. */
  countMatching(
    namespaces: readonly string[] | null,
    selector: LabelSelector | undefined,
    memoKey?: string,
  ): number {
    const key = memoKey ?? JSON.stringify([namespaces, selector ?? null]);
    const memo = this.matchMemo.get(key);
    if (memo && memo.generation === this.generation) return memo.count;
    let count = 0;
    for (const pod of this.pods.values()) {
      if (namespaces && !namespaces.includes(pod.metadata.namespace ?? '')) continue;
      if (matchesLabelSelector(selector, pod.metadata.labels)) count++;
    }
    this.matchMemo.set(key, { generation: this.generation, count });
    return count;
  }
}

interface Allocatable {
  pods: number;
  milliCpu: number;
  memory: number;
}

function allocatable(node: KubeObject): Allocatable {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return {
    pods: a.pods === undefined ? 110 : integral(a.pods),
    milliCpu: a.cpu === undefined ? Number.MAX_SAFE_INTEGER : milliCpu(a.cpu),
    memory: a.memory === undefined ? Number.MAX_SAFE_INTEGER : integral(a.memory),
  };
}

/**
 * The node's taints plus the condition taint the node lifecycle controller would have added for a
 * node that is not Ready (not-ready when Ready is False or missing, unreachable when Unknown).
 */
export function effectiveTaints(node: KubeObject): Taint[] {
  const taints: Taint[] = [...(node.spec?.taints ?? [])];
  const ready = (node.status?.conditions ?? []).find((c: any) => c?.type === 'Ready');
  const status = ready?.status;
  if (status !== 'True') {
    const key = status === 'Unknown' ? TAINT_NODE_UNREACHABLE : TAINT_NODE_NOT_READY;
    if (!taints.some((t) => t.key === key && t.effect === 'NoSchedule'))
      taints.push({ key, effect: 'NoSchedule' });
  }
  return taints;
}

/** Filter plugins that depend only on the node object and the pod's spec (cacheable per pod shape). */
export function staticFilterReasons(pod: KubeObject, node: KubeObject): string[] {
  const tolerations: Toleration[] = pod.spec?.tolerations ?? [];
  // NodeUnschedulable
  if (node.spec?.unschedulable) {
    const cordonTaint: Taint = { key: TAINT_NODE_UNSCHEDULABLE, effect: 'NoSchedule' };
    if (!tolerations.some((t) => toleratesTaint(t, cordonTaint))) return [MSG_UNSCHEDULABLE];
  }
  // TaintToleration
  const untolerated = firstUntoleratedTaint(effectiveTaints(node), tolerations, ['NoSchedule', 'NoExecute']);
  if (untolerated) return [msgUntoleratedTaint(untolerated)];
  // NodeAffinity
  if (!matchesNodeSelectorMap(pod.spec?.nodeSelector, node.metadata.labels)) return [MSG_NODE_AFFINITY];
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required && !matchesNodeSelectorTerms(required.nodeSelectorTerms, node)) return [MSG_NODE_AFFINITY];
  return [];
}

/** Filter plugins that depend on what is already on the node. */
export function dynamicFilterReasons(
  pod: KubeObject,
  info: NodeInfo,
  request = podRequests(pod),
  ports = podHostPorts(pod),
): string[] {
  // NodePorts
  for (const p of ports) if (info.portInUse(p)) return [MSG_NODE_PORTS];
  // NodeResourcesFit
  const a = info.allocatable();
  const reasons: string[] = [];
  if (info.podCount + 1 > a.pods) reasons.push(MSG_TOO_MANY_PODS);
  if (request.milliCpu > 0 && info.requested.milliCpu + request.milliCpu > a.milliCpu)
    reasons.push('Insufficient cpu');
  if (request.memory > 0 && info.requested.memory + request.memory > a.memory)
    reasons.push('Insufficient memory');
  return reasons;
}

/** Every reason the node is not feasible for the pod (empty: it fits). */
export function filterReasons(pod: KubeObject, info: NodeInfo): string[] {
  const s = staticFilterReasons(pod, info.node);
  return s.length > 0 ? s : dynamicFilterReasons(pod, info);
}

/** Reasons preemption could not remove by evicting lower-priority pods. */
function unresolvable(reason: string): boolean {
  return (
    reason === MSG_UNSCHEDULABLE ||
    reason === MSG_NODE_AFFINITY ||
    reason.startsWith('node(s) had untolerated taint')
  );
}

/** How many nodes the scheduler looks for before it stops filtering (percentageOfNodesToScore). */
export function numFeasibleNodesToFind(numAllNodes: number, percentageOfNodesToScore = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND) return numAllNodes;
  let percentage = percentageOfNodesToScore;
  if (percentage <= 0) {
    percentage = 50 - Math.trunc(numAllNodes / 125);
    if (percentage < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
      percentage = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
  }
  const n = Math.trunc((numAllNodes * percentage) / 100);
  return n < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : n;
}

interface AffinityTerm {
  weight: number;
  namespaces: string[] | null;
  selector: LabelSelector | undefined;
  topologyKey: string;
  /** The memo key of (namespaces, selector) for NodeInfo.countMatching. */
  memoKey: string;
}

function preferredPodTerms(pod: KubeObject): AffinityTerm[] {
  const out: AffinityTerm[] = [];
  const add = (list: any[] | undefined, sign: number) => {
    for (const w of list ?? []) {
      const term = w?.podAffinityTerm ?? {};
      // An empty namespaceSelector means every namespace; otherwise the listed ones or the pod's own.
      const allNs = term.namespaceSelector && Object.keys(term.namespaceSelector).length === 0;
      const namespaces: string[] | null = allNs
        ? null
        : term.namespaces?.length
          ? term.namespaces
          : [pod.metadata.namespace ?? 'default'];
      out.push({
        weight: sign * (w?.weight ?? 0),
        namespaces,
        selector: term.labelSelector,
        topologyKey: term.topologyKey ?? '',
        memoKey: JSON.stringify([namespaces, term.labelSelector ?? null]),
      });
    }
  };
  add(pod.spec?.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution, 1);
  add(pod.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution, -1);
  return out;
}

/** Raw InterPodAffinity score of each feasible node (Σ weight × matching pods in its topology domain). */
function interPodAffinityScores(pod: KubeObject, feasible: NodeInfo[], all: readonly NodeInfo[]): number[] {
  const terms = preferredPodTerms(pod);
  const scores = feasible.map(() => 0);
  if (terms.length === 0) return scores;
  for (const term of terms) {
    if (!term.topologyKey) continue;
    // Count per topology value over every node (for hostname this is just the node itself).
    const perDomain = new Map<string, number>();
    const needAll = term.topologyKey !== 'kubernetes.io/hostname';
    const source = needAll ? all : feasible;
    for (const info of source) {
      const value = info.node.metadata.labels?.[term.topologyKey];
      if (value === undefined) continue;
      const n = info.countMatching(term.namespaces, term.selector, term.memoKey);
      if (n > 0) perDomain.set(value, (perDomain.get(value) ?? 0) + n);
    }
    feasible.forEach((info, i) => {
      const value = info.node.metadata.labels?.[term.topologyKey];
      if (value !== undefined) scores[i] += term.weight * (perDomain.get(value) ?? 0);
    });
  }
  return scores;
}

function normalizeInterPodAffinity(raw: number[]): number[] {
  let max = 0;
  let min = 0;
  for (const s of raw) {
    if (s > max) max = s;
    if (s < min) min = s;
  }
  const diff = max - min;
  return raw.map((s) => (diff > 0 ? Math.trunc((MAX_NODE_SCORE * (s - min)) / diff) : 0));
}

function defaultNormalize(raw: number[], reverse: boolean): number[] {
  const max = raw.reduce((m, s) => Math.max(m, s), 0);
  if (max === 0) return raw.map(() => (reverse ? MAX_NODE_SCORE : 0));
  return raw.map((s) => {
    const v = Math.trunc((MAX_NODE_SCORE * s) / max);
    return reverse ? MAX_NODE_SCORE - v : v;
  });
}

function leastAllocatedScore(req: Resources, info: NodeInfo): number {
  const a = info.allocatable();
  const one = (capacity: number, requested: number) => {
    if (capacity === 0 || capacity >= Number.MAX_SAFE_INTEGER) return MAX_NODE_SCORE;
    if (requested > capacity) return 0;
    return Math.trunc(((capacity - requested) * MAX_NODE_SCORE) / capacity);
  };
  const cpu = one(a.milliCpu, info.nonZeroRequested.milliCpu + req.milliCpu);
  const mem = one(a.memory, info.nonZeroRequested.memory + req.memory);
  return Math.trunc((cpu + mem) / 2);
}

function nodeAffinityPreferredScore(pod: KubeObject, node: KubeObject): number {
  let score = 0;
  for (const p of pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    if (p?.preference && matchesNodeSelectorTerm(p.preference, node)) score += p.weight ?? 0;
  }
  return score;
}

function intolerablePreferNoSchedule(pod: KubeObject, node: KubeObject): number {
  const tolerations: Toleration[] = (pod.spec?.tolerations ?? []).filter(
    (t: Toleration) => !t.effect || t.effect === 'PreferNoSchedule',
  );
  return (node.spec?.taints ?? []).filter(
    (t: Taint) => t.effect === 'PreferNoSchedule' && !tolerations.some((tol) => toleratesTaint(tol, t)),
  ).length;
}

/** Total weighted score of each feasible node, as the default profile adds them up. */
export function scoreNodes(
  pod: KubeObject,
  feasible: NodeInfo[],
  all: readonly NodeInfo[] = feasible,
): number[] {
  const ipa = normalizeInterPodAffinity(interPodAffinityScores(pod, feasible, all));
  const hasPreferred =
    (pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).length > 0;
  const na = hasPreferred
    ? defaultNormalize(
        feasible.map((i) => nodeAffinityPreferredScore(pod, i.node)),
        false,
      )
    : undefined;
  const tt = defaultNormalize(
    feasible.map((i) => intolerablePreferNoSchedule(pod, i.node)),
    true,
  );
  const nonZero = podRequests(pod, true);
  return feasible.map(
    (info, i) => 2 * ipa[i] + leastAllocatedScore(nonZero, info) + 2 * (na?.[i] ?? 0) + 3 * tt[i],
  );
}

export interface ScheduleOptions {
  /** Breaks ties between equally scored nodes (reservoir sampling, as selectHost does); without it the first in order wins. */
  random?: SeededRandom;
  /** Where the feasibility search starts in `nodes` (the scheduler rotates it between pods). */
  startIndex?: number;
  /** The scheduler's percentageOfNodesToScore (0: adaptive default). */
  percentageOfNodesToScore?: number;
  /** Cache of static filter results per node for pods of the same shape. */
  staticCache?: StaticFilterCache;
}

export type ScheduleResult =
  | { nodeName: string; nextStartIndex: number }
  | { nodeName: undefined; message: string; nextStartIndex: number; reasons: Map<string, number> };

/**
 * Static filter verdicts keyed by the pod's scheduling shape (tolerations, nodeSelector, node
 * affinity) and the node's resourceVersion: a fleet's pods all share one shape, so the scheduler
 * evaluates taints and affinity once per node instead of once per pod.
 */
export class StaticFilterCache {
  private readonly byShape = new Map<string, Map<string, { rv: string | undefined; reasons: string[] }>>();

  static shapeOf(pod: KubeObject): string {
    return JSON.stringify([
      pod.spec?.tolerations ?? null,
      pod.spec?.nodeSelector ?? null,
      pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? null,
    ]);
  }

  reasons(pod: KubeObject, node: KubeObject, shape = StaticFilterCache.shapeOf(pod)): string[] {
    let perNode = this.byShape.get(shape);
    if (!perNode) {
      if (this.byShape.size > 1000) this.byShape.clear();
      perNode = new Map();
      this.byShape.set(shape, perNode);
    }
    const name = node.metadata.name ?? '';
    const rv = node.metadata.resourceVersion;
    const hit = perNode.get(name);
    if (hit && hit.rv === rv && rv !== undefined) return hit.reasons;
    const reasons = staticFilterReasons(pod, node);
    perNode.set(name, { rv, reasons });
    return reasons;
  }

  forgetNode(name: string): void {
    for (const m of this.byShape.values()) m.delete(name);
  }
}

/**
 * Picks the node for a pending pod, or explains why none fits with the message the real scheduler
 * puts in the PodScheduled condition and the FailedScheduling event.
 */
export function schedulePod(
  pod: KubeObject,
  nodes: readonly NodeInfo[],
  options: ScheduleOptions = {},
): ScheduleResult {
  const n = nodes.length;
  const start = n === 0 ? 0 : (((options.startIndex ?? 0) % n) + n) % n;
  const want = numFeasibleNodesToFind(n, options.percentageOfNodesToScore);
  const request = podRequests(pod);
  const ports = podHostPorts(pod);
  const shape = options.staticCache ? StaticFilterCache.shapeOf(pod) : '';
  const feasible: NodeInfo[] = [];
  const reasons = new Map<string, number>();
  const preemption = new Map<string, number>();
  let processed = 0;
  for (let i = 0; i < n && feasible.length < want; i++) {
    const info = nodes[(start + i) % n];
    processed++;
    let r = options.staticCache
      ? options.staticCache.reasons(pod, info.node, shape)
      : staticFilterReasons(pod, info.node);
    if (r.length === 0) r = dynamicFilterReasons(pod, info, request, ports);
    if (r.length === 0) {
      feasible.push(info);
      continue;
    }
    for (const reason of r) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    const p = r.some(unresolvable)
      ? 'Preemption is not helpful for scheduling'
      : 'No preemption victims found for incoming pod';
    preemption.set(p, (preemption.get(p) ?? 0) + 1);
  }
  const nextStartIndex = n === 0 ? 0 : (start + processed) % n;
  if (feasible.length === 0) {
    const histogram = (m: Map<string, number>) => [...m.entries()].map(([k, v]) => `${v} ${k}`).sort();
    let message = `0/${n} nodes are available`;
    const filterMsg = histogram(reasons);
    message += filterMsg.length > 0 ? `: ${filterMsg.join(', ')}.` : '.';
    if (n > 0) message += ` preemption: 0/${n} nodes are available: ${histogram(preemption).join(', ')}.`;
    return { nodeName: undefined, message, nextStartIndex, reasons };
  }
  if (feasible.length === 1) return { nodeName: feasible[0].name, nextStartIndex };
  const scores = scoreNodes(pod, feasible, nodes);
  let best = -Infinity;
  let selected = feasible[0];
  let ties = 0;
  feasible.forEach((info, i) => {
    if (scores[i] > best) {
      best = scores[i];
      selected = info;
      ties = 1;
    } else if (scores[i] === best) {
      ties++;
      if (options.random && options.random.int(ties) === 0) selected = info;
    }
  });
  return { nodeName: selected.name, nextStartIndex };
}
