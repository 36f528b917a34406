import { describe, expect, it } from '@jest/globals';
import {
  bundleFingerprints,
  changesState,
  planRotation,
  type Publication,
  type RotationPolicy,
  type RotationState,
  type RotationStep,
} from '../../certs/rotation.js';

const MIN = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2030, 0, 1);
const NAMES = ['hook', 'hook.ns', 'hook.ns.svc', 'hook.ns.svc.cluster.local'];
const policy: RotationPolicy = {
  servingRenewBeforeFraction: 1 / 3,
  caRenewBeforeFraction: 1 / 3,
  propagationMs: 2 * MIN,
  retireAfterMs: 10 * MIN,
  dnsNames: NAMES,
};

function ca(fingerprint: string, notBefore = T0, lifetime = 3000 * DAY) {
  return { fingerprint, notBefore, notAfter: notBefore + lifetime };
}

/** A healthy state: CA "A" issued 1 day ago, serving cert fresh from it. */
function healthy(overrides: Partial<RotationState> = {}): RotationState {
  return {
    signing: { ...ca('A'), usable: true },
    previous: [],
    serving: {
      fingerprint: 'S1',
      notBefore: T0,
      notAfter: T0 + 300 * DAY,
      dnsNames: NAMES,
      issuer: 'A',
      keyMatches: true,
    },
    ...overrides,
  };
}

const everywhere: Publication = 'no-webhook-configuration';
const trusted = (...fps: string[]): Publication => new Set(fps);
const plan = (state: RotationState | undefined, now = T0 + DAY, publication: Publication = trusted('A')) =>
  planRotation(state, publication, now, policy);

describe('planRotation: bootstrap and recovery', () => {
  it('bootstraps when there is nothing', () => {
    expect(plan(undefined).kind).toBe('bootstrap');
    expect(plan({ previous: [] }).kind).toBe('bootstrap');
  });

  it('bootstraps when the signing CA key is unusable', () => {
    const s = healthy({ signing: { ...ca('A'), usable: false } });
    expect(plan(s)).toEqual({ kind: 'bootstrap', reason: expect.stringMatching(/key/) });
  });

  it('bootstraps when the signing CA expired and no next CA exists', () => {
    expect(plan(healthy(), T0 + 3000 * DAY)).toMatchObject({
      kind: 'bootstrap',
      reason: expect.stringMatching(/expired/),
    });
  });

  it('promotes the next CA at once when the signing CA expired (nothing left to protect)', () => {
    const s = healthy({ next: ca('B', T0 + 2500 * DAY) });
    const now = T0 + 3000 * DAY;
    expect(plan(s, now, trusted())).toEqual({
      kind: 'promote-next-ca',
      retireAfter: now,
      reason: expect.any(String),
    });
  });

  it('discards a next CA that expired before it was promoted', () => {
    const s = healthy({ next: ca('B', T0, 10 * DAY) });
    expect(plan(s, T0 + 10 * DAY).kind).toBe('discard-next-ca');
  });
});

describe('planRotation: the serving certificate', () => {
  it('does nothing for a healthy state', () => {
    expect(plan(healthy())).toEqual({ kind: 'none' });
  });

  it.each([
    ['missing', { serving: undefined }, /no serving/],
    ['key mismatch', { serving: { ...healthy().serving!, keyMatches: false } }, /key/],
    [
      'issued by no known CA',
      { serving: { ...healthy().serving!, issuer: undefined } },
      /not signed by the signing CA/,
    ],
    [
      'issued by another CA',
      { serving: { ...healthy().serving!, issuer: 'OLD' } },
      /not signed by the signing CA/,
    ],
    ['names changed', { serving: { ...healthy().serving!, dnsNames: ['other'] } }, /names/],
    ['a name missing', { serving: { ...healthy().serving!, dnsNames: NAMES.slice(1) } }, /names/],
  ])('re-issues when %s', (_what, override, reason) => {
    expect(plan(healthy(override as Partial<RotationState>))).toEqual({
      kind: 'reissue-serving',
      reason: expect.stringMatching(reason),
    });
  });

  it('accepts the same names in another order', () => {
    expect(plan(healthy({ serving: { ...healthy().serving!, dnsNames: [...NAMES].reverse() } })).kind).toBe(
      'none',
    );
  });

  it('re-issues when less than a third of its lifetime remains, not before', () => {
    const s = healthy(); // lifetime 300 days: threshold at 200 days in
    expect(plan(s, T0 + 200 * DAY - 1).kind).toBe('none');
    expect(plan(s, T0 + 200 * DAY + 1)).toMatchObject({
      kind: 'reissue-serving',
      reason: expect.stringMatching(/lifetime/),
    });
    expect(plan(s, T0 + 300 * DAY)).toMatchObject({
      kind: 'reissue-serving',
      reason: expect.stringMatching(/expired/),
    });
  });

  it('uses the configured fraction', () => {
    const s = healthy();
    expect(
      planRotation(s, trusted('A'), T0 + 250 * DAY, { ...policy, servingRenewBeforeFraction: 0.1 }).kind,
    ).toBe('none');
    expect(
      planRotation(s, trusted('A'), T0 + 280 * DAY, { ...policy, servingRenewBeforeFraction: 0.1 }).kind,
    ).toBe('reissue-serving');
  });
});

