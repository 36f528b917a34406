// The webhook's HTTPS server end to end over real TLS, without a cluster: every kind of bad input,
// non-transition reviews (which must not cause a single API call), the failure policy when the API
// server is down or hangs, certificate hot reload under live traffic, and graceful shutdown.
//
// The Kubernetes API here is a TRIPWIRE, not an emulation: an HTTP server that records every request
// and either refuses it (503) or never answers. The transition path against a working API server is
// tested end to end on the cluster emulator.
import { parseReconcilerConfig } from '../../reconciler/config.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import https from 'node:https';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import {
  createCertificateAuthority,
  describeCertificate,
  issueServingCertificate,
  serviceDnsNames,
  type KeyPairPem,
} from '../../certs/issue.js';
import { createLogger } from '../../shared/logger.js';
import { webhookConfigFromOptions } from '../../webhook/cli.js';
import { webhookConfig, DEFAULT_MAX_REQUEST_BYTES, type WebhookConfig } from '../../webhook/config.js';
import { startWebhook, type RunningWebhook } from '../../webhook/server.js';
import type { AdmissionRecord } from '../../webhook/http-admission.js';
import { httpsRequest } from './fixtures.js';
import { gameServerObject, gameServerReview } from '../../sandbox/system/admission-review.js';
import { waitFor } from '../helpers/wait.js';

const DAY = 86_400_000;

// ---- a tripwire Kubernetes API ----

interface Tripwire {
  url: string;
  mode: 'unavailable' | 'hang';
  requests: { method: string; path: string; body: string }[];
  close(): Promise<void>;
}

async function startTripwire(): Promise<Tripwire> {
  const hanging = new Set<http.ServerResponse>();
  const t: Tripwire = { url: '', mode: 'unavailable', requests: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      t.requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        body: Buffer.concat(chunks).toString(),
      });
      if (t.mode === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(503, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: 'tripwire: unavailable',
          reason: 'ServiceUnavailable',
          code: 503,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.close = () =>
    new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return t;
}

function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'tripwire', server: url, skipTLSVerify: true }],
    users: [{ name: 'webhook', token: 'test-token' }],
    contexts: [{ name: 'tripwire', cluster: 'tripwire', user: 'webhook' }],
    currentContext: 'tripwire',
  });
  return kc;
}

async function metricValue(opsUrl: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const m = text.split('\n').find((l) => line.test(l));
  return m ? Number(m.split(' ').pop()) : 0;
}

// ---- fixtures ----

let ca: KeyPairPem;
let dir: string;
let tripwire: Tripwire;
const silent = createLogger('webhook-test', 'silent');
const names = [...serviceDnsNames('fleetiq-agones-webhook', 'fleetiq'), 'localhost'];

async function writeCertFiles(target: string, pair: KeyPairPem): Promise<void> {
  // Atomic replacement, as a Secret volume update does it (never a half-written file).
  await writeFile(join(target, 'tls.crt.tmp'), pair.certPem);
  await writeFile(join(target, 'tls.key.tmp'), pair.keyPem);
  await rename(join(target, 'tls.crt.tmp'), join(target, 'tls.crt'));
  await rename(join(target, 'tls.key.tmp'), join(target, 'tls.key'));
}

function configFor(certDir: string, overrides: Partial<Omit<WebhookConfig, 'tls'>> = {}): WebhookConfig {
  return webhookConfig(
    {
      mode: 'external',
      certFile: join(certDir, 'tls.crt'),
      keyFile: join(certDir, 'tls.key'),
      pollIntervalMs: 60_000,
    },
    {
      listen: { host: '127.0.0.1', port: 0 },
      opsListen: { host: '127.0.0.1', port: 0 },
      // Per-transition node GETs: no background API traffic, so the tripwire sees only what requests cause.
      nodeStatusSource: 'get',
      podPatchTimeoutMs: 400,
      ...overrides,
    },
  );
}

beforeAll(async () => {
  ca = await createCertificateAuthority({
    commonName: 'webhook-test-ca',
    validityMs: 10 * DAY,
    keySize: 2048,
    now: new Date(),
  });
  dir = await mkdtemp(join(tmpdir(), 'webhook-test-'));
  await writeCertFiles(
    dir,
    await issueServingCertificate(ca, { dnsNames: names, validityMs: DAY, keySize: 2048, now: new Date() }),
  );
  tripwire = await startTripwire();
});

