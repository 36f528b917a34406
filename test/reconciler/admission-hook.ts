// A test's own hold on the API server's admission: `intercept` runs before matching UPDATEs (patches
// included) are stored, so a test can act at that instant (allocate a game server under the agent's
// compare-and-swap) or hold the request (keep the agent's node writes waiting).
// - On the emulator: its Admitter hook, in process.
// - On the real kube-apiserver: a ValidatingWebhookConfiguration calling an HTTPS server of this
//   process by URL (https://localhost:PORT; the API server runs on this machine). Validating
//   admission runs inside the storage's compare-and-swap, as the emulator's hook does: whatever the
//   hook writes meanwhile makes the held request's preconditions be checked against it.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueServingCertificate } from '../../certs/issue.js';
import type { AdmissionAttributes, AdmissionResult } from '../../sandbox/kube/types.js';
import type { TestKube } from '../helpers/test-kube.js';
import { waitFor } from './helpers.js';

export interface Intercepted {
  username: string;
  resource: string;
  name: string;
  dryRun: boolean;
}

export interface AdmissionHold {
  /** Stops intercepting (the real API server is told, and the server answers "allowed" until the end). */
  release(): Promise<void>;
}

const VWC = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  resource: 'validatingwebhookconfigurations',
};
const DAY = 86_400_000;
let seq = 0;

export async function interceptAdmission(
  kube: TestKube,
  o: {
    group: string;
    resource: string;
    /** Called for each matching UPDATE; the request waits for it. */
    intercept: (r: Intercepted) => Promise<void>;
    /** A dry-run write of an object the rules match, to learn when the API server calls the hook. */
    probe: () => Promise<unknown>;
  },
): Promise<AdmissionHold> {
  const emu = kube.backend.emulator;
  if (emu) {
    const previous = emu.webhooks;
    emu.setAdmission({
      async admit(attrs: AdmissionAttributes): Promise<AdmissionResult> {
        if (attrs.operation === 'UPDATE' && attrs.resource.resource === o.resource)
          await o.intercept({
            username: attrs.userInfo.username,
            resource: attrs.resource.resource,
            name: attrs.name,
            dryRun: attrs.dryRun,
          });
        return previous ? previous.admit(attrs) : { object: attrs.object, warnings: [] };
      },
    });
    return { release: async () => emu.setAdmission(previous) };
  }

  const ca = await createCertificateAuthority({
    commonName: 'admission-hook-ca',
    validityMs: DAY,
    keySize: 2048,
    now: new Date(),
  });
  const serving = await issueServingCertificate(ca, {
    dnsNames: ['localhost'],
    validityMs: DAY,
    keySize: 2048,
    now: new Date(),
  });
  let active = true;
  let probed = false;
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      void (async () => {
        let review: any;
        try {
          review = JSON.parse(body);
        } catch {
          res.writeHead(400).end('not JSON');
          return;
        }
        const r = review?.request ?? {};
        const seen: Intercepted = {
          username: String(r.userInfo?.username ?? ''),
          resource: String(r.resource?.resource ?? ''),
          name: String(r.name ?? ''),
          dryRun: r.dryRun === true,
        };
        if (seen.dryRun) probed = true;
        else if (active) await o.intercept(seen).catch(() => undefined);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: r.uid, allowed: true },
          }),
        );
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const name = `test-admission-hook-${process.pid}-${++seq}`;
  await kube.admin.create(VWC, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: 'hold.test.fleetiq-agones.dev',
        clientConfig: {
          url: `https://localhost:${port}/validate`,
          caBundle: Buffer.from(ca.certPem).toString('base64'),
        },
        rules: [
          {
            operations: ['UPDATE'],
            apiGroups: [o.group],
            apiVersions: ['v1'],
            resources: [o.resource],
          },
        ],
        // A hold may outlast the API server's wait (30 s at most): the request then proceeds.
        failurePolicy: 'Ignore',
        timeoutSeconds: 30,
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
      },
    ],
  });
  // The API server picks new configurations up asynchronously: probe until it calls us.
  await waitFor(
    'the API server to call the admission hook',
    async () => {
      await o.probe();
      return probed;
    },
    30_000,
  );
  return {
    async release() {
      active = false;
      await kube.admin.delete({ ...VWC, name });
      // Requests already on their way still get an answer: the server closes only with no connection left.
      server.close();
    },
  };
}
