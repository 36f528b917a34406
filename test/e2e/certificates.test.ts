// Built-in certificates end to end: two webhook replicas starting at once against the same Secret
// agree on one CA; then a rolling update to a policy under which that CA is due for renewal rotates
// the CA (new CA published, promoted, serving certificates re-issued, old CA retired) while
// allocations keep flowing through the API server, which verifies every connection against the
// caBundle: not one admission may fail, and the new certificate must be what is served.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { describeCertificate, splitPemBundle } from '../../certs/issue.js';
import { SECRET_KEYS } from '../../certs/material.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import type { RunningWebhook } from '../../webhook/server.js';
import {
  E2E_START_MS,
  GSA,
  WEBHOOK_CONFIGS,
  WEBHOOK_NAME,
  WEBHOOK_NAMESPACE,
  servedCertificateSerial,
  startE2e,
  until,
  type E2e,
} from './harness.js';

const FLEET = 'arena';
const SERVER_NAME = `${WEBHOOK_NAME}.${WEBHOOK_NAMESPACE}.svc`;
const SECRET = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  namespace: WEBHOOK_NAMESPACE,
  name: 'fleetiq-agones-webhook-tls',
};
let e: E2e;

beforeAll(async () => {
  e = await startE2e({
    speed: 30,
    replicas: 2,
    nodes: { count: 3, capacity: { pods: 4 } },
    fleets: [{ name: FLEET, replicas: 8 }],
  });
}, E2E_START_MS);

afterAll(async () => {
  await e?.stop();
}, 90_000);

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();
const fingerprints = (bundlePem: string) =>
  splitPemBundle(bundlePem).map((p) => describeCertificate(p).fingerprint);

async function publishedBundle(): Promise<string[]> {
  const config = await e.admin.get({ ...WEBHOOK_CONFIGS, name: WEBHOOK_NAME });
  return fingerprints(Buffer.from(config.webhooks[0].clientConfig.caBundle, 'base64').toString('utf8'));
}

async function storedSecret(): Promise<KubeObject> {
  return e.admin.get(SECRET);
}

/** Verifies the certificate a replica serves against a CA bundle and the Service's DNS name, as the API server does. */
function verifiesAgainst(w: RunningWebhook, caPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port: w.port, servername: SERVER_NAME, ca: caPem },
      () => {
        socket.end();
        resolve(true);
      },
    );
    socket.on('error', () => resolve(false));
  });
}