afterAll(async () => {
  await tripwire.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the admission endpoint', () => {
  let webhook: RunningWebhook;
  const post = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    httpsRequest(webhook.admissionUrl, {
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers,
      ca: ca.certPem,
    });

  const records: AdmissionRecord[] = [];
  beforeAll(async () => {
    // Reserved unprotected (not the default), so that Ready → Reserved is a non-transition below.
    webhook = await startWebhook(configFor(dir, { protectedStates: ['Allocated'] }), {
      kubeConfig: kubeConfigFor(tripwire.url),
      logger: silent,
      onAdmission: (r) => records.push(r),
    });
  });
  afterAll(async () => {
    await webhook.stop();
  });

  it('answers non-transitions allowed, with the uid, no patch and no API call', async () => {
    tripwire.requests.length = 0;
    const cases = [
      gameServerReview('Scheduled', 'Ready', { uid: 'a1' }),
      gameServerReview('Ready', 'Ready', { uid: 'a2' }),
      gameServerReview('Allocated', 'Ready', { uid: 'a3' }),
      gameServerReview('Allocated', 'Shutdown', { uid: 'a4' }),
      gameServerReview('Ready', 'Reserved', { uid: 'a5' }),
      gameServerReview(undefined, 'Allocated', { uid: 'a6', operation: 'CREATE', oldObject: null }),
      gameServerReview('Ready', 'Allocated', { uid: 'a7', operation: 'DELETE', object: null }),
      gameServerReview('Ready', 'Allocated', { uid: 'a8', kind: { group: '', version: 'v1', kind: 'Pod' } }),
      gameServerReview('Ready', 'Allocated', { uid: 'a9', dryRun: true }),
      // Doomed update: its resourceVersion is not the stored one.
      gameServerReview('Ready', 'Allocated', {
        uid: 'a10',
        object: gameServerObject('Allocated', { resourceVersion: '1' }),
      }),
      gameServerReview('Ready', 'Allocated', {
        uid: 'a11',
        annotations: { 'agones.dev/dev-address': '10.0.0.1' },
      }),
    ];
    for (const review of cases) {
      const answer = await post(review);
      expect(answer.status).toBe(200);
      expect(answer.headers['content-type']).toMatch(/application\/json/);
      expect(answer.json).toEqual({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: review.request.uid, allowed: true },
      });
    }
    expect(tripwire.requests).toEqual([]);
    // Observers see each answer: skipped, allowed, no time spent on the API.
    expect(records.map((r) => r.uid)).toEqual(cases.map((c) => c.request.uid));
    for (const r of records) expect(r).toMatchObject({ outcome: 'skipped', allowed: true, apiSeconds: 0 });
    expect(records.map((r) => r.reason)).toEqual(
      expect.arrayContaining([
        'not-a-transition',
        'not-an-update',
        'not-a-gameserver',
        'dry-run',
        'stale-update',
        'development-gameserver',
      ]),
    );
    expect(
      await metricValue(
        webhook.opsUrl,
        /^fleetiq_webhook_decisions_total\{decision="allow",reason="not-a-transition"\}/,
      ),
    ).toBeGreaterThanOrEqual(5);
    expect(
      await metricValue(
        webhook.opsUrl,
        /^fleetiq_webhook_admission_duration_seconds_count\{outcome="skipped"\}/,
      ),
    ).toBeGreaterThanOrEqual(cases.length);
  });

  const valid = gameServerReview('Ready', 'Ready');
  const withRequest = (patch: Record<string, unknown>) => ({
    ...valid,
    request: { ...valid.request, ...patch },
  });
  const without = (key: string) => {
    const r = structuredClone(valid) as { request: Record<string, unknown> };
    delete r.request[key];
    return r;
  };

  it.each([
    [
      'wrong apiVersion',
      { ...valid, apiVersion: 'admission.k8s.io/v1beta1' },
      /apiVersion must be "admission.k8s.io\/v1"/,
    ],
    ['wrong kind', { ...valid, kind: 'TokenReview' }, /kind must be "AdmissionReview"/],
    ['no request', { apiVersion: valid.apiVersion, kind: valid.kind }, /request is required/],
    ['no uid', without('uid'), /uid is required/],
    ['empty uid', withRequest({ uid: '' }), /uid/],
    ['no request kind', without('kind'), /kind is required/],
    ['unknown operation', withRequest({ operation: 'PATCH' }), /operation must be one of/],
    ['UPDATE without object', without('object'), /object is required/],
    ['UPDATE without oldObject', without('oldObject'), /oldObject is required/],
    ['UPDATE with a null object', withRequest({ object: null }), /object/],
    [
      'a non-string annotation',
      withRequest({ object: { metadata: { annotations: { a: 1 } } } }),
      /annotations/,
    ],
    ['a JSON array', [], /must be object/],
    ['an empty body', '', /apiVersion is required/],
  ])('400 for %s', async (_what, body, message) => {
    const answer = await post(body);
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({
      kind: 'Status',
      code: 400,
      reason: 'BadRequest',
      message: expect.stringMatching(message),
    });
  });

  it('400 for a body that is not JSON', async () => {
    const answer = await post('{"apiVersion": ');
    expect(answer.status).toBe(400);
    expect(answer.json.message).toMatch(/not valid JSON/);
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['form data', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['no content type', {} as Record<string, string>],
    ['a non-UTF charset', { 'content-type': 'application/json; charset=latin1' }],
  ])('415 for %s', async (_what, headers) => {
    const answer = await post(valid, headers);
    expect(answer.status).toBe(415);
    expect(answer.json).toMatchObject({ kind: 'Status', code: 415 });
  });

  it.each(['GET', 'PUT', 'DELETE', 'PATCH'])('405 for %s, naming POST', async (method) => {
    const answer = await httpsRequest(webhook.admissionUrl, { method, ca: ca.certPem });
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('POST');
  });

  it.each(['/', '/validate', '/mutate/extra', '/healthz', '/metrics'])(
    '404 for %s (ops endpoints live on the ops port)',
    async (path) => {
      const answer = await httpsRequest(webhook.url + path, {
        body: JSON.stringify(valid),
        headers: { 'content-type': 'application/json' },
        ca: ca.certPem,
      });
      expect(answer.status).toBe(404);
      expect(answer.json.message).toContain('/mutate');
    },
  );

  it('accepts a review up to the limit (50 times a real one) and refuses a larger body with 413', async () => {
    expect(JSON.stringify(gameServerReview('Ready', 'Allocated')).length * 50).toBeLessThan(
      DEFAULT_MAX_REQUEST_BYTES,
    );
    const large = gameServerReview('Ready', 'Ready', { uid: 'big', padBytes: 120 * 1024 });
    const body = JSON.stringify(large);
    expect(body.length).toBeGreaterThan(DEFAULT_MAX_REQUEST_BYTES - 16 * 1024);
    expect(body.length).toBeLessThan(DEFAULT_MAX_REQUEST_BYTES);
    const ok = await post(large);
    expect(ok.status).toBe(200);
    expect(ok.json.response).toEqual({ uid: 'big', allowed: true });

    const tooBig = JSON.stringify(gameServerReview('Ready', 'Ready', { padBytes: 130 * 1024 }));
    const refused = await post(tooBig);
    expect(refused.status).toBe(413);
    expect(refused.json).toMatchObject({ code: 413, reason: 'RequestEntityTooLarge' });
    expect(refused.json.message).toContain('--max-request-bytes');
    const chunked = await httpsRequest(webhook.admissionUrl, {
      body: tooBig,
      chunked: true,
      headers: { 'content-type': 'application/json' },
      ca: ca.certPem,
    });
    expect(chunked.status).toBe(413);
  });

  it('is still healthy after all that, and never answered 500', async () => {
    const answer = await post(gameServerReview('Ready', 'Ready', { uid: 'after' }));
    expect(answer.json.response).toEqual({ uid: 'after', allowed: true });
    expect(
      await metricValue(
        webhook.opsUrl,
        /^fleetiq_webhook_decisions_total\{decision="error",reason="internal-error"\}/,
      ),
    ).toBe(0);
    expect((await fetch(`${webhook.opsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${webhook.opsUrl}/readyz`)).status).toBe(200);
  });
});

