// The certificates as stored in the webhook's Secret, how they map to the rotation state machine, and
// how a rotation step changes them (the only place that generates keys).
//
// Secret data keys (type kubernetes.io/tls):
//   tls.crt, tls.key      the serving certificate and its key (what the webhook serves)
//   ca.crt                the trust bundle to publish as caBundle: next CA (if any), signing CA, previous CAs
//   signing-ca.crt/.key   the CA that signs serving certificates
//   next-ca.crt/.key      a new CA during a rollover, trusted but not yet signing
//   previous-ca.crt       old CAs still trusted until no certificate they signed can be in use
//   rotation.json         {"nextPublishedAt": ISO time | null, "previous": [{"fingerprint", "retireAfter": ISO time}]}
import {
  createCertificateAuthority,
  describeCertificate,
  isIssuedBy,
  issueServingCertificate,
  keyMatchesCertificate,
  splitPemBundle,
  type KeyPairPem,
  type RsaKeySize,
} from './issue.js';
import type { RotationState, RotationStep } from './rotation.js';

export interface StoredCertificates {
  signing?: { certPem: string; keyPem?: string };
  next?: KeyPairPem & { publishedAt?: number };
  previous: { certPem: string; retireAfter: number }[];
  serving?: KeyPairPem;
}

export interface IssuancePolicy {
  caValidityMs: number;
  servingValidityMs: number;
  keySize: RsaKeySize;
  dnsNames: string[];
  /** Prefix of the CA common name; the creation time is appended so every CA has its own subject. */
  caCommonName: string;
}

export const SECRET_KEYS = {
  servingCert: 'tls.crt',
  servingKey: 'tls.key',
  trustBundle: 'ca.crt',
  signingCert: 'signing-ca.crt',
  signingKey: 'signing-ca.key',
  nextCert: 'next-ca.crt',
  nextKey: 'next-ca.key',
  previousCerts: 'previous-ca.crt',
  rotation: 'rotation.json',
} as const;

function safeDescribe(pem: string | undefined) {
  if (!pem) return undefined;
  try {
    return describeCertificate(pem);
  } catch {
    return undefined;
  }
}

/** The state machine's view of the stored certificates; unreadable parts count as absent. */
export function toRotationState(stored: StoredCertificates | undefined): RotationState | undefined {
  if (!stored) return undefined;
  const signingInfo = safeDescribe(stored.signing?.certPem);
  const nextInfo = safeDescribe(stored.next?.certPem);
  const state: RotationState = { previous: [] };
  if (signingInfo && stored.signing) {
    state.signing = {
      fingerprint: signingInfo.fingerprint,
      notBefore: signingInfo.notBefore,
      notAfter: signingInfo.notAfter,
      usable:
        signingInfo.isCa &&
        !!stored.signing.keyPem &&
        keyMatchesCertificate(stored.signing.certPem, stored.signing.keyPem),
    };
  }
  if (
    nextInfo &&
    stored.next &&
    nextInfo.isCa &&
    keyMatchesCertificate(stored.next.certPem, stored.next.keyPem)
  ) {
    state.next = {
      fingerprint: nextInfo.fingerprint,
      notBefore: nextInfo.notBefore,
      notAfter: nextInfo.notAfter,
      ...(stored.next.publishedAt !== undefined ? { publishedAt: stored.next.publishedAt } : {}),
    };
  }
  for (const p of stored.previous) {
    const info = safeDescribe(p.certPem);
    if (info)
      state.previous.push({
        fingerprint: info.fingerprint,
        notBefore: info.notBefore,
        notAfter: info.notAfter,
        retireAfter: p.retireAfter,
      });
  }
  const servingInfo = safeDescribe(stored.serving?.certPem);
  if (servingInfo && stored.serving) {
    const issuers = [stored.signing?.certPem, stored.next?.certPem, ...stored.previous.map((p) => p.certPem)];
    const issuerPem = issuers.find((pem) => pem && isIssuedBy(stored.serving!.certPem, pem));
    state.serving = {
      fingerprint: servingInfo.fingerprint,
      notBefore: servingInfo.notBefore,
      notAfter: servingInfo.notAfter,
      dnsNames: servingInfo.dnsNames,
      keyMatches: keyMatchesCertificate(stored.serving.certPem, stored.serving.keyPem),
      ...(issuerPem ? { issuer: describeCertificate(issuerPem).fingerprint } : {}),
    };
  }
  return state;
}

/** The PEM trust bundle to publish: next, signing, previous CAs (as bundleFingerprints orders them). */
export function trustBundlePem(stored: StoredCertificates): string {
  return [stored.next?.certPem, stored.signing?.certPem, ...stored.previous.map((p) => p.certPem)]
    .filter((p): p is string => !!p)
    .map((p) => p.trim() + '\n')
    .join('');
}

async function newCa(policy: IssuancePolicy, now: number): Promise<KeyPairPem> {
  return createCertificateAuthority({
    commonName: `${policy.caCommonName}@${Math.floor(now / 1000)}`,
    validityMs: policy.caValidityMs,
    keySize: policy.keySize,
    now: new Date(now),
  });
}

function newServing(ca: KeyPairPem, policy: IssuancePolicy, now: number): Promise<KeyPairPem> {
  return issueServingCertificate(ca, {
    dnsNames: policy.dnsNames,
    validityMs: policy.servingValidityMs,
    keySize: policy.keySize,
    now: new Date(now),
  });
}

