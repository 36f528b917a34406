// How decide()'s drain actions become API requests. Pure: the agent executes the steps in order and
// stops at the first one that fails.
//
// - Consecutive node actions (labels, drain annotations, cordon, taints) become ONE merge patch of the
//   Node, carrying the resourceVersion they were decided on: it applies all of them or none, and a
//   Node changed meanwhile (an operator's cordon, another taint) is a 409 after which the agent decides
//   again, instead of writing a taint list or a `cordoned-by-agent` computed from an outdated Node.
//   Taints have no merge key, so the patch carries the whole list (read-modify-write).
// - Consecutive fence actions (shutdowns and tolerations, each on its own object and each guarded by
//   its own precondition) run concurrently, as do consecutive pod deletions.
// - Events never hold a step up: they are emitted once the step before them has succeeded.
import { DRAIN_TAINT, DRAIN_TAINT_KEY, INSTANCE_STATUS_LABEL } from '../shared/contract.js';
import type { DrainAction } from './decide.js';
import type { KubeObjectLike } from '../shared/kube-object.js';
import type { Toleration } from '../shared/drain-contract.js';
import {
  ACTED_ON_OBSERVED_AT_ANNOTATION,
  DRAIN_PHASE_LABEL,
  REBALANCE_SEEN_ANNOTATION,
  drainPhaseLabel,
  drainRecordAnnotations,
} from '../shared/drain-contract.js';

export type NodeAction = Extract<
  DrainAction,
  {
    kind:
      | 'recordDrainState'
      | 'recordActedOn'
      | 'recordRebalanceSeen'
      | 'label'
      | 'cordon'
      | 'uncordon'
      | 'taint'
      | 'untaint';
  }
>;
export type FenceAction = Extract<DrainAction, { kind: 'shutdownGameServer' | 'addToleration' }>;
export type DeletePodAction = Extract<DrainAction, { kind: 'deletePod' }>;
export type DeregisterAction = Extract<DrainAction, { kind: 'deregister' }>;
export type EventAction = Extract<DrainAction, { kind: 'emitEvent' }>;

export type Step = (
  | { kind: 'patchNode'; actions: NodeAction[] }
  | { kind: 'fence'; actions: FenceAction[] }
  | { kind: 'deletePods'; actions: DeletePodAction[] }
  | { kind: 'deregister'; actions: [DeregisterAction] }
  | { kind: 'none'; actions: [] }
) & {
  /** Emitted after the step succeeds, in the order decide() gave them. */
  events: EventAction[];
};

const NODE_KINDS = new Set([
  'recordDrainState',
  'recordActedOn',
  'recordRebalanceSeen',
  'label',
  'cordon',
  'uncordon',
  'taint',
  'untaint',
]);
const FENCE_KINDS = new Set(['shutdownGameServer', 'addToleration']);

/** Groups the actions into steps; events attach to the step before them. */
export function planSteps(actions: readonly DrainAction[]): Step[] {
  const steps: Step[] = [];
  let current: Step | undefined;
  // A node step stays open across events, so the node actions around an event still form one patch.
  const open = (kind: Step['kind']): Step => {
    if (current && current.kind === kind && kind !== 'deregister') return current;
    current = { kind, actions: [], events: [] } as unknown as Step;
    steps.push(current);
    return current;
  };
  for (const a of actions) {
    if (a.kind === 'emitEvent') {
      (current ?? open('none')).events.push(a);
    } else if (NODE_KINDS.has(a.kind)) {
      (open('patchNode').actions as DrainAction[]).push(a);
    } else if (FENCE_KINDS.has(a.kind)) {
      (open('fence').actions as DrainAction[]).push(a);
    } else if (a.kind === 'deletePod') {
      (open('deletePods').actions as DrainAction[]).push(a);
    } else {
      (open('deregister').actions as DrainAction[]).push(a);
    }
  }
  return steps;
}

