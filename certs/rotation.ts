// When to issue, rotate and retire certificates: a small state machine over what the certificates
// say (validity, issuer, names) and what the cluster trusts (the published caBundle). Pure: no I/O,
// no crypto, time passed in. The I/O loop (ensure.ts) applies one step, re-reads and asks again.
//
// CA rollover, the part that must never break TLS between the API server and the webhook:
//   1. start-ca-rotation   a new ("next") CA is generated and added to the trust bundle; the serving
//                          certificate is still signed by the current ("signing") CA.
//   2. (publish)           the bundle {next, signing, previous...} is written to every webhook's caBundle.
//   3. record-publication  once every webhook trusts `next`, the time is recorded; promotion waits a
//                          propagation period so API servers' informers have the new caBundle.
//   4. promote-next-ca     `next` becomes the signing CA; the serving certificate is re-issued by it; the
//                          old signing CA becomes "previous" and stays trusted until `retireAfter`
//                          (a safety period covering replicas still serving a certificate it signed).
//   5. retire-previous-cas a previous CA leaves the bundle after `retireAfter` or its own expiry.

export interface CaState {
  fingerprint: string;
  notBefore: number;
  notAfter: number;
}

export interface SigningCaState extends CaState {
  /** The private key is present and belongs to the certificate. */
  usable: boolean;
}

export interface NextCaState extends CaState {
  /** When every webhook was first seen trusting this CA (undefined: not yet, or trust was lost since). */
  publishedAt?: number;
}

export interface PreviousCaState extends CaState {
  /** From this time on no serving certificate signed by this CA can still be in use. */
  retireAfter: number;
}

export interface ServingState {
  fingerprint: string;
  notBefore: number;
  notAfter: number;
  dnsNames: string[];
  /** Fingerprint of the CA (signing, next or previous) whose signature verifies, if any. */
  issuer?: string;
  keyMatches: boolean;
}

export interface RotationState {
  signing?: SigningCaState;
  next?: NextCaState;
  previous: PreviousCaState[];
  serving?: ServingState;
}

/**
 * What the cluster trusts: the fingerprints of CAs present in the caBundle of EVERY webhook of the
 * configuration, or 'no-webhook-configuration' when there is none to publish to (nobody can call
 * the webhook through a configuration that does not exist, so nothing needs to wait for one).
 */
export type Publication = ReadonlySet<string> | 'no-webhook-configuration';

export interface RotationPolicy {
  /** Re-issue the serving certificate when less than this fraction of its lifetime remains. */
  servingRenewBeforeFraction: number;
  /** Start a CA rollover when less than this fraction of the CA's lifetime remains. */
  caRenewBeforeFraction: number;
  /** How long API servers may take to see a new caBundle after it was written. */
  propagationMs: number;
  /** How long after a promotion certificates signed by the old CA may still be served (replica reloads). */
  retireAfterMs: number;
  /** The names the serving certificate must carry. */
  dnsNames: string[];
}

export type RotationStep =
  | { kind: 'bootstrap'; reason: string }
  | { kind: 'reissue-serving'; reason: string }
  | { kind: 'start-ca-rotation'; reason: string }
  | { kind: 'record-publication'; publishedAt: number | undefined; reason: string }
  | { kind: 'promote-next-ca'; retireAfter: number; reason: string }
  | { kind: 'discard-next-ca'; reason: string }
  | { kind: 'retire-previous-cas'; fingerprints: string[]; reason: string }
  | { kind: 'wait'; until?: number; reason: string }
  | { kind: 'none' };

/** Steps that change the stored certificates (everything but wait/none). */
export function changesState(step: RotationStep): boolean {
  return step.kind !== 'wait' && step.kind !== 'none';
}

/** The trust bundle to publish, newest first: next, signing, previous CAs. */
export function bundleFingerprints(state: RotationState): string[] {
  return [
    state.next?.fingerprint,
    state.signing?.fingerprint,
    ...state.previous.map((p) => p.fingerprint),
  ].filter((f): f is string => f !== undefined);
}

