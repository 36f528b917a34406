import { describe, expect, it } from '@jest/globals';
import { describeCertificate, isIssuedBy, serviceDnsNames, splitPemBundle } from '../../certs/issue.js';
import {
  applyRotationStep,
  decodeSecretData,
  encodeSecretData,
  SECRET_KEYS,
  toRotationState,
  trustBundlePem,
  type IssuancePolicy,
  type StoredCertificates,
} from '../../certs/material.js';
import { bundleFingerprints, changesState, planRotation, type RotationPolicy } from '../../certs/rotation.js';

const DAY = 86_400_000;
const MIN = 60_000;
const names = serviceDnsNames('hook', 'ns');
const issuance: IssuancePolicy = {
  caValidityMs: 30 * DAY,
  servingValidityMs: 7 * DAY,
  keySize: 2048,
  dnsNames: names,
  caCommonName: 'test-ca',
};
const rotation: RotationPolicy = {
  servingRenewBeforeFraction: 1 / 3,
  caRenewBeforeFraction: 1 / 3,
  propagationMs: 2 * MIN,
  retireAfterMs: 10 * MIN,
  dnsNames: names,
};

/** Round-trips through the Secret encoding, as every real pass does. */
const viaSecret = (stored: StoredCertificates) => decodeSecretData(encodeSecretData(stored));

function servingVerifiesAgainstBundle(stored: StoredCertificates): boolean {
  return splitPemBundle(trustBundlePem(stored)).some((ca) => isIssuedBy(stored.serving!.certPem, ca));
}