describe('a transition when the pod cannot be updated', () => {
  let allowing: RunningWebhook;
  let denying: RunningWebhook;

  beforeAll(async () => {
    const kubeConfig = kubeConfigFor(tripwire.url);
    allowing = await startWebhook(configFor(dir), { kubeConfig, logger: silent });
    denying = await startWebhook(configFor(dir, { onPodPatchFailure: 'deny' }), {
      kubeConfig,
      logger: silent,
    });
  });
  afterAll(async () => {
    await Promise.all([allowing.stop(), denying.stop()]);
  });

  const transition = (target: RunningWebhook, uid: string) =>
    httpsRequest(target.admissionUrl, {
      body: JSON.stringify(gameServerReview('Ready', 'Allocated', { uid })),
      headers: { 'content-type': 'application/json' },
      ca: ca.certPem,
    });

  it('by default allows with a warning, records a Warning Event and counts the error, and does not annotate', async () => {
    tripwire.mode = 'unavailable';
    tripwire.requests.length = 0;
    const answer = await transition(allowing, 't1');
    expect(answer.status).toBe(200);
    const response = answer.json.response;
    expect(response).toMatchObject({ uid: 't1', allowed: true });
    expect(response.patch).toBeUndefined();
    expect(response.warnings).toEqual([
      expect.stringMatching(/games\/fleet-a-x7k2p-9qwzr lacks the drain toleration \(api-error\)/),
    ]);
    // It tried to read the pod, owned by the GameServer's namespace and name.
    expect(tripwire.requests[0]).toMatchObject({
      method: 'GET',
      path: '/api/v1/namespaces/games/pods/fleet-a-x7k2p-9qwzr',
    });
    const event = await waitFor('the Warning Event', () =>
      tripwire.requests.find((r) => r.method === 'POST' && r.path === '/api/v1/namespaces/games/events'),
    );
    expect(JSON.parse(event.body)).toMatchObject({
      type: 'Warning',
      reason: 'DrainTolerationFailed',
      involvedObject: {
        kind: 'GameServer',
        apiVersion: 'agones.dev/v1',
        name: 'fleet-a-x7k2p-9qwzr',
        namespace: 'games',
        uid: '6f1f3c3e-8a5e-4b8e-9a51-1f0c6d2b7a10',
      },
    });
    expect(
      await metricValue(allowing.opsUrl, /^fleetiq_webhook_pod_patch_errors_total\{reason="api-error"\}/),
    ).toBe(1);
    expect(
      await metricValue(
        allowing.opsUrl,
        /^fleetiq_webhook_admission_duration_seconds_count\{outcome="failed_allowed"\}/,
      ),
    ).toBe(1);
    expect(
      await waitFor(
        'the event error metric',
        async () => (await metricValue(allowing.opsUrl, /^fleetiq_webhook_event_errors_total /)) === 1,
      ),
    ).toBe(true);
  });

  it('with --on-pod-patch-failure=deny refuses with 409 Conflict', async () => {
    tripwire.mode = 'unavailable';
    const answer = await transition(denying, 't2');
    expect(answer.status).toBe(200);
    expect(answer.json.response).toMatchObject({
      uid: 't2',
      allowed: false,
      status: {
        code: 409,
        reason: 'Conflict',
        message: expect.stringMatching(/could not make the pod .* tolerate/),
      },
    });
  });

  it('answers within its budget when the API server hangs (reason: timeout)', async () => {
    tripwire.mode = 'hang';
    const answer = await transition(allowing, 't3');
    expect(answer.json.response.allowed).toBe(true);
    expect(answer.json.response.warnings[0]).toMatch(/\(timeout\)/);
    expect(
      await metricValue(allowing.opsUrl, /^fleetiq_webhook_pod_patch_errors_total\{reason="timeout"\}/),
    ).toBe(1);
    tripwire.mode = 'unavailable';
  });
});