/** The stored certificates after one rotation step (wait/none return them unchanged). */
export async function applyRotationStep(
  stored: StoredCertificates | undefined,
  step: RotationStep,
  policy: IssuancePolicy,
  now: number,
): Promise<StoredCertificates> {
  const current: StoredCertificates = stored ?? { previous: [] };
  switch (step.kind) {
    case 'bootstrap': {
      const ca = await newCa(policy, now);
      return { signing: ca, previous: [], serving: await newServing(ca, policy, now) };
    }
    case 'reissue-serving':
      return { ...current, serving: await newServing(current.signing as KeyPairPem, policy, now) };
    case 'start-ca-rotation':
      return { ...current, next: await newCa(policy, now) };
    case 'record-publication': {
      const { publishedAt: _drop, ...next } = current.next!;
      return {
        ...current,
        next: step.publishedAt === undefined ? next : { ...next, publishedAt: step.publishedAt },
      };
    }
    case 'promote-next-ca': {
      const next = { certPem: current.next!.certPem, keyPem: current.next!.keyPem };
      const previous = [...current.previous];
      if (current.signing)
        previous.unshift({ certPem: current.signing.certPem, retireAfter: step.retireAfter });
      const { next: _promoted, ...rest } = current;
      return { ...rest, signing: next, previous, serving: await newServing(next, policy, now) };
    }
    case 'discard-next-ca': {
      const { next: _discarded, ...rest } = current;
      return rest;
    }
    case 'retire-previous-cas': {
      const drop = new Set(step.fingerprints);
      return {
        ...current,
        previous: current.previous.filter((p) => !drop.has(safeDescribe(p.certPem)?.fingerprint ?? '')),
      };
    }
    case 'wait':
    case 'none':
      return current;
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) =>
  s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');

/** Secret `data` (base64 values) for the stored certificates. */
export function encodeSecretData(stored: StoredCertificates): Record<string, string> {
  const data: Record<string, string> = {
    [SECRET_KEYS.servingCert]: b64(stored.serving?.certPem ?? ''),
    [SECRET_KEYS.servingKey]: b64(stored.serving?.keyPem ?? ''),
    [SECRET_KEYS.trustBundle]: b64(trustBundlePem(stored)),
  };
  if (stored.signing) {
    data[SECRET_KEYS.signingCert] = b64(stored.signing.certPem);
    if (stored.signing.keyPem) data[SECRET_KEYS.signingKey] = b64(stored.signing.keyPem);
  }
  if (stored.next) {
    data[SECRET_KEYS.nextCert] = b64(stored.next.certPem);
    data[SECRET_KEYS.nextKey] = b64(stored.next.keyPem);
  }
  if (stored.previous.length > 0) {
    data[SECRET_KEYS.previousCerts] = b64(stored.previous.map((p) => p.certPem.trim() + '\n').join(''));
  }
  const rotation = {
    nextPublishedAt:
      stored.next?.publishedAt !== undefined ? new Date(stored.next.publishedAt).toISOString() : null,
    previous: stored.previous.map((p) => ({
      fingerprint: safeDescribe(p.certPem)?.fingerprint ?? '',
      retireAfter: new Date(p.retireAfter).toISOString(),
    })),
  };
  data[SECRET_KEYS.rotation] = b64(JSON.stringify(rotation));
  return data;
}

/** Reads Secret `data`; anything missing or malformed becomes absent (the plan then repairs it). */
export function decodeSecretData(data: Record<string, string> | undefined): StoredCertificates {
  const get = (key: string) => {
    const v = unb64(data?.[key]);
    return v && v.trim() !== '' ? v : undefined;
  };
  let rotation: {
    nextPublishedAt?: string | null;
    previous?: { fingerprint?: string; retireAfter?: string }[];
  } = {};
  try {
    rotation = JSON.parse(get(SECRET_KEYS.rotation) ?? '{}');
  } catch {
    rotation = {};
  }
  const stored: StoredCertificates = { previous: [] };
  const signingCert = get(SECRET_KEYS.signingCert);
  if (signingCert) {
    const signingKey = get(SECRET_KEYS.signingKey);
    stored.signing = signingKey ? { certPem: signingCert, keyPem: signingKey } : { certPem: signingCert };
  }
  const nextCert = get(SECRET_KEYS.nextCert);
  const nextKey = get(SECRET_KEYS.nextKey);
  if (nextCert && nextKey) {
    const publishedAt = rotation.nextPublishedAt ? Date.parse(rotation.nextPublishedAt) : NaN;
    stored.next = Number.isFinite(publishedAt)
      ? { certPem: nextCert, keyPem: nextKey, publishedAt }
      : { certPem: nextCert, keyPem: nextKey };
  }
  for (const certPem of splitPemBundle(get(SECRET_KEYS.previousCerts) ?? '')) {
    const info = safeDescribe(certPem);
    if (!info) continue;
    const meta = rotation.previous?.find((p) => p.fingerprint === info.fingerprint);
    const retireAfter = meta?.retireAfter ? Date.parse(meta.retireAfter) : NaN;
    // Without a recorded retirement time, keep trusting it until it expires: the safe side.
    stored.previous.push({
      certPem,
      retireAfter: Number.isFinite(retireAfter) ? retireAfter : info.notAfter,
    });
  }
  const servingCert = get(SECRET_KEYS.servingCert);
  const servingKey = get(SECRET_KEYS.servingKey);
  if (servingCert && servingKey) stored.serving = { certPem: servingCert, keyPem: servingKey };
  return stored;
}