describe('built-in certificates', () => {
  it('two replicas starting at once against the same Secret end up with one CA and one serving certificate', async () => {
    const [a, b] = e.initialCertificates;
    expect(a!.fingerprint).toBe(b!.fingerprint);
    expect(a!.caBundlePem).toBe(b!.caBundlePem);
    expect(fingerprints(a!.caBundlePem!)).toHaveLength(1);
    // Exactly one create of the Secret succeeded; a loser got 409 AlreadyExists and used the winner's.
    const creates = (await e.requests(e.webhookUser)).filter(
      (r) => r.resource === 'secrets' && r.verb === 'create',
    );
    expect(creates.filter((r) => r.code === 201)).toHaveLength(1);
    expect(creates.every((r) => r.code === 201 || r.code === 409)).toBe(true);
    const secret = await storedSecret();
    const decode = (k: string) => Buffer.from(secret.data[k] ?? '', 'base64').toString('utf8');
    expect(describeCertificate(decode(SECRET_KEYS.servingCert)).fingerprint).toBe(a!.fingerprint);
    expect(await publishedBundle()).toEqual(fingerprints(a!.caBundlePem!));
    // Both serve it, and the API server's trust (the caBundle) verifies it.
    for (const w of e.replicas) {
      expect(await servedCertificateSerial(w.port, SERVER_NAME)).toBe(serialOf(a!.certPem));
      expect(await verifiesAgainst(w, a!.caBundlePem!)).toBe(true);
    }
  });

  it('a CA rotation during a rolling update under live allocations fails no admission and ends serving the new certificate', async () => {
    const initial = e.initialCertificates[0]!;
    const initialCa = fingerprints(initial.caBundlePem!)[0]!;
    const statsBefore = await e.webhookStats();
    const failedCallsBefore = (await e.failedWebhookCalls()).length;
    const admissionsBefore = e.admissions.length;

    // Players: allocations, each followed by the game server's reuse (SDK.Ready) or its shutdown.
    let running = true;
    const results = { allocated: 0, unallocated: 0, errors: [] as string[] };
    const player = async (id: number) => {
      for (let i = 0; running; i++) {
        let res: KubeObject;
        try {
          res = await e.admin.create(
            { ...GSA, namespace: 'default' },
            {
              apiVersion: 'allocation.agones.dev/v1',
              kind: 'GameServerAllocation',
              spec: { selectors: [{ matchLabels: { 'agones.dev/fleet': FLEET } }] },
            },
          );
        } catch (err) {
          results.errors.push(String(err));
          continue;
        }
        if (res.status.state !== 'Allocated') {
          results.unallocated++;
          await until('a Ready game server', () =>
            [...e.sim.allocator.cache.values()].some((g) => g.status?.state === 'Ready'),
          );
          continue;
        }
        results.allocated++;
        const sdk = e.sim.sdk(res.status.gameServerName);
        await ((i + id) % 3 === 0 ? sdk.shutdown() : sdk.ready()).catch((err) =>
          results.errors.push(String(err)),
        );
      }
    };
    const players = [0, 1, 2].map((id) => player(id));
    try {
      await until('traffic flowing', () => results.allocated >= 5);

      // The rolling update: two replicas with a policy under which the current CA (10 years) is due
      // for renewal; new CAs live 20 years and are not. Checks every second; promotion 1 s after every
      // webhook trusts the new CA; the old one trusted 3 s longer.
      const policy = {
        certCheckInterval: '1s',
        caValidity: '20y',
        caRenewBefore: '0.99999',
        caPropagation: '1s',
        caRetireAfter: '3s',
      };
      const [c, d] = await Promise.all([e.startReplica(policy), e.startReplica(policy)]);
      for (const w of [c!, d!])
        await until('new replica ready', async () => (await fetch(`${w.opsUrl}/readyz`)).status === 200);
      const admissionsAtRollout = e.admissions.length;
      e.route([c!, d!]);
      await Promise.all([e.replicas[0]!.stop(), e.replicas[1]!.stop()]);

      // Rotation: both new replicas serve a certificate of a new CA, and the old CA has left the caBundle.
      await until(
        'the new certificate served and the old CA retired',
        async () => {
          const bundle = await publishedBundle();
          if (bundle.includes(initialCa)) return false;
          for (const w of [c!, d!]) {
            if ((await servedCertificateSerial(w.port, SERVER_NAME)) === serialOf(initial.certPem))
              return false;
          }
          return true;
        },
        30_000,
      );
      // Allocations before and after it all went through the new replicas.
      expect(e.admissions.slice(admissionsAtRollout).length).toBeGreaterThan(0);
      const afterRotation = e.admissions.length;
      await until('allocations after the rotation', () => e.admissions.length >= afterRotation + 5);
    } finally {
      running = false;
      await Promise.all(players);
    }

    // Not one admission failed: every call reached a replica over verified TLS and was answered.
    // First as the requests' answers have it, with the API server's reason should a call have failed.
    expect((await e.failedWebhookCalls()).slice(failedCallsBefore)).toEqual([]);
    const stats = await e.webhookStats();
    const delta = (k: keyof typeof stats.outcomes) =>
      (stats.outcomes[k] ?? 0) - (statsBefore.outcomes[k] ?? 0);
    expect({
      failedClosed: delta('failedClosed'),
      failedOpen: delta('failedOpen'),
      rejected: delta('rejected'),
      denied: delta('denied'),
    }).toEqual({ failedClosed: 0, failedOpen: 0, rejected: 0, denied: 0 });
    expect(results.errors).toEqual([]);
    const answered = e.admissions.slice(admissionsBefore);
    expect(answered.length).toBe(stats.calls - statsBefore.calls);
    expect(answered.every((a) => a.allowed)).toBe(true);
    expect(e.sim.allocator.stats.failed).toBe(0);

    // The served certificate is the Secret's, signed by the new CA the API server trusts.
    const secret = await storedSecret();
    const servingPem = Buffer.from(secret.data[SECRET_KEYS.servingCert], 'base64').toString('utf8');
    const bundlePem = Buffer.from(secret.data[SECRET_KEYS.trustBundle], 'base64').toString('utf8');
    expect(fingerprints(bundlePem)).not.toContain(initialCa);
    for (const w of e.replicas.slice(2)) {
      expect(await servedCertificateSerial(w.port, SERVER_NAME)).toBe(serialOf(servingPem));
      expect(await verifiesAgainst(w, bundlePem)).toBe(true);
      expect(await verifiesAgainst(w, initial.caBundlePem!)).toBe(false);
    }
  });
});