describe('planRotation: CA rollover', () => {
  const lifetime = 3000 * DAY;
  const due = T0 + 2000 * DAY + 1; // less than a third of the CA's lifetime left
  /** A serving certificate from A, issued a day before `due`. */
  const freshServing = {
    fingerprint: 'S9',
    notBefore: due - DAY,
    notAfter: due + 300 * DAY,
    dnsNames: NAMES,
    issuer: 'A',
    keyMatches: true,
  };
  const rolling = (overrides: Partial<RotationState>) => healthy({ serving: freshServing, ...overrides });

  it('starts a rollover when less than a third of the CA lifetime remains', () => {
    const s = healthy({
      serving: { ...healthy().serving!, notBefore: due - DAY, notAfter: due + 300 * DAY },
    });
    expect(plan(s, T0 + 2000 * DAY - 1).kind).toBe('none');
    expect(plan(s, due)).toMatchObject({ kind: 'start-ca-rotation' });
  });

  it('waits for the bundle with the next CA to be published', () => {
    const s = rolling({ next: ca('B', due) });
    expect(plan(s, due + MIN, trusted('A'))).toMatchObject({
      kind: 'wait',
      reason: expect.stringMatching(/not yet published/),
    });
  });

  it('requires EVERY webhook to trust the next CA (the publication is the intersection)', () => {
    // The caller passes the CAs trusted by all webhooks; one webhook lagging means B is absent.
    const s = rolling({ next: ca('B', due) });
    expect(plan(s, due + MIN, trusted('A')).kind).toBe('wait');
    expect(plan(s, due + MIN, trusted('A', 'B'))).toMatchObject({
      kind: 'record-publication',
      publishedAt: due + MIN,
    });
  });

  it('records when the next CA was first seen published, and forgets it if trust is lost', () => {
    const s = rolling({ next: { ...ca('B', due), publishedAt: due + MIN } });
    expect(plan(s, due + 2 * MIN, trusted('A'))).toEqual({
      kind: 'record-publication',
      publishedAt: undefined,
      reason: expect.any(String),
    });
  });

  it('waits out the propagation period before promoting', () => {
    const s = rolling({ next: { ...ca('B', due), publishedAt: due } });
    expect(plan(s, due + 2 * MIN - 1, trusted('A', 'B'))).toEqual({
      kind: 'wait',
      until: due + 2 * MIN,
      reason: expect.any(String),
    });
    expect(plan(s, due + 2 * MIN, trusted('A', 'B'))).toEqual({
      kind: 'promote-next-ca',
      retireAfter: due + 2 * MIN + 10 * MIN,
      reason: expect.any(String),
    });
  });

  it('treats a missing webhook configuration as published', () => {
    const s = rolling({ next: ca('B', due) });
    expect(plan(s, due, everywhere)).toMatchObject({ kind: 'record-publication', publishedAt: due });
  });

  it('promotes before re-issuing the serving certificate (promotion re-issues it anyway)', () => {
    const s = healthy({
      next: { ...ca('B', due), publishedAt: due },
      serving: { ...healthy().serving!, keyMatches: false },
    });
    expect(plan(s, due + 3 * MIN, trusted('A', 'B')).kind).toBe('promote-next-ca');
    expect(plan(s, due + 3 * MIN, trusted('A')).kind).toBe('reissue-serving');
  });

  it('keeps the serving certificate fresh from the current CA while the rollover waits', () => {
    const s = healthy({ next: ca('B', due), serving: { ...healthy().serving!, issuer: 'B' } });
    expect(plan(s, due, trusted('A')).kind).toBe('reissue-serving');
  });

  it('retires a previous CA only after its safety period or its expiry', () => {
    const afterPromotion = healthy({
      signing: { ...ca('B', due), usable: true },
      previous: [{ ...ca('A', T0, lifetime), retireAfter: due + 12 * MIN }],
      serving: {
        fingerprint: 'S2',
        notBefore: due,
        notAfter: due + 300 * DAY,
        dnsNames: NAMES,
        issuer: 'B',
        keyMatches: true,
      },
    });
    expect(plan(afterPromotion, due + 12 * MIN - 1, trusted('A', 'B'))).toEqual({
      kind: 'wait',
      until: due + 12 * MIN,
      reason: expect.any(String),
    });
    expect(plan(afterPromotion, due + 12 * MIN, trusted('A', 'B'))).toEqual({
      kind: 'retire-previous-cas',
      fingerprints: ['A'],
      reason: expect.any(String),
    });
    const expired = healthy({
      ...afterPromotion,
      previous: [{ ...ca('A', T0, 5 * DAY), retireAfter: due + 12 * MIN }],
    });
    expect(plan(expired, due + MIN, trusted('A', 'B'))).toMatchObject({
      kind: 'retire-previous-cas',
      fingerprints: ['A'],
    });
  });

  it('never retires the CA of the serving certificate in use: re-issues first', () => {
    const s = healthy({
      signing: { ...ca('B', due), usable: true },
      previous: [{ ...ca('A'), retireAfter: due }],
      serving: { ...healthy().serving!, issuer: 'A' },
    });
    expect(plan(s, due + DAY, trusted('A', 'B')).kind).toBe('reissue-serving');
  });

  it('orders the bundle newest first', () => {
    const s = healthy({
      next: ca('C'),
      previous: [{ ...ca('A'), retireAfter: 0 }],
      signing: { ...ca('B'), usable: true },
    });
    expect(bundleFingerprints(s)).toEqual(['C', 'B', 'A']);
  });

  it('says which steps change the Secret', () => {
    const kinds: RotationStep[] = [
      { kind: 'bootstrap', reason: '' },
      { kind: 'wait', reason: '' },
      { kind: 'none' },
      { kind: 'record-publication', publishedAt: 1, reason: '' },
    ];
    expect(kinds.map(changesState)).toEqual([true, false, false, true]);
  });
});