describe('certificate hot reload under live traffic', () => {
  let webhook: RunningWebhook;
  let reloadDir: string;

  beforeAll(async () => {
    reloadDir = await mkdtemp(join(tmpdir(), 'webhook-reload-'));
    await writeCertFiles(
      reloadDir,
      await issueServingCertificate(ca, { dnsNames: names, validityMs: DAY, keySize: 2048, now: new Date() }),
    );
    webhook = await startWebhook(configFor(reloadDir), {
      kubeConfig: kubeConfigFor(tripwire.url),
      logger: silent,
    });
  });
  afterAll(async () => {
    await webhook.stop();
    await rm(reloadDir, { recursive: true, force: true });
  });

  it('serves the new certificate to new connections without failing a request or dropping a connection', async () => {
    const oldFingerprint = webhook.certificate().fingerprint;
    const next = await issueServingCertificate(ca, {
      dnsNames: names,
      validityMs: 2 * DAY,
      keySize: 2048,
      now: new Date(),
    });
    const newFingerprint = describeCertificate(next.certPem).fingerprint;
    const body = JSON.stringify(gameServerReview('Ready', 'Ready'));
    const headers = { 'content-type': 'application/json' };
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const failures: string[] = [];
    let sent = 0;
    let running = true;
    let sawNewOnFresh = false;
    const keptAliveAfterSwap: string[] = [];

    // Two streams: fresh connections (each a new TLS handshake) and one kept-alive connection.
    const fresh = (async () => {
      while (running) {
        try {
          const a = await httpsRequest(webhook.admissionUrl, { body, headers, ca: ca.certPem });
          sent++;
          if (a.status !== 200) failures.push(`fresh: HTTP ${a.status}`);
          if (a.peerFingerprint === newFingerprint) sawNewOnFresh = true;
        } catch (err) {
          failures.push(`fresh: ${(err as Error).message}`);
        }
      }
    })();
    let swapped = false;
    const kept = (async () => {
      while (running) {
        try {
          const a = await httpsRequest(webhook.admissionUrl, {
            body,
            headers,
            ca: ca.certPem,
            agent: keepAlive,
          });
          sent++;
          if (a.status !== 200) failures.push(`kept: HTTP ${a.status}`);
          if (swapped && a.reusedSocket) keptAliveAfterSwap.push(a.peerFingerprint);
        } catch (err) {
          failures.push(`kept: ${(err as Error).message}`);
        }
      }
    })();

    await waitFor('traffic', () => sent >= 20);
    await writeCertFiles(reloadDir, next);
    swapped = true;
    await waitFor('the new certificate on a new connection', () => sawNewOnFresh);
    const sentAtSwitch = sent;
    await waitFor('more traffic after the switch', () => sent >= sentAtSwitch + 20);
    running = false;
    await Promise.all([fresh, kept]);
    keepAlive.destroy();

    expect(failures).toEqual([]);
    expect(webhook.certificate().fingerprint).toBe(newFingerprint);
    // The kept-alive connection went on serving requests over its original handshake.
    expect(keptAliveAfterSwap.length).toBeGreaterThan(0);
    expect(keptAliveAfterSwap[0]).toBe(oldFingerprint);
    expect(
      await metricValue(webhook.opsUrl, /^fleetiq_webhook_certificate_not_after_timestamp_seconds /),
    ).toBe(describeCertificate(next.certPem).notAfter / 1000);
  });

  it('ignores a half-written update (certificate without its key) until the pair matches', async () => {
    const current = webhook.certificate().fingerprint;
    const next = await issueServingCertificate(ca, {
      dnsNames: names,
      validityMs: 3 * DAY,
      keySize: 2048,
      now: new Date(),
    });
    const errorsBefore = await metricValue(
      webhook.opsUrl,
      /^fleetiq_webhook_certificate_reloads_total\{result="error"\}/,
    );
    await writeFile(join(reloadDir, 'tls.crt.tmp'), next.certPem);
    await rename(join(reloadDir, 'tls.crt.tmp'), join(reloadDir, 'tls.crt'));
    await waitFor(
      'the mismatch to be noticed',
      async () =>
        (await metricValue(webhook.opsUrl, /^fleetiq_webhook_certificate_reloads_total\{result="error"\}/)) >
        errorsBefore,
    );
    expect(webhook.certificate().fingerprint).toBe(current);
    const still = await httpsRequest(webhook.admissionUrl, {
      body: JSON.stringify(valid()),
      headers: { 'content-type': 'application/json' },
      ca: ca.certPem,
    });
    expect(still.peerFingerprint).toBe(current);
    await writeFile(join(reloadDir, 'tls.key.tmp'), next.keyPem);
    await rename(join(reloadDir, 'tls.key.tmp'), join(reloadDir, 'tls.key'));
    await waitFor(
      'the new pair',
      () => webhook.certificate().fingerprint === describeCertificate(next.certPem).fingerprint,
    );
  });

  const valid = () => gameServerReview('Ready', 'Ready');
});