describe('stored certificates through a full CA rollover (real certificates)', () => {
  it('bootstraps, rolls the CA over with overlap, and retires the old one', async () => {
    const t0 = Date.UTC(2030, 0, 1);
    let stored = viaSecret(
      await applyRotationStep(undefined, { kind: 'bootstrap', reason: '' }, issuance, t0),
    );
    let state = toRotationState(stored)!;
    expect(state.signing?.usable).toBe(true);
    expect(state.serving?.issuer).toBe(state.signing?.fingerprint);
    expect(state.serving?.keyMatches).toBe(true);
    expect(planRotation(state, new Set([state.signing!.fingerprint]), t0, rotation)).toEqual({
      kind: 'none',
    });
    const caA = state.signing!.fingerprint;

    // 21 days in: the 30-day CA has less than a third left → rollover. The serving cert (7 days) was
    // re-issued along the way; do that first.
    const t1 = t0 + 21 * DAY;
    let step = planRotation(state, new Set([caA]), t1, rotation);
    expect(step.kind).toBe('reissue-serving');
    stored = viaSecret(await applyRotationStep(stored, step, issuance, t1));
    state = toRotationState(stored)!;
    step = planRotation(state, new Set([caA]), t1, rotation);
    expect(step.kind).toBe('start-ca-rotation');
    stored = viaSecret(await applyRotationStep(stored, step, issuance, t1));
    state = toRotationState(stored)!;
    const caB = state.next!.fingerprint;
    expect(caB).not.toBe(caA);
    // The bundle now carries both; the serving certificate is still A's.
    expect(bundleFingerprints(state)).toEqual([caB, caA]);
    expect(splitPemBundle(trustBundlePem(stored)).map((p) => describeCertificate(p).fingerprint)).toEqual([
      caB,
      caA,
    ]);
    expect(state.serving!.issuer).toBe(caA);
    expect(describeCertificate(stored.next!.certPem).subject).not.toBe(
      describeCertificate(stored.signing!.certPem).subject,
    );

    // Not published yet: wait. Published: record, wait out propagation, promote.
    expect(planRotation(state, new Set([caA]), t1, rotation).kind).toBe('wait');
    step = planRotation(state, new Set([caA, caB]), t1 + MIN, rotation);
    expect(step).toMatchObject({ kind: 'record-publication', publishedAt: t1 + MIN });
    stored = viaSecret(await applyRotationStep(stored, step, issuance, t1 + MIN));
    state = toRotationState(stored)!;
    expect(state.next!.publishedAt).toBe(t1 + MIN);
    expect(planRotation(state, new Set([caA, caB]), t1 + 2 * MIN, rotation).kind).toBe('wait');
    const t2 = t1 + 3 * MIN;
    step = planRotation(state, new Set([caA, caB]), t2, rotation);
    expect(step.kind).toBe('promote-next-ca');
    stored = viaSecret(await applyRotationStep(stored, step, issuance, t2));
    state = toRotationState(stored)!;
    expect(state.signing!.fingerprint).toBe(caB);
    expect(state.next).toBeUndefined();
    expect(state.serving!.issuer).toBe(caB);
    expect(state.previous).toEqual([
      expect.objectContaining({ fingerprint: caA, retireAfter: t2 + 10 * MIN }),
    ]);
    expect(bundleFingerprints(state)).toEqual([caB, caA]);
    expect(servingVerifiesAgainstBundle(stored)).toBe(true);

    // After the safety period the old CA leaves the bundle.
    expect(planRotation(state, new Set([caA, caB]), t2 + 9 * MIN, rotation).kind).toBe('wait');
    step = planRotation(state, new Set([caA, caB]), t2 + 10 * MIN, rotation);
    expect(step).toMatchObject({ kind: 'retire-previous-cas', fingerprints: [caA] });
    stored = viaSecret(await applyRotationStep(stored, step, issuance, t2 + 10 * MIN));
    state = toRotationState(stored)!;
    expect(bundleFingerprints(state)).toEqual([caB]);
    expect(servingVerifiesAgainstBundle(stored)).toBe(true);
    expect(planRotation(state, new Set([caB]), t2 + 10 * MIN, rotation)).toEqual({ kind: 'none' });
    expect(changesState({ kind: 'none' })).toBe(false);
  });

  it('keeps the data keys documented for a kubernetes.io/tls Secret', async () => {
    const stored = await applyRotationStep(
      undefined,
      { kind: 'bootstrap', reason: '' },
      issuance,
      Date.now(),
    );
    const data = encodeSecretData(stored);
    expect(Object.keys(data).sort()).toEqual(
      [
        SECRET_KEYS.servingCert,
        SECRET_KEYS.servingKey,
        SECRET_KEYS.trustBundle,
        SECRET_KEYS.signingCert,
        SECRET_KEYS.signingKey,
        SECRET_KEYS.rotation,
      ].sort(),
    );
    expect(Buffer.from(data['tls.crt']!, 'base64').toString()).toBe(stored.serving!.certPem);
    expect(Buffer.from(data['ca.crt']!, 'base64').toString()).toBe(trustBundlePem(stored));
  });

  it('treats damaged or foreign Secret data as absent, so the plan repairs it', async () => {
    expect(toRotationState(decodeSecretData(undefined))).toEqual({ previous: [] });
    expect(
      planRotation(
        toRotationState(decodeSecretData({ 'tls.crt': 'bm9wZQ==' })),
        'no-webhook-configuration',
        Date.now(),
        rotation,
      ).kind,
    ).toBe('bootstrap');
    const stored = await applyRotationStep(
      undefined,
      { kind: 'bootstrap', reason: '' },
      issuance,
      Date.now(),
    );
    const data = encodeSecretData(stored);
    // The serving key replaced by garbage: key mismatch → re-issue, CA kept.
    const damaged = decodeSecretData({
      ...data,
      'tls.key': Buffer.from('garbage').toString('base64'),
      'rotation.json': 'e30K!!',
    });
    const state = toRotationState(damaged)!;
    expect(state.signing?.usable).toBe(true);
    expect(state.serving?.keyMatches).toBe(false);
    expect(planRotation(state, 'no-webhook-configuration', Date.now(), rotation).kind).toBe(
      'reissue-serving',
    );
    // The signing key missing: nothing can be issued from that CA any more → bootstrap.
    const { [SECRET_KEYS.signingKey]: _k, ...withoutKey } = data;
    expect(toRotationState(decodeSecretData(withoutKey))!.signing?.usable).toBe(false);
  });

  it('keeps a previous CA without a recorded retirement time until it expires (the safe side)', async () => {
    const t = Date.UTC(2030, 0, 1);
    const a = await applyRotationStep(undefined, { kind: 'bootstrap', reason: '' }, issuance, t);
    const data = encodeSecretData({ ...a, previous: [{ certPem: a.signing!.certPem, retireAfter: t }] });
    const decoded = decodeSecretData({
      ...data,
      [SECRET_KEYS.rotation]: Buffer.from('{}').toString('base64'),
    });
    expect(decoded.previous[0]!.retireAfter).toBe(describeCertificate(a.signing!.certPem).notAfter);
  });
});
