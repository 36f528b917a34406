import { describe, expect, it, beforeAll } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import {
  BACKDATE_MS,
  createCertificateAuthority,
  describeCertificate,
  isIssuedBy,
  issueServingCertificate,
  keyMatchesCertificate,
  randomSerialHex,
  serviceDnsNames,
  splitPemBundle,
  type KeyPairPem,
} from '../../certs/issue.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';

const DAY = 86_400_000;
const NOW = new Date('2030-01-01T00:00:00Z');
const names = serviceDnsNames('hook', 'fleetiq');

describe('certificate generation', () => {
  let ca: KeyPairPem;
  let serving: KeyPairPem;
  let serving2: KeyPairPem;
  let otherCa: KeyPairPem;

  beforeAll(async () => {
    ca = await createCertificateAuthority({
      commonName: 'test-ca@1',
      validityMs: 3650 * DAY,
      keySize: 2048,
      now: NOW,
    });
    serving = await issueServingCertificate(ca, {
      dnsNames: names,
      validityMs: 365 * DAY,
      keySize: 2048,
      now: NOW,
    });
    serving2 = await issueServingCertificate(ca, {
      dnsNames: names,
      validityMs: 365 * DAY,
      keySize: 2048,
      now: NOW,
    });
    otherCa = await createCertificateAuthority({
      commonName: 'test-ca@2',
      validityMs: 3650 * DAY,
      keySize: 2048,
      now: NOW,
    });
  });

  it('writes names as UTF8String: Go clients such as the API server refuse an "@" in a PrintableString', () => {
    for (const pem of [ca.certPem, serving.certPem]) {
      const cert = forge.pki.certificateFromPem(pem);
      for (const name of [cert.subject, cert.issuer])
        for (const attr of name.attributes) expect(attr.valueTagClass).toBe(forge.asn1.Type.UTF8);
    }
    expect(forge.pki.certificateFromPem(ca.certPem).subject.getField('CN').value).toBe('test-ca@1');
  });

  it('names every DNS form of the Service', () => {
    expect(names).toEqual(['hook', 'hook.fleetiq', 'hook.fleetiq.svc', 'hook.fleetiq.svc.cluster.local']);
    expect(serviceDnsNames('a', 'b', 'corp.example')).toContain('a.b.svc.corp.example');
  });

  it('makes a CA that may only sign end-entity certificates', () => {
    const x = new X509Certificate(ca.certPem);
    expect(x.ca).toBe(true);
    const cert = forge.pki.certificateFromPem(ca.certPem);
    const bc = cert.getExtension('basicConstraints') as {
      cA: boolean;
      pathLenConstraint?: number;
      critical: boolean;
    };
    expect(bc).toMatchObject({ cA: true, pathLenConstraint: 0, critical: true });
    const ku = cert.getExtension('keyUsage') as Record<string, boolean>;
    expect(ku).toMatchObject({ keyCertSign: true, cRLSign: true, critical: true });
    expect(cert.getExtension('subjectKeyIdentifier')).toBeTruthy();
    expect(x.subject).toBe('CN=test-ca@1');
    expect(cert.publicKey && (cert.publicKey as forge.pki.rsa.PublicKey).n.bitLength()).toBe(2048);
  });

  it('issues a serving certificate with the Service names, server usage and key identifiers', () => {
    const x = new X509Certificate(serving.certPem);
    expect(x.ca).toBe(false);
    expect(x.subjectAltName).toBe(names.map((n) => `DNS:${n}`).join(', '));
    for (const n of names) expect(x.checkHost(n)).toBe(n);
    expect(x.checkHost('other.fleetiq.svc')).toBeUndefined();
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extKeyUsage serverAuth only
    const cert = forge.pki.certificateFromPem(serving.certPem);
    expect(cert.getExtension('keyUsage')).toMatchObject({
      digitalSignature: true,
      keyEncipherment: true,
      keyCertSign: false,
    });
    expect(cert.getExtension('basicConstraints')).toMatchObject({ cA: false, critical: true });
    // The leaf's authorityKeyIdentifier is the CA's subjectKeyIdentifier (chain building across rotations).
    const caSki = (
      forge.pki.certificateFromPem(ca.certPem).getExtension('subjectKeyIdentifier') as {
        subjectKeyIdentifier: string;
      }
    ).subjectKeyIdentifier;
    const aki = cert.getExtension('authorityKeyIdentifier') as { value: string };
    expect(forge.util.bytesToHex(aki.value)).toContain(caSki);
    expect(x.issuer).toBe('CN=test-ca@1');
  });

  it('chains to its CA and to no other', () => {
    expect(isIssuedBy(serving.certPem, ca.certPem)).toBe(true);
    expect(isIssuedBy(serving.certPem, otherCa.certPem)).toBe(false);
    const store = forge.pki.createCaStore([ca.certPem]);
    expect(
      forge.pki.verifyCertificateChain(store, [forge.pki.certificateFromPem(serving.certPem)], {
        validityCheckDate: NOW,
      }),
    ).toBe(true);
    const wrongStore = forge.pki.createCaStore([otherCa.certPem]);
    expect(() =>
      forge.pki.verifyCertificateChain(wrongStore, [forge.pki.certificateFromPem(serving.certPem)], {
        validityCheckDate: NOW,
      }),
    ).toThrow();
  });

  it('pairs keys with their certificates', () => {
    expect(keyMatchesCertificate(serving.certPem, serving.keyPem)).toBe(true);
    expect(keyMatchesCertificate(serving.certPem, serving2.keyPem)).toBe(false);
    expect(keyMatchesCertificate(serving.certPem, 'not a key')).toBe(false);
  });

  it('uses random, distinct, positive 128-bit serial numbers', () => {
    const certs = [ca, serving, serving2, otherCa];
    const serials = certs.map((k) => new X509Certificate(k.certPem).serialNumber);
    expect(new Set(serials).size).toBe(4);
    for (const k of certs) {
      // forge shows the DER INTEGER's bytes as encoded, sign byte included.
      const der = forge.pki.certificateFromPem(k.certPem).serialNumber;
      const hex = der.replace(/^00/, '');
      // 16 bytes of randomness; a leading 00 only when the top bit is set (DER-minimal and positive).
      expect(hex.length).toBe(32);
      if (der.length === 34) expect(parseInt(hex.slice(0, 2), 16)).toBeGreaterThanOrEqual(0x80);
      else expect(parseInt(hex.slice(0, 2), 16)).toBeLessThan(0x80);
      expect(parseInt(hex.slice(0, 2), 16)).toBeGreaterThan(0);
    }
  });

  it('encodes serials DER-minimally whatever the random bytes', () => {
    const fixed = (...first: number[]) => {
      let i = 0;
      return (n: number) => Buffer.alloc(n, 0x11).fill(first[i++] ?? 0x11, 0, 1);
    };
    expect(randomSerialHex(fixed(0x80))).toBe('00' + '80' + '11'.repeat(15));
    expect(randomSerialHex(fixed(0x7f))).toBe('7f' + '11'.repeat(15));
    // A zero first byte would need non-minimal encoding or lose a byte: drawn again.
    expect(randomSerialHex(fixed(0x00, 0x00, 0x42))).toBe('42' + '11'.repeat(15));
  });

  it('sets validity from now (backdated for clock skew) and never past the CA', async () => {
    const s = describeCertificate(serving.certPem);
    expect(s.notBefore).toBe(NOW.getTime() - BACKDATE_MS);
    expect(s.notAfter).toBe(NOW.getTime() + 365 * DAY);
    const c = describeCertificate(ca.certPem);
    expect(c.notAfter).toBe(NOW.getTime() + 3650 * DAY);
    const shortCa = await createCertificateAuthority({
      commonName: 'short',
      validityMs: 10 * DAY,
      keySize: 2048,
      now: NOW,
    });
    const capped = await issueServingCertificate(shortCa, {
      dnsNames: names,
      validityMs: 365 * DAY,
      keySize: 2048,
      now: NOW,
    });
    expect(describeCertificate(capped.certPem).notAfter).toBe(describeCertificate(shortCa.certPem).notAfter);
  });

  it('supports 3072-bit keys', async () => {
    const big = await createCertificateAuthority({
      commonName: 'big',
      validityMs: DAY,
      keySize: 3072,
      now: NOW,
    });
    const key = forge.pki.certificateFromPem(big.certPem).publicKey as forge.pki.rsa.PublicKey;
    expect(key.n.bitLength()).toBe(3072);
  });

  it('refuses a serving certificate without names', async () => {
    await expect(
      issueServingCertificate(ca, { dnsNames: [], validityMs: DAY, keySize: 2048, now: NOW }),
    ).rejects.toThrow(/DNS name/);
  });

  it('splits PEM bundles', () => {
    const bundle = `junk\n${ca.certPem}\n\n${otherCa.certPem}trailing`;
    const parts = splitPemBundle(bundle);
    expect(parts).toHaveLength(2);
    expect(describeCertificate(parts[1]!).fingerprint).toBe(describeCertificate(otherCa.certPem).fingerprint);
    expect(splitPemBundle('')).toEqual([]);
  });
});

describe('durations', () => {
  it('parses units and combinations', () => {
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('2s', 'x')).toBe(2000);
    expect(parseDuration('1h30m', 'x')).toBe(5_400_000);
    expect(parseDuration('365d', 'x')).toBe(365 * DAY);
    expect(parseDuration('10y', 'x')).toBe(3650 * DAY);
    expect(parseDuration('1.5s', 'x')).toBe(1500);
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });

  it('reads a bare number as seconds, and rejects malformed values, naming the setting', () => {
    expect(parseDuration('5', '--pod-patch-timeout')).toBe(5000);
    for (const bad of ['', 's', '5 s', '-1s', '5sec', '1h junk']) {
      expect(() => parseDuration(bad, '--pod-patch-timeout')).toThrow(/--pod-patch-timeout/);
    }
  });
});
