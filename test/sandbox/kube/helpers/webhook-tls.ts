// Test TLS material and a real HTTPS admission webhook server for the admission tests: a CA, serving
// certificates signed by it for whatever names a test needs, and a server whose answer each test
// decides.
import { generateKeyPairSync } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import forge from 'node-forge';
import { randomSerialHex } from '../../../../certs/issue.js';

const { pki } = forge;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface TestCa extends KeyPairPem {
  /** The CA certificate as a webhook configuration's caBundle (base64 of the PEM). */
  caBundle: string;
  /** A serving certificate for `dnsNames` (and `ipAddresses`), signed by this CA. */
  issue(dnsNames: string[], ipAddresses?: string[]): KeyPairPem;
}

function keyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  // Native key generation: forge's pure-JS RSA would take seconds per key.
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
    privateKey: pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
  };
}

export function createTestCa(commonName = 'test-webhook-ca'): TestCa {
  const keys = keyPair();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 60 * 60 * 1000);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const certPem = pki.certificateToPem(cert);
  const keyPem = pki.privateKeyToPem(keys.privateKey);

  const issue = (dnsNames: string[], ipAddresses: string[] = []): KeyPairPem => {
    const leafKeys = keyPair();
    const leaf = pki.createCertificate();
    leaf.publicKey = leafKeys.publicKey;
    leaf.serialNumber = randomSerialHex();
    leaf.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000);
    leaf.validity.notAfter = new Date(Date.now() + 24 * 60 * 60 * 1000);
    leaf.setSubject([{ name: 'commonName', value: dnsNames[0] ?? ipAddresses[0] ?? 'webhook' }]);
    leaf.setIssuer(cert.subject.attributes);
    leaf.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...dnsNames.map((value) => ({ type: 2, value })),
          ...ipAddresses.map((ip) => ({ type: 7, ip })),
        ],
      },
    ]);
    leaf.sign(keys.privateKey, forge.md.sha256.create());
    return { certPem: pki.certificateToPem(leaf), keyPem: pki.privateKeyToPem(leafKeys.privateKey) };
  };

  return { certPem, keyPem, caBundle: Buffer.from(certPem).toString('base64'), issue };
}

/** One AdmissionReview a webhook server received. */
export interface ReceivedReview {
  path: string;
  servername: string | undefined;
  review: { apiVersion: string; kind: string; request: Record<string, any> };
}

/**
 * What the server answers: an AdmissionReview response body (`response` is filled in with the
 * request's uid unless the handler sets one), a raw HTTP answer, or `'hang'` (never answers).
 */
export type WebhookAnswer =
  | { response: Record<string, unknown>; apiVersion?: string; kind?: string }
  | { status: number; body: string }
  | 'hang';

export interface TestWebhookServer {
  port: number;
  received: ReceivedReview[];
  /** TLS connections accepted so far (keep-alive reuse keeps this low). */
  connections(): number;
  setHandler(handler: (review: ReceivedReview) => WebhookAnswer | Promise<WebhookAnswer>): void;
  close(): Promise<void>;
}

export async function startWebhookServer(
  serving: KeyPairPem,
  handler: (review: ReceivedReview) => WebhookAnswer | Promise<WebhookAnswer> = () => ({
    response: { allowed: true },
  }),
): Promise<TestWebhookServer> {
  let current = handler;
  const received: ReceivedReview[] = [];
  const hanging = new Set<import('node:http').ServerResponse>();
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const entry: ReceivedReview = {
          path: req.url ?? '',
          servername: (req.socket as import('node:tls').TLSSocket).servername || undefined,
          review,
        };
        received.push(entry);
        const answer = await current(entry);
        if (answer === 'hang') {
          hanging.add(res);
          return;
        }
        if ('status' in answer) {
          res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body);
          return;
        }
        const body = {
          apiVersion: answer.apiVersion ?? review.apiVersion,
          kind: answer.kind ?? 'AdmissionReview',
          response: { uid: review.request.uid, ...answer.response },
        };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      })();
    });
  });
  let connections = 0;
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    connections: () => connections,
    setHandler: (h) => {
      current = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** base64 of a JSON Patch, as a webhook's response.patch. */
export function encodePatch(ops: unknown[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
