// What the webhook decides, as pure functions: which admission requests need any work at all (most
// do not, and must be answered without an API call), what to do with the backing pod once read, and
// the JSON Patches it sends. The I/O around them lives in pod-toleration.ts and admission.ts. What
// the webhook shares with the node agent (the toleration, "tolerates", the guarded patch that adds it
// with Karpenter's mark, which nodes take no new session, the protected states) is the drain contract,
// ../shared/drain-contract.ts.
import {
  DRAIN_TOLERATION_ANNOTATION,
  escapePointerSegment,
  nodeRefusesSessions,
  type NodeSessionSignals,
  sessionPodNeeds,
  sessionPodPatch,
  type JsonPatchOp,
  type ProtectedState,
  type SessionPodProtection,
  type Toleration,
} from '../shared/drain-contract.js';

// Kept here for the importers of the webhook's types.
export type { JsonPatchOp, ProtectedState };
export { escapePointerSegment };

/** The parts of an admission.k8s.io/v1 AdmissionRequest the webhook reads (schema-checked in review-schema.ts). */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  dryRun?: boolean;
  object?: KubeLike | null;
  oldObject?: KubeLike | null;
}

export interface KubeLike {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string | null;
    annotations?: Record<string, string> | null;
    [k: string]: unknown;
  };
  status?: { state?: unknown; [k: string]: unknown } | null;
  [k: string]: unknown;
}

export interface ClassifyOptions {
  /** States whose pods must tolerate the drain taint: Allocated, plus Reserved when configured. */
  protectedStates: ReadonlySet<ProtectedState>;
}

export type SkipReason =
  | 'not-a-gameserver'
  | 'not-an-update'
  | 'subresource'
  | 'dry-run'
  | 'not-a-transition'
  | 'stale-update'
  | 'development-gameserver';

export interface GameServerRef {
  namespace: string;
  name: string;
  uid: string;
  /**
   * What the review says the API server holds now (its oldObject): checked against the stored
   * GameServer before anything is patched, so a review the API server did not send patches nothing.
   */
  stored?: StoredExpectation;
}

/** The oldObject of a review, as the API server sends it: the stored GameServer when the update began. */
export interface StoredExpectation {
  uid: string | undefined;
  resourceVersion: string | undefined;
  state: string | undefined;
}

export type Classification =
  | { kind: 'skip'; reason: SkipReason }
  | {
      kind: 'transition';
      gameServer: GameServerRef;
      from: string | undefined;
      to: ProtectedState;
      /** The JSON Patch for the GameServer once its pod tolerates the drain taint (may be empty). */
      annotationPatch: JsonPatchOp[];
    };

/** Agones marks development GameServers (no pod at all) with this annotation. */
export const DEV_ADDRESS_ANNOTATION = 'agones.dev/dev-address';

function stateOf(obj: KubeLike | null | undefined): string | undefined {
  const s = obj?.status?.state;
  return typeof s === 'string' ? s : undefined;
}

/**
 * A transition INTO a protected state: the new state is protected and the old one was not, or it is
 * an Allocated → Allocated re-allocation (a new session on a server that already has one; handled
 * idempotently downstream). Reserved → Allocated with Reserved protected is not one: the pod was
 * made tolerant when it was reserved.
 */
export function isProtectingTransition(
  from: string | undefined,
  to: string | undefined,
  protectedStates: ReadonlySet<ProtectedState>,
): to is ProtectedState {
  if (to === undefined || !protectedStates.has(to as ProtectedState)) return false;
  if (from === undefined || !protectedStates.has(from as ProtectedState)) return true;
  return from === 'Allocated' && to === 'Allocated';
}

/** Decides from the request alone whether any work is needed (no API call is made for a skip). */
export function classifyRequest(req: AdmissionRequest, options: ClassifyOptions): Classification {
  if (req.kind.group !== 'agones.dev' || req.kind.kind !== 'GameServer')
    return { kind: 'skip', reason: 'not-a-gameserver' };
  if (req.operation !== 'UPDATE') return { kind: 'skip', reason: 'not-an-update' };
  if (req.subResource) return { kind: 'skip', reason: 'subresource' };
  const from = stateOf(req.oldObject);
  const to = stateOf(req.object);
  if (!isProtectingTransition(from, to, options.protectedStates))
    return { kind: 'skip', reason: 'not-a-transition' };
  // Side effects are not allowed in a dry run (the webhook is registered with sideEffects: NoneOnDryRun).
  if (req.dryRun) return { kind: 'skip', reason: 'dry-run' };
  // Mutating admission runs BEFORE the API server's resourceVersion check: an update carrying another
  // resourceVersion than the stored object (oldObject) is certain to fail with 409 Conflict, so its
  // side effect would belong to an allocation that never happens. If the stored object we were shown
  // was itself stale, the API server re-reads and calls us again with matching versions.
  const sentVersion = req.object?.metadata?.resourceVersion;
  const storedVersion = req.oldObject?.metadata?.resourceVersion;
  if (sentVersion && storedVersion && sentVersion !== storedVersion)
    return { kind: 'skip', reason: 'stale-update' };
  const annotations = req.object?.metadata?.annotations ?? {};
  if (annotations[DEV_ADDRESS_ANNOTATION] !== undefined)
    return { kind: 'skip', reason: 'development-gameserver' };
  const meta = req.object?.metadata ?? {};
  return {
    kind: 'transition',
    gameServer: {
      namespace: meta.namespace ?? req.namespace ?? '',
      name: meta.name ?? req.name ?? '',
      uid: meta.uid ?? req.oldObject?.metadata?.uid ?? '',
      stored: {
        uid: req.oldObject?.metadata?.uid,
        resourceVersion: req.oldObject?.metadata?.resourceVersion,
        state: from,
      },
    },
    from,
    to,
    annotationPatch: drainAnnotationPatch(req.object ?? {}),
  };
}

