// From a checked AdmissionReview to the AdmissionReview answer: classify (no I/O), and for a
// transition into a protected state make the pod tolerate the drain taint (and carry Karpenter's
// do-not-disrupt mark), then annotate the GameServer, fence, or apply the failure policy.
import type { Logger } from '../shared/logger.js';
import { classifyRequest, type GameServerRef, type ProtectedState, type SkipReason } from './decide.js';
import {
  EVENT_REASON_DO_NOT_DISRUPT_MARK_FAILED,
  EVENT_REASON_DRAIN_TOLERATION_FAILED,
  type EventRecorder,
} from './events.js';
import type { AdmissionOutcome, WebhookMetrics } from './metrics.js';
import type { PodTolerator } from './pod-toleration.js';
import type { AdmissionReview } from './review-schema.js';

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
  status?: { status: 'Failure'; code: number; reason: string; message: string };
}

export interface AdmissionPolicy {
  protectedStates: ReadonlySet<ProtectedState>;
  /** allow: answer allowed with a warning (and an Event); deny: refuse the update. */
  onPodPatchFailure: 'allow' | 'deny';
}

export interface AdmissionDeps {
  tolerator: PodTolerator;
  events: EventRecorder;
  metrics: WebhookMetrics;
  logger: Logger;
}

export interface AdmissionAnswer {
  response: AdmissionResponse;
  outcome: AdmissionOutcome;
  /** Why (a skip reason or the transition's result), for logs and the decisions counter. */
  reason: SkipReason | string;
  /** Time spent waiting on the Kubernetes API (0 for a skip). */
  apiMs: number;
}

/**
 * Denials answer 409 with reason Conflict. Agones' allocator treats a Conflict on its GameServer
 * update by NOT putting that GameServer back into its allocation cache, so its retry (5 tries, 10 ms
 * apart) moves on to another GameServer; any other error code puts it back and the retry may pick
 * the same, doomed GameServer again.
 */
export const DENY_CODE = 409;
export const DENY_REASON = 'Conflict';

function deny(uid: string, message: string): AdmissionResponse {
  return {
    uid,
    allowed: false,
    status: { status: 'Failure', code: DENY_CODE, reason: DENY_REASON, message },
  };
}

export async function answerReview(
  review: AdmissionReview,
  policy: AdmissionPolicy,
  deps: AdmissionDeps,
): Promise<AdmissionAnswer> {
  const request = review.request;
  const uid = request.uid;
  const classification = classifyRequest(request, { protectedStates: policy.protectedStates });
  if (classification.kind === 'skip') {
    return { response: { uid, allowed: true }, outcome: 'skipped', reason: classification.reason, apiMs: 0 };
  }

  const gs: GameServerRef = classification.gameServer;
  const who = {
    gameServer: `${gs.namespace}/${gs.name}`,
    from: classification.from,
    to: classification.to,
    uid,
  };
  const result = await deps.tolerator.ensure(gs);
  const apiMs = result.apiMs;
  switch (result.kind) {
    case 'tolerated':
    case 'already-tolerating': {
      const response: AdmissionResponse = { uid, allowed: true };
      if (classification.annotationPatch.length > 0) {
        response.patch = Buffer.from(JSON.stringify(classification.annotationPatch)).toString('base64');
        response.patchType = 'JSONPatch';
      }
      deps.logger.info(
        { ...who, result: result.kind, marked: result.marked },
        'game server pod tolerates the drain taint',
      );
      return {
        response,
        outcome: result.kind === 'tolerated' ? 'tolerated' : 'already_tolerating',
        reason: result.kind,
        apiMs,
      };
    }
    case 'not-stored':
      // Not the API server's review (or one for an update that cannot succeed as written): patch
      // nothing, and answer as for a non-transition — whoever sent it learns nothing more.
      deps.logger.warn(
        { ...who, why: result.message },
        'review does not match the stored GameServer: nothing patched',
      );
      return { response: { uid, allowed: true }, outcome: 'not_stored', reason: 'not-stored', apiMs };
    case 'fenced':
      deps.logger.info({ ...who, why: result.message }, 'fenced: refusing the allocation');
      return { response: deny(uid, result.message), outcome: 'fenced', reason: 'fenced', apiMs };
    case 'failed': {
      deps.metrics.podPatchErrors.inc({ reason: result.reason });
      // The pod may have lacked only Karpenter's mark: then the session is safe from the drain taint,
      // not from Karpenter, and the failure policy applies all the same (one pod update, one outcome).
      const message = result.podTolerates
        ? `could not mark the pod of GameServer ${gs.namespace}/${gs.name} karpenter.sh/do-not-disrupt: ${result.message}`
        : `could not make the pod of GameServer ${gs.namespace}/${gs.name} tolerate the FleetIQ drain taint: ${result.message}`;
      deps.events.warning(
        gs,
        result.podTolerates ? EVENT_REASON_DO_NOT_DISRUPT_MARK_FAILED : EVENT_REASON_DRAIN_TOLERATION_FAILED,
        message,
      );
      if (policy.onPodPatchFailure === 'deny') {
        deps.logger.warn(
          { ...who, why: result.reason, message: result.message },
          'pod update failed: denying',
        );
        return {
          response: deny(uid, message),
          outcome: 'failed_denied',
          reason: `failed-${result.reason}`,
          apiMs,
        };
      }
      deps.logger.warn(
        { ...who, why: result.reason, message: result.message },
        'pod update failed: allowing with a warning',
      );
      // The GameServer is annotated only when the pod does tolerate: otherwise the annotation would claim
      // a toleration the pod does not have.
      const response: AdmissionResponse = {
        uid,
        allowed: true,
        // Kept short: API servers truncate long warnings (kubectl prints them as they come).
        warnings: [
          result.podTolerates
            ? `pod of GameServer ${gs.namespace}/${gs.name} lacks karpenter.sh/do-not-disrupt (${result.reason}): Karpenter may disrupt its node`
            : `pod of GameServer ${gs.namespace}/${gs.name} lacks the drain toleration (${result.reason}): a drain may cut its session short`,
        ],
      };
      if (result.podTolerates && classification.annotationPatch.length > 0) {
        response.patch = Buffer.from(JSON.stringify(classification.annotationPatch)).toString('base64');
        response.patchType = 'JSONPatch';
      }
      return {
        response,
        outcome: 'failed_allowed',
        reason: `failed-${result.reason}`,
        apiMs,
      };
    }
  }
}