describe('graceful shutdown', () => {
  it('stops accepting, finishes the request in flight, then closes', async () => {
    tripwire.mode = 'hang';
    tripwire.requests.length = 0;
    const webhook = await startWebhook(configFor(dir, { podPatchTimeoutMs: 800 }), {
      kubeConfig: kubeConfigFor(tripwire.url),
      logger: silent,
    });
    const body = JSON.stringify(gameServerReview('Ready', 'Allocated', { uid: 'inflight' }));
    // Kept alive, as the API server's connections are: only the webhook can ask for the close.
    const keepAlive = new https.Agent({ keepAlive: true });
    const inFlight = httpsRequest(webhook.admissionUrl, {
      body,
      headers: { 'content-type': 'application/json' },
      ca: ca.certPem,
      agent: keepAlive,
    });
    // The request is in flight once the webhook is waiting on the (hanging) API server.
    await waitFor('the request to reach the API', () =>
      tripwire.requests.some((r) => r.path.includes('/pods/')),
    );
    let stopResolved = false;
    const stopping = webhook.stop().then(() => (stopResolved = true));

    await waitFor('readiness to fail', async () => (await fetch(`${webhook.opsUrl}/readyz`)).status === 503);
    await expect(
      httpsRequest(webhook.admissionUrl, {
        body,
        headers: { 'content-type': 'application/json' },
        ca: ca.certPem,
      }),
    ).rejects.toThrow(/ECONNREFUSED|ECONNRESET|socket hang up/);
    expect(stopResolved).toBe(false);

    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.json.response).toMatchObject({ uid: 'inflight', allowed: true });
    expect(answer.headers.connection).toBe('close');
    keepAlive.destroy();
    await stopping;
    expect(stopResolved).toBe(true);
    await expect(fetch(`${webhook.opsUrl}/healthz`)).rejects.toThrow();
    tripwire.mode = 'unavailable';
  });

  it('cuts connections at the end of the grace period', async () => {
    tripwire.mode = 'hang';
    tripwire.requests.length = 0;
    // A budget longer than the grace period: the request cannot finish in time.
    const webhook = await startWebhook(configFor(dir, { podPatchTimeoutMs: 20_000, shutdownGraceMs: 200 }), {
      kubeConfig: kubeConfigFor(tripwire.url),
      logger: silent,
    });
    const inFlight = httpsRequest(webhook.admissionUrl, {
      body: JSON.stringify(gameServerReview('Ready', 'Allocated')),
      headers: { 'content-type': 'application/json' },
      ca: ca.certPem,
    });
    const outcome = inFlight.then(
      () => 'answered',
      () => 'cut',
    );
    await waitFor('the request to reach the API', () =>
      tripwire.requests.some((r) => r.path.includes('/pods/')),
    );
    await webhook.stop();
    expect(await outcome).toBe('cut');
    tripwire.mode = 'unavailable';
  });
});

