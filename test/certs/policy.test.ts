// Certificate policies that cannot work are refused at start, naming the setting: in particular a
// renew-before fraction under which a freshly issued certificate (backdated for clock skew) is already
// due, which would re-issue a certificate, or start a CA rollover, on every pass.
import { describe, expect, it } from '@jest/globals';
import { certificateSettingsFromOptions, validateCertificatePolicy } from '../../certs/config.js';
import { DEFAULT_CERTIFICATE_POLICY } from '../../certs/ensure.js';
import { BACKDATE_MS } from '../../certs/issue.js';
import { planRotation } from '../../certs/rotation.js';

const HOUR = 3_600_000;
const base = { namespace: 'ns', secretName: 's', serviceName: 'svc' };

describe('certificate policy validation', () => {
  it('accepts the defaults and short lifetimes with a fraction a fresh certificate is not yet due at', () => {
    expect(() => validateCertificatePolicy(DEFAULT_CERTIFICATE_POLICY)).not.toThrow();
    const s = certificateSettingsFromOptions({
      ...base,
      servingValidity: '1h',
      renewBefore: '0.49',
      caValidity: '2h',
    });
    expect(s.policy.servingValidityMs).toBe(HOUR);
  });

  it('refuses a serving renew-before fraction at which a new certificate is already due', () => {
    // 1 h valid, issued 1 h backdated: a 2 h span with 1 h left, which is half of it.
    expect(() =>
      certificateSettingsFromOptions({
        ...base,
        servingValidity: '1h',
        renewBefore: '0.5',
        caValidity: '2h',
      }),
    ).toThrow(/--renew-before \(CERT_RENEW_BEFORE\).*below 0\.5\b/);
    // The pure plan agrees: a certificate just issued under that policy is due at once.
    const now = Date.parse('2030-01-01T00:00:00Z');
    const fp = (x: string) => x.repeat(64);
    const step = planRotation(
      {
        signing: {
          fingerprint: fp('a'),
          notBefore: now - BACKDATE_MS,
          notAfter: now + 2 * HOUR,
          usable: true,
        },
        previous: [],
        serving: {
          fingerprint: fp('b'),
          notBefore: now - BACKDATE_MS,
          notAfter: now + HOUR,
          dnsNames: ['svc'],
          issuer: fp('a'),
          keyMatches: true,
        },
      },
      'no-webhook-configuration',
      now,
      {
        servingRenewBeforeFraction: 0.51,
        caRenewBeforeFraction: 0.1,
        propagationMs: 0,
        retireAfterMs: 0,
        dnsNames: ['svc'],
      },
    );
    expect(step.kind).toBe('reissue-serving');
  });

  it('refuses a CA renew-before fraction at which a new CA is already due for rollover', () => {
    expect(() =>
      certificateSettingsFromOptions({
        ...base,
        caValidity: '2h',
        servingValidity: '1h',
        caRenewBefore: '0.7',
      }),
    ).toThrow(/--ca-renew-before \(CERT_CA_RENEW_BEFORE\).*below 0\.666666\b/);
    // A ten-year CA: any fraction below 1 - 1h/(10y + 1h) is fine, one above is not.
    expect(() => certificateSettingsFromOptions({ ...base, caRenewBefore: '0.99998' })).not.toThrow();
    expect(() => certificateSettingsFromOptions({ ...base, caRenewBefore: '0.99999' })).toThrow(
      /--ca-renew-before/,
    );
  });
});
