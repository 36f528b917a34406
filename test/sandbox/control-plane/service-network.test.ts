// The real API server calls an admission webhook registered by Service reference — as manifests/
// registers ours — at the Service's endpoint in the test bed's network namespace, verifying the
// webhook's certificate for the Service's DNS name against the caBundle.
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createCertificateAuthority,
  issueServingCertificate,
  serviceDnsNames,
} from '../../../certs/issue.js';
import { startServiceNetwork, type ServiceNetwork } from '../../../sandbox/control-plane/service-network.js';
import { apiRequest, useControlPlane } from '../../helpers/control-plane.js';
import { waitFor } from '../../helpers/wait.js';

const cp = useControlPlane();
let network: ServiceNetwork;
let server: https.Server;
const reviews: any[] = [];

beforeAll(async () => {
  const now = new Date();
  const ca = await createCertificateAuthority({
    commonName: 'probe-ca',
    keySize: 2048,
    validityMs: 86_400_000,
    now,
  });
  const serving = await issueServingCertificate(ca, {
    dnsNames: serviceDnsNames('probe-webhook', 'default', 'cluster.local'),
    keySize: 2048,
    validityMs: 86_400_000,
    now,
  });
  server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const review = JSON.parse(body);
      reviews.push(review);
      const patch = Buffer.from(
        JSON.stringify([{ op: 'add', path: '/metadata/labels', value: { probed: 'yes' } }]),
      );
      res.setHeader('Content-Type', 'application/json');
      res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            patchType: 'JSONPatch',
            patch: patch.toString('base64'),
          },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  network = await startServiceNetwork();
  await network.expose(8443, { host: '127.0.0.1', port: (server.address() as any).port });

  const c = cp();
  expect(
    (
      await apiRequest(c, 'POST', '/api/v1/namespaces/default/services', {
        metadata: { name: 'probe-webhook' },
        spec: { ports: [{ name: 'https', port: 443, targetPort: 8443 }] },
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await apiRequest(c, 'POST', '/api/v1/namespaces/default/endpoints', {
        metadata: { name: 'probe-webhook' },
        subsets: [{ addresses: [{ ip: network.address }], ports: [{ name: 'https', port: 8443 }] }],
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await apiRequest(c, 'POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', {
        metadata: { name: 'probe' },
        webhooks: [
          {
            name: 'probe.example.com',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 5,
            clientConfig: {
              service: { namespace: 'default', name: 'probe-webhook', path: '/mutate', port: 443 },
              caBundle: Buffer.from(ca.certPem).toString('base64'),
            },
            rules: [
              { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] },
            ],
            objectSelector: { matchLabels: { probe: 'me' } },
          },
        ],
      })
    ).status,
  ).toBe(201);
}, 120_000);

afterAll(async () => {
  await network?.stop();
  server?.close();
});

describe('the service network', () => {
  it('lets the real API server reach a webhook by Service reference, TLS verified for the Service name', async () => {
    const created = await waitFor(
      'the webhook to be called',
      async () => {
        const res = await apiRequest(cp(), 'POST', '/api/v1/namespaces/default/configmaps', {
          metadata: { generateName: 'probed-', labels: { probe: 'me' } },
        });
        return res.status === 201 && res.body.metadata.labels?.probed === 'yes' ? res : undefined;
      },
      30_000,
    );
    expect(created.body.metadata.labels).toEqual({ probed: 'yes' });
    expect(reviews.at(-1).request.resource).toEqual({ group: '', version: 'v1', resource: 'configmaps' });
  });

  it('makes only its own namespace, and removes it on stop', async () => {
    const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(netns).toContain(network.namespace);
    const other = await startServiceNetwork();
    expect(other.address).not.toBe(network.address);
    await other.stop();
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(other.namespace);
  });
});