/**
 * Whether a review could have come from the API server, judged against the GameServer it stores: the
 * API server sends the stored object as oldObject, so the object must exist with the review's uid, at
 * the oldObject's resourceVersion and state. Anything else is a review the API server did not send —
 * or sent for an update that can no longer succeed as written (the stored object moved on: a
 * conditional update fails with a conflict, an unconditional one is admitted again with the new
 * oldObject). Either way nothing is patched for it. Returns why not, or true.
 */
export function checkStoredGameServer(stored: KubeLike | undefined, gs: GameServerRef): true | string {
  const expected = gs.stored;
  if (!expected) return true;
  const what = `GameServer ${gs.namespace}/${gs.name}`;
  if (!stored) return `${what} does not exist`;
  const storedUid = stored.metadata?.uid;
  if (storedUid !== gs.uid || (expected.uid !== undefined && expected.uid !== gs.uid))
    return `${what} has uid ${storedUid ?? 'none'}, the review says ${gs.uid}`;
  if (!expected.resourceVersion)
    return `the review's oldObject has no resourceVersion (the API server always sends one)`;
  const storedVersion = stored.metadata?.resourceVersion;
  if (storedVersion !== expected.resourceVersion)
    return `${what} is at resourceVersion ${storedVersion ?? 'none'}, the review's oldObject at ${expected.resourceVersion}`;
  const storedState = stateOf(stored);
  if (storedState !== expected.state)
    return `${what} is ${storedState ?? 'without a state'}, the review's oldObject ${expected.state ?? 'without a state'}`;
  return true;
}

/** Sets `gamelift.status/drain-toleration: "true"` on the GameServer, creating the annotations map if absent. */
export function drainAnnotationPatch(gameServer: KubeLike): JsonPatchOp[] {
  const annotations = gameServer.metadata?.annotations;
  if (annotations && annotations[DRAIN_TOLERATION_ANNOTATION] === 'true') return [];
  if (!annotations)
    return [{ op: 'add', path: '/metadata/annotations', value: { [DRAIN_TOLERATION_ANNOTATION]: 'true' } }];
  return [
    {
      op: 'add',
      path: `/metadata/annotations/${escapePointerSegment(DRAIN_TOLERATION_ANNOTATION)}`,
      value: 'true',
    },
  ];
}

// ---- the backing pod ----

/** The parts of a Pod the decision reads. */
export interface PodView {
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    deletionTimestamp?: string | Date | null;
    annotations?: Record<string, string> | null;
    ownerReferences?: {
      apiVersion?: string;
      kind?: string;
      name?: string;
      uid?: string;
      controller?: boolean;
    }[];
  };
  spec?: { nodeName?: string; tolerations?: Toleration[] | null };
}

/** Whether `pod` is the one Agones created for this GameServer (same namespace and name, controlled by its uid). */
export function podOwnedBy(pod: PodView, gs: GameServerRef): boolean {
  if (!gs.uid || pod.metadata.namespace !== gs.namespace || pod.metadata.name !== gs.name) return false;
  const controller = pod.metadata.ownerReferences?.find((r) => r.controller === true);
  return controller !== undefined && controller.uid === gs.uid && controller.kind === 'GameServer';
}

export type PodDecision =
  | {
      kind: 'patch-pod';
      patch: JsonPatchOp[];
      /** The patch adds the drain toleration (else the pod had it, and only the mark is added). */
      addsToleration: boolean;
      /** The patch marks the pod `karpenter.sh/do-not-disrupt: "true"`. */
      marks: boolean;
    }
  /** The pod tolerates the drain taint and, when asked for, carries Karpenter's mark: nothing to patch. */
  | { kind: 'already-tolerating' }
  | { kind: 'fence'; message: string }
  | { kind: 'not-owned'; message: string }
  | { kind: 'pod-missing'; message: string };

export interface PodDecisionOptions extends SessionPodProtection {
  fence: boolean;
}

/**
 * What to do with the backing pod, given the pod as just read (undefined: not found) and what of its
 * node says whether it takes sessions (undefined: nothing known, e.g. the node does not exist): see
 * nodeRefusesSessions.
 */
export function decidePod(
  gs: GameServerRef,
  pod: PodView | undefined,
  node: NodeSessionSignals | undefined,
  options: PodDecisionOptions,
): PodDecision {
  const who = `GameServer ${gs.namespace}/${gs.name}`;
  if (!pod) {
    return options.fence
      ? { kind: 'fence', message: `${who} has no pod: it is going away, allocate another game server` }
      : { kind: 'pod-missing', message: `${who} has no pod to add the drain toleration to` };
  }
  if (!podOwnedBy(pod, gs)) {
    return {
      kind: 'not-owned',
      message: `pod ${pod.metadata.namespace}/${pod.metadata.name} is not controlled by ${who} (uid ${gs.uid}): not touching it`,
    };
  }
  if (options.fence) {
    if (pod.metadata.deletionTimestamp) {
      return { kind: 'fence', message: `the pod of ${who} is terminating: allocate another game server` };
    }
    const refusal = node ? nodeRefusesSessions(node) : undefined;
    if (refusal !== undefined) {
      return {
        kind: 'fence',
        message: `the node ${pod.spec?.nodeName} of ${who} is ${refusal}: allocate another game server`,
      };
    }
  }
  const needs = sessionPodNeeds(pod, options);
  if (!needs.toleration && !needs.doNotDisrupt) return { kind: 'already-tolerating' };
  return {
    kind: 'patch-pod',
    patch: sessionPodPatch(pod, options),
    addsToleration: needs.toleration,
    marks: needs.doNotDisrupt,
  };
}
