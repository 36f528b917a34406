// The test control plane's certificates: one CA for serving certificates (the API server's, for
// 127.0.0.1, localhost and its in-cluster names) and one for the front proxy (the client
// certificate the aggregator presents to extension API servers), plus the service-account signing
// key. Built on certs/' key generation and signing, so it uses the same native RSA as the product.
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { generateKeyPair, randomSerialHex, signCertificate, type KeyPairPem } from '../../certs/issue.js';

const { pki } = forge;
const DAY_MS = 24 * 60 * 60 * 1000;

function dates(cert: forge.pki.Certificate): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + 7 * DAY_MS);
}

async function authority(commonName: string): Promise<KeyPairPem> {
  const keys = await generateKeyPair(2048);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  dates(cert);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer([{ name: 'commonName', value: commonName }]);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signCertificate(cert, keys.privateKeyPem);
  return { certPem: pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

interface LeafOptions {
  commonName: string;
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client';
}

async function leaf(ca: KeyPairPem, o: LeafOptions): Promise<KeyPairPem> {
  const caCert = pki.certificateFromPem(ca.certPem);
  const keys = await generateKeyPair(2048);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  dates(cert);
  cert.setSubject([
    { name: 'commonName', value: o.commonName },
    ...(o.organizations ?? []).map((value) => ({ name: 'organizationName', value })),
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...(o.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(o.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    o.usage === 'server'
      ? { name: 'extKeyUsage', serverAuth: true }
      : { name: 'extKeyUsage', clientAuth: true },
    ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
  ]);
  signCertificate(cert, ca.keyPem);
  return { certPem: pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

export interface ControlPlanePki {
  ca: KeyPairPem;
  apiServer: KeyPairPem;
  frontProxyCa: KeyPairPem;
  frontProxyClient: KeyPairPem;
  /** The service-account token signing key (PKCS#8) and its public half (SPKI). */
  serviceAccount: { privateKeyPem: string; publicKeyPem: string };
}

/** The names the API server answers to: loopback, and the in-cluster names pods use. */
export const API_SERVER_DNS_NAMES = [
  'localhost',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];

export async function createControlPlanePki(serviceIp: string): Promise<ControlPlanePki> {
  const [ca, frontProxyCa] = await Promise.all([
    authority('fleetiq-agones-testbed-ca'),
    authority('fleetiq-agones-testbed-front-proxy-ca'),
  ]);
  const [apiServer, frontProxyClient] = await Promise.all([
    leaf(ca, {
      commonName: 'kube-apiserver',
      dnsNames: API_SERVER_DNS_NAMES,
      ipAddresses: ['127.0.0.1', serviceIp],
      usage: 'server',
    }),
    leaf(frontProxyCa, { commonName: 'front-proxy-client', usage: 'client' }),
  ]);
  const sa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    ca,
    apiServer,
    frontProxyCa,
    frontProxyClient,
    serviceAccount: { privateKeyPem: sa.privateKey, publicKeyPem: sa.publicKey },
  };
}
