// Certificate generation with node-forge: the webhook's own CA and its serving certificate.
// Pure apart from randomness (key pairs, serial numbers) and the `now` it is given.
import {
  createPrivateKey,
  generateKeyPair as generateKeyPairCallback,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const { pki } = forge;
const UTF8 = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;

/** A certificate and its private key, both PEM. */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export type RsaKeySize = 2048 | 3072 | 4096;

export interface CaOptions {
  /** Distinct per CA, so old and new CAs never share a subject during a rotation. */
  commonName: string;
  validityMs: number;
  keySize: RsaKeySize;
  now: Date;
}

export interface ServingOptions {
  dnsNames: string[];
  validityMs: number;
  keySize: RsaKeySize;
  now: Date;
}

/**
 * Certificates start a little in the past: a node whose clock runs behind ours would otherwise
 * reject a certificate issued "in the future" right after a rotation.
 */
export const BACKDATE_MS = 60 * 60 * 1000;

/** `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.<cluster domain>`: every name a client may use. */
export function serviceDnsNames(
  service: string,
  namespace: string,
  clusterDomain = 'cluster.local',
): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}

/**
 * A random positive 128-bit serial number as hex, DER-minimal: a leading 00 only when the top bit is
 * set (else it would read as negative), and never a leading zero byte otherwise (non-minimal DER).
 */
export function randomSerialHex(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const bytes = random(16);
    if (bytes[0] === 0) continue;
    const hex = bytes.toString('hex');
    return bytes[0]! >= 0x80 ? `00${hex}` : hex;
  }
}

const generateRsaPem = promisify(generateKeyPairCallback);

export interface GeneratedKey {
  /** forge's view of the public key (goes into the certificate). */
  publicKey: forge.pki.PublicKey;
  /** PKCS#8 PEM; all private-key operations are native. */
  privateKeyPem: string;
}

/** Native key generation on the libuv thread pool (never forge's pure-JS fallback, never on the event loop). */
export async function generateKeyPair(bits: RsaKeySize): Promise<GeneratedKey> {
  const { publicKey, privateKey } = await generateRsaPem('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey: pki.publicKeyFromPem(publicKey), privateKeyPem: privateKey };
}

/**
 * forge builds the certificate; the RSA signature is made by Node's crypto (OpenSSL). forge's own
 * big-number RSA is far slower (seconds per signature in some VMs) and would block the event loop.
 * Same steps as forge's cert.sign, with the signing swapped.
 */
export function signCertificate(cert: forge.pki.Certificate, privateKeyPem: string): void {
  const c = cert as forge.pki.Certificate & {
    tbsCertificate: forge.asn1.Asn1;
    md: forge.md.MessageDigest;
    signatureOid: string;
  };
  c.md = forge.md.sha256.create();
  c.signatureOid = c.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  c.tbsCertificate = (
    pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
  ).getTBSCertificate(cert);
  const tbs = forge.asn1.toDer(c.tbsCertificate).getBytes();
  c.md.update(tbs);
  c.signature = sign('sha256', Buffer.from(tbs, 'binary'), privateKeyPem).toString('binary');
}

function validity(cert: forge.pki.Certificate, now: Date, validityMs: number, notAfterCap?: Date): void {
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + validityMs);
  // A certificate must never outlive its issuer: clients would reject it from the issuer's expiry on anyway.
  cert.validity.notAfter = notAfterCap && notAfterCap < notAfter ? notAfterCap : notAfter;
}

/** A self-signed CA that may sign end-entity certificates only (pathLen 0). */
export async function createCertificateAuthority(options: CaOptions): Promise<KeyPairPem> {
  const keys = await generateKeyPair(options.keySize);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  validity(cert, options.now, options.validityMs);
  // UTF8String, not forge's default PrintableString: that may not hold the '@' of our CA names, and
  // Go's x509 (the API server calling the webhook) refuses such a certificate outright.
  const subject = [{ name: 'commonName', value: options.commonName, valueTagClass: UTF8 }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: true },
  ]);
  signCertificate(cert, keys.privateKeyPem);
  return { certPem: pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** A TLS server certificate for the given DNS names, signed by `ca`, never valid past the CA. */
export async function issueServingCertificate(ca: KeyPairPem, options: ServingOptions): Promise<KeyPairPem> {
  if (options.dnsNames.length === 0) throw new Error('a serving certificate needs at least one DNS name');
  const caCert = pki.certificateFromPem(ca.certPem);
  const keys = await generateKeyPair(options.keySize);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  validity(cert, options.now, options.validityMs, caCert.validity.notAfter);
  cert.setSubject([
    {
      name: 'commonName',
      value: options.dnsNames.find((n) => n.endsWith('.svc')) ?? options.dnsNames[0]!,
      valueTagClass: UTF8,
    },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const caSki = (caCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null)
    ?.subjectKeyIdentifier;
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: options.dnsNames.map((value) => ({ type: 2, value })) },
    { name: 'subjectKeyIdentifier' },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: caSki ? forge.util.hexToBytes(caSki) : caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ]);
  signCertificate(cert, ca.keyPem);
  return { certPem: pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** What the rotation logic needs to know about a certificate. */
export interface CertInfo {
  /** SHA-256 of the DER encoding, lower-case hex without colons: the identity of a certificate. */
  fingerprint: string;
  serialNumber: string;
  subject: string;
  notBefore: number;
  notAfter: number;
  isCa: boolean;
  dnsNames: string[];
}

export function describeCertificate(pem: string): CertInfo {
  const x = new X509Certificate(pem);
  return {
    fingerprint: x.fingerprint256.replaceAll(':', '').toLowerCase(),
    serialNumber: x.serialNumber,
    subject: x.subject,
    notBefore: x.validFromDate.getTime(),
    notAfter: x.validToDate.getTime(),
    isCa: x.ca,
    dnsNames: (x.subjectAltName ?? '')
      .split(', ')
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4)),
  };
}

/** True when `issuerPem` issued `certPem` (names match and the signature verifies). */
export function isIssuedBy(certPem: string, issuerPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const issuer = new X509Certificate(issuerPem);
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** True when the private key belongs to the certificate. */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** The PEM blocks of a bundle, in order (anything between blocks is ignored). */
export function splitPemBundle(bundle: string): string[] {
  return (
    bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((b) => `${b}\n`) ?? []
  );
}