function trusted(publication: Publication, fingerprint: string): boolean {
  return publication === 'no-webhook-configuration' || publication.has(fingerprint);
}

function sameNames(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((n) => sa.has(n));
}

/** Why the serving certificate must be re-issued by the signing CA, or undefined if it is fine. */
function servingProblem(state: RotationState, now: number, policy: RotationPolicy): string | undefined {
  const s = state.serving;
  if (!s) return 'no serving certificate';
  if (!s.keyMatches) return 'the serving key does not match the serving certificate';
  if (s.issuer !== state.signing!.fingerprint)
    return 'the serving certificate is not signed by the signing CA';
  if (!sameNames(s.dnsNames, policy.dnsNames)) {
    return `the serving certificate names [${s.dnsNames.join(', ')}] differ from [${policy.dnsNames.join(', ')}]`;
  }
  if (now >= s.notAfter) return 'the serving certificate has expired';
  if (s.notAfter - now < policy.servingRenewBeforeFraction * (s.notAfter - s.notBefore)) {
    return `less than ${policy.servingRenewBeforeFraction} of the serving certificate's lifetime remains`;
  }
  return undefined;
}

export function planRotation(
  state: RotationState | undefined,
  publication: Publication,
  now: number,
  policy: RotationPolicy,
): RotationStep {
  const signing = state?.signing;
  if (!state || !signing) return { kind: 'bootstrap', reason: 'no CA yet' };
  if (!signing.usable)
    return { kind: 'bootstrap', reason: 'the signing CA key is missing or does not match' };

  const next = state.next;
  if (next && now >= next.notAfter)
    return { kind: 'discard-next-ca', reason: 'the next CA expired before promotion' };

  if (now >= signing.notAfter) {
    // Whatever it signed is already rejected by every client: nothing left to protect by waiting.
    if (next) return { kind: 'promote-next-ca', retireAfter: now, reason: 'the signing CA has expired' };
    return { kind: 'bootstrap', reason: 'the signing CA has expired' };
  }

  const nextPublished = next !== undefined && trusted(publication, next.fingerprint);
  if (
    next &&
    nextPublished &&
    next.publishedAt !== undefined &&
    now >= next.publishedAt + policy.propagationMs
  ) {
    return {
      kind: 'promote-next-ca',
      retireAfter: now + policy.retireAfterMs,
      reason: 'every webhook has trusted the next CA for the propagation period',
    };
  }

  const problem = servingProblem(state, now, policy);
  if (problem) return { kind: 'reissue-serving', reason: problem };

  const retiring = state.previous
    .filter((p) => now >= p.retireAfter || now >= p.notAfter)
    .map((p) => p.fingerprint);
  if (retiring.length > 0) {
    return {
      kind: 'retire-previous-cas',
      fingerprints: retiring,
      reason: 'no certificate in use is signed by them',
    };
  }

  if (next) {
    if (nextPublished && next.publishedAt === undefined) {
      return { kind: 'record-publication', publishedAt: now, reason: 'every webhook now trusts the next CA' };
    }
    if (!nextPublished && next.publishedAt !== undefined) {
      return {
        kind: 'record-publication',
        publishedAt: undefined,
        reason: 'a webhook no longer trusts the next CA',
      };
    }
    if (!nextPublished) return { kind: 'wait', reason: 'the bundle with the next CA is not yet published' };
    return {
      kind: 'wait',
      until: next.publishedAt! + policy.propagationMs,
      reason: 'waiting for API servers to see the published bundle',
    };
  }

  if (signing.notAfter - now < policy.caRenewBeforeFraction * (signing.notAfter - signing.notBefore)) {
    return {
      kind: 'start-ca-rotation',
      reason: `less than ${policy.caRenewBeforeFraction} of the CA's lifetime remains`,
    };
  }

  const nextRetire = Math.min(...state.previous.map((p) => Math.min(p.retireAfter, p.notAfter)));
  return Number.isFinite(nextRetire)
    ? { kind: 'wait', until: nextRetire, reason: 'a previous CA retires later' }
    : { kind: 'none' };
}