describe('configuration', () => {
  const base = { certManagement: 'external', tlsCertFile: '/c', tlsKeyFile: '/k' };

  it('builds a config from flags', () => {
    const c = webhookConfigFromOptions({
      ...base,
      listen: '127.0.0.1:9443',
      podPatchTimeout: '1500ms',
      protectReserved: 'true',
      fence: 'false',
      onPodPatchFailure: 'deny',
      maxRequestBytes: '131072',
      maxConnections: '32',
      requestTimeout: '5s',
    });
    expect(c).toMatchObject({
      listen: { host: '127.0.0.1', port: 9443 },
      podPatchTimeoutMs: 1500,
      maxRequestBytes: 131072,
      maxConnections: 32,
      requestTimeoutMs: 5000,
      protectedStates: ['Allocated', 'Reserved'],
      fence: false,
      onPodPatchFailure: 'deny',
      tls: { mode: 'external', certFile: '/c', keyFile: '/k' },
    });
  });

  it('marks session pods for Karpenter by default; the flag or its variable turns it off', () => {
    expect(webhookConfigFromOptions(base).karpenterDoNotDisrupt).toBe(true);
    expect(configFor(dir).karpenterDoNotDisrupt).toBe(true);
    expect(
      webhookConfigFromOptions(base, { WEBHOOK_KARPENTER_DO_NOT_DISRUPT: 'off' }).karpenterDoNotDisrupt,
    ).toBe(false);
    expect(
      webhookConfigFromOptions(
        { ...base, karpenterDoNotDisrupt: true },
        { WEBHOOK_KARPENTER_DO_NOT_DISRUPT: 'false' },
      ).karpenterDoNotDisrupt,
    ).toBe(true);
  });

  it('protects Reserved by default, in process and on the command line, as the reconciler does', () => {
    expect(webhookConfigFromOptions(base).protectedStates).toEqual(['Allocated', 'Reserved']);
    expect(webhookConfigFromOptions(base, { WEBHOOK_PROTECT_RESERVED: 'false' }).protectedStates).toEqual([
      'Allocated',
    ]);
    expect(configFor(dir).protectedStates).toEqual(['Allocated', 'Reserved']);
    expect(
      parseReconcilerConfig({ NODE_NAME: 'n', GAME_SERVER_GROUP: 'g', REDIS_URL: 'r:1' }).decide
        .protectReserved,
    ).toBe(true);
  });

  it.each([
    [{ ...base, podPatchTimeout: '2 s' }, /--pod-patch-timeout/],
    [{ ...base, podPatchTimeout: '40s' }, /--pod-patch-timeout.*timeoutSeconds/],
    [{ ...base, onPodPatchFailure: 'maybe' }, /--on-pod-patch-failure/],
    [{ ...base, nodeStatusSource: 'psychic' }, /--node-status-source/],
    [{ ...base, listen: 'nope' }, /--listen/],
    [{ ...base, fence: 'perhaps' }, /--fence/],
    [
      { ...base, karpenterDoNotDisrupt: 'perhaps' },
      /--karpenter-do-not-disrupt \(WEBHOOK_KARPENTER_DO_NOT_DISRUPT\): expected true or false/,
    ],
    [{ ...base, path: 'mutate' }, /--path/],
    [{ ...base, shutdownGrace: '1h' }, /--shutdown-grace/],
    [{ ...base, maxRequestBytes: '1k' }, /--max-request-bytes \(WEBHOOK_MAX_REQUEST_BYTES\)/],
    [{ ...base, maxRequestBytes: '100' }, /--max-request-bytes \(WEBHOOK_MAX_REQUEST_BYTES\).*between/],
    [{ ...base, maxConnections: '0' }, /--max-connections \(WEBHOOK_MAX_CONNECTIONS\)/],
    [{ ...base, requestTimeout: '2m' }, /--request-timeout \(WEBHOOK_REQUEST_TIMEOUT\)/],
    [{ certManagement: 'external', tlsKeyFile: '/k' }, /--tls-cert-file/],
    [{ certManagement: 'magic' }, /--cert-management/],
    [{ certManagement: 'builtin', tlsCertFile: '/c' }, /--cert-management/],
    [{ certManagement: 'builtin', namespace: 'Bad_NS', secretName: 's', serviceName: 'svc' }, /--namespace/],
    [
      {
        certManagement: 'builtin',
        namespace: 'ns',
        secretName: 's',
        serviceName: 'svc',
        caValidity: '30d',
        servingValidity: '60d',
      },
      /--ca-validity/,
    ],
    [
      { certManagement: 'builtin', namespace: 'ns', secretName: 's', serviceName: 'svc', renewBefore: '1.5' },
      /--renew-before/,
    ],
    [
      { certManagement: 'builtin', namespace: 'ns', secretName: 's', serviceName: 'svc', keySize: '1024' },
      /--key-size/,
    ],
    [
      {
        certManagement: 'builtin',
        namespace: 'ns',
        secretName: 's',
        serviceName: 'svc',
        caRetireAfter: '1m',
        certCheckInterval: '1m',
      },
      /--ca-retire-after/,
    ],
  ])('rejects %j naming the setting', (opts, message) => {
    expect(() => webhookConfigFromOptions(opts as Record<string, string>)).toThrow(message);
  });

  it('fails to start without a usable certificate, naming the files', async () => {
    const config = configFor(join(dir, 'missing'));
    await expect(
      startWebhook(config, { kubeConfig: kubeConfigFor(tripwire.url), logger: silent }),
    ).rejects.toThrow(/tls\.crt.*tls\.key/);
  });
});