/**
 * A model of the whole system over simulated months: a Secret, a MutatingWebhookConfiguration, API
 * servers that see caBundle changes after a lag, and replicas that reload the serving certificate at
 * their own check ticks. The plan is applied exactly as ensure.ts applies it. Invariant at every
 * minute: every replica serves a valid certificate signed by a CA the API servers trust.
 */
describe('planRotation over time (model of ensure.ts, replicas and API servers)', () => {
  interface Cert {
    fingerprint: string;
    notBefore: number;
    notAfter: number;
    issuer?: string;
  }

  function simulate(options: {
    caLifetime: number;
    servingLifetime: number;
    days: number;
    apiLagMs: number;
    replicas: number;
  }) {
    const p: RotationPolicy = { ...policy };
    const certs = new Map<string, Cert>();
    let serial = 0;
    const newCert = (now: number, lifetime: number, issuer?: string): Cert => {
      const issuerCert = issuer ? certs.get(issuer)! : undefined;
      const c: Cert = {
        fingerprint: `c${++serial}`,
        notBefore: now - 60 * MIN,
        notAfter: Math.min(now + lifetime, issuerCert?.notAfter ?? Infinity),
        ...(issuer ? { issuer } : {}),
      };
      certs.set(c.fingerprint, c);
      return c;
    };
    let secret: RotationState | undefined;
    let published: string[] = [];
    const publishedHistory: { at: number; bundle: string[] }[] = [{ at: 0, bundle: [] }];
    const servedBy: (Cert | undefined)[] = Array.from({ length: options.replicas }, () => undefined);
    const stepsSeen = new Map<string, number>();
    let maxBundle = 0;

    const serving = (c: Cert) => ({
      fingerprint: c.fingerprint,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      dnsNames: NAMES,
      issuer: c.issuer!,
      keyMatches: true,
    });
    const caState = (c: Cert) => ({
      fingerprint: c.fingerprint,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
    });

    const apply = (step: RotationStep, now: number) => {
      const s = secret ?? { previous: [] };
      switch (step.kind) {
        case 'bootstrap': {
          const a = newCert(now, options.caLifetime);
          secret = {
            signing: { ...caState(a), usable: true },
            previous: [],
            serving: serving(newCert(now, options.servingLifetime, a.fingerprint)),
          };
          return;
        }
        case 'reissue-serving':
          secret = { ...s, serving: serving(newCert(now, options.servingLifetime, s.signing!.fingerprint)) };
          return;
        case 'start-ca-rotation':
          secret = { ...s, next: caState(newCert(now, options.caLifetime)) };
          return;
        case 'record-publication': {
          const { publishedAt: _x, ...next } = s.next!;
          secret = {
            ...s,
            next: step.publishedAt === undefined ? next : { ...next, publishedAt: step.publishedAt },
          };
          return;
        }
        case 'promote-next-ca': {
          const { next, ...rest } = s;
          secret = {
            ...rest,
            signing: {
              fingerprint: next!.fingerprint,
              notBefore: next!.notBefore,
              notAfter: next!.notAfter,
              usable: true,
            },
            previous: [
              { ...caState(certs.get(s.signing!.fingerprint)!), retireAfter: step.retireAfter },
              ...s.previous,
            ],
            serving: serving(newCert(now, options.servingLifetime, next!.fingerprint)),
          };
          return;
        }
        case 'discard-next-ca': {
          const { next: _n, ...rest } = s;
          secret = rest;
          return;
        }
        case 'retire-previous-cas':
          secret = { ...s, previous: s.previous.filter((x) => !step.fingerprints.includes(x.fingerprint)) };
          return;
      }
    };

    /** One ensureCertificates call, as ensure.ts loops. */
    const ensure = (now: number) => {
      for (let pass = 0; pass < 12; pass++) {
        const step = planRotation(secret, new Set(published), now, p);
        stepsSeen.set(step.kind, (stepsSeen.get(step.kind) ?? 0) + 1);
        if (changesState(step)) {
          apply(step, now);
          continue;
        }
        const wanted = bundleFingerprints(secret!);
        if (wanted.join() !== published.join()) {
          published = wanted;
          publishedHistory.push({ at: now, bundle: wanted });
          maxBundle = Math.max(maxBundle, wanted.length);
          continue;
        }
        return;
      }
      throw new Error('ensure did not converge');
    };

    /** What API servers trust at `now`: the bundle published at least apiLag ago. */
    const apiTrusts = (now: number) => {
      let b: string[] = [];
      for (const h of publishedHistory) if (h.at + options.apiLagMs <= now) b = h.bundle;
      return b;
    };

    const checkInterval = MIN; // --cert-check-interval
    const start = T0;
    for (let now = start; now <= start + options.days * DAY; now += MIN) {
      for (let r = 0; r < options.replicas; r++) {
        // Replicas tick at their own offsets; each runs ensure and then serves what the Secret holds.
        if (now === start || (now - start) % (checkInterval * (r + 1)) === 0) {
          ensure(now);
          servedBy[r] = certs.get(secret!.serving!.fingerprint);
        }
      }
      if (now - start < 10 * MIN) continue; // the first caBundle needs to propagate once
      const trust = apiTrusts(now);
      for (const c of servedBy) {
        if (!c) continue;
        if (now >= c.notAfter) throw new Error(`served an expired certificate at day ${(now - start) / DAY}`);
        if (!trust.includes(c.issuer!)) {
          throw new Error(
            `at day ${((now - start) / DAY).toFixed(3)} a replica served ${c.fingerprint} signed by ${c.issuer}, API servers trust [${trust}]`,
          );
        }
      }
    }
    return { stepsSeen, maxBundle, cas: [...certs.values()].filter((c) => !c.issuer).length };
  }

  it('rolls the CA over repeatedly without a single untrusted or expired certificate', () => {
    const result = simulate({
      caLifetime: 30 * DAY,
      servingLifetime: 7 * DAY,
      days: 100,
      apiLagMs: 60_000,
      replicas: 3,
    });
    // 100 days with 30-day CAs renewed at 2/3 of their life: several rollovers, each fully completed.
    expect(result.cas).toBeGreaterThanOrEqual(4);
    for (const kind of [
      'bootstrap',
      'reissue-serving',
      'start-ca-rotation',
      'record-publication',
      'promote-next-ca',
      'retire-previous-cas',
    ]) {
      expect(result.stepsSeen.get(kind) ?? 0).toBeGreaterThan(0);
    }
    expect(result.stepsSeen.get('bootstrap')).toBe(1);
    expect(result.maxBundle).toBeLessThanOrEqual(2);
  });

  it('is wrong without the propagation wait (the model detects a broken rollover)', () => {
    // API servers lagging longer than the propagation period: a promotion breaks trust. This proves the
    // simulation's invariant has teeth; production keeps propagation well above the informer lag.
    expect(() =>
      simulate({ caLifetime: 30 * DAY, servingLifetime: 7 * DAY, days: 40, apiLagMs: 3 * MIN, replicas: 1 }),
    ).toThrow(/API servers trust/);
  });
});