/**
 * The steps to run before observing again: a cordon makes every game server read before it out of
 * date (an allocation may have landed meanwhile), so a fence or a pod deletion that follows it in the
 * same decision is dropped, to be decided again on reads newer than the cordon.
 */
export function stepsBeforeReobserving(steps: readonly Step[]): Step[] {
  const cordon = steps.findIndex((s) => s.kind === 'patchNode' && s.actions.some((a) => a.kind === 'cordon'));
  if (cordon < 0 || !steps.slice(cordon + 1).some((s) => s.kind === 'fence' || s.kind === 'deletePods'))
    return [...steps];
  return steps.slice(0, cordon + 1);
}

/**
 * The merge patch that carries out `actions` on `node` (as observed): labels and annotations by key
 * (null deletes), spec.unschedulable, the full taint list when any taint action is there, and always
 * metadata.resourceVersion as the precondition.
 */
export function nodeMergePatch(node: KubeObjectLike, actions: readonly NodeAction[]): Record<string, any> {
  const labels: Record<string, string | null> = {};
  const annotations: Record<string, string | null> = {};
  const spec: Record<string, unknown> = {};
  let taints: Toleration[] | undefined;
  const currentTaints = (): Toleration[] =>
    taints ?? (Array.isArray(node.spec?.taints) ? node.spec.taints.map((t: Toleration) => ({ ...t })) : []);
  for (const a of actions) {
    switch (a.kind) {
      case 'recordDrainState':
        Object.assign(annotations, drainRecordAnnotations(a.record));
        labels[DRAIN_PHASE_LABEL] = drainPhaseLabel(a.record);
        break;
      case 'recordActedOn':
        annotations[ACTED_ON_OBSERVED_AT_ANNOTATION] = new Date(a.observedAt).toISOString();
        break;
      case 'recordRebalanceSeen':
        annotations[REBALANCE_SEEN_ANNOTATION] = new Date(a.noticeTime).toISOString();
        break;
      case 'label':
        labels[INSTANCE_STATUS_LABEL] = a.status;
        break;
      case 'cordon':
        spec.unschedulable = true;
        break;
      case 'uncordon':
        // As `kubectl uncordon` leaves it: the field absent.
        spec.unschedulable = null;
        break;
      case 'taint':
        taints = [...currentTaints().filter((t) => t.key !== DRAIN_TAINT_KEY), { ...DRAIN_TAINT }];
        break;
      case 'untaint':
        taints = currentTaints().filter((t) => t.key !== DRAIN_TAINT_KEY);
        break;
    }
  }
  if (taints !== undefined) spec.taints = taints.length ? taints : null;
  const metadata: Record<string, unknown> = { resourceVersion: node.metadata.resourceVersion };
  if (Object.keys(labels).length) metadata.labels = labels;
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  return { metadata, ...(Object.keys(spec).length ? { spec } : {}) };
}

/**
 * The JSON Patch that moves a GameServer to Shutdown only if it is still exactly what was observed:
 * same resourceVersion (nothing at all changed, in particular no allocation) and same state. A failed
 * test is a 422, after which the agent observes and decides again: either the agent shuts the game
 * server down or Agones allocates it, never both.
 */
export function shutdownPatch(
  gameServer: KubeObjectLike | undefined,
  expected: { resourceVersion: string; state: string },
): object[] {
  const ops: object[] = [{ op: 'test', path: '/metadata/resourceVersion', value: expected.resourceVersion }];
  if (expected.state !== '') {
    ops.push({ op: 'test', path: '/status/state', value: expected.state });
    ops.push({ op: 'replace', path: '/status/state', value: 'Shutdown' });
  } else if (gameServer?.status && typeof gameServer.status === 'object') {
    ops.push({ op: 'add', path: '/status/state', value: 'Shutdown' });
  } else {
    ops.push({ op: 'add', path: '/status', value: { state: 'Shutdown' } });
  }
  return ops;
}
