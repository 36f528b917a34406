// The webhook's stop and the API server's kept-alive connections: a request the API server sends on an
// idle connection just as the webhook stops must be answered (with Connection: close), not lost to a
// connection closed under it; a connection nobody uses is closed once the short drain is over.
import { beforeAll, describe, expect, it } from '@jest/globals';
import https from 'node:https';
import type { Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createCertificateAuthority, issueServingCertificate, type KeyPairPem } from '../../certs/issue.js';
import { createLogger } from '../../shared/logger.js';
import { webhookConfig } from '../../webhook/config.js';
import { startWebhook, type RunningWebhook } from '../../webhook/server.js';
import { StaticCertificateSource, servingCertificateFrom } from '../../webhook/tls-source.js';
import { httpsRequest } from './fixtures.js';
import { gameServerReview } from '../../sandbox/system/admission-review.js';

const DAY = 86_400_000;
const silent = createLogger('webhook-test', 'silent');
let ca: KeyPairPem;
let serving: KeyPairPem;

beforeAll(async () => {
  ca = await createCertificateAuthority({
    commonName: 'test-ca',
    validityMs: 10 * DAY,
    keySize: 2048,
    now: new Date(),
  });
  serving = await issueServingCertificate(ca, {
    dnsNames: ['localhost'],
    validityMs: DAY,
    keySize: 2048,
    now: new Date(),
  });
});

async function start(): Promise<RunningWebhook> {
  // Nothing here reaches the Kubernetes API (non-transition reviews, no fence): an address nobody serves.
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'webhook', token: 't' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'webhook' }],
    currentContext: 'none',
  });
  return startWebhook(
    webhookConfig(
      {
        mode: 'static',
        source: new StaticCertificateSource(servingCertificateFrom(serving.certPem, serving.keyPem)),
      },
      { listen: { host: '127.0.0.1', port: 0 }, opsListen: { host: '127.0.0.1', port: 0 }, fence: false },
    ),
    { kubeConfig: kc, logger: silent },
  );
}

const review = (uid: string) => JSON.stringify(gameServerReview('Ready', 'Ready', { uid }));

function post(w: RunningWebhook, agent: https.Agent, uid: string) {
  return httpsRequest(w.admissionUrl, {
    body: review(uid),
    headers: { 'content-type': 'application/json' },
    ca: ca.certPem,
    agent,
  });
}

describe('stopping with kept-alive connections', () => {
  it('answers a request sent on an idle connection as the stop begins, and closes that connection after it', async () => {
    const w = await start();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await post(w, agent, 'first');
      expect(first.status).toBe(200);
      expect(first.headers.connection).not.toBe('close');

      const stopping = w.stop();
      // The API server's pool hands out the idle connection right now.
      const second = await post(w, agent, 'second');
      expect(second.status).toBe(200);
      expect(second.reusedSocket).toBe(true);
      expect(second.json.response).toMatchObject({ uid: 'second', allowed: true });
      expect(second.headers.connection).toBe('close');
      await stopping;
      // No new connection is accepted once stopping.
      await expect(post(w, agent, 'third')).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      agent.destroy();
      await w.stop();
    }
  });

  it('closes a connection left idle once the drain is over', async () => {
    const w = await start();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await post(w, agent, 'only');
      const idle = Object.values(agent.freeSockets).flat()[0] as Socket;
      expect(idle).toBeDefined();
      const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
      await w.stop();
      await closed;
      expect(idle.destroyed).toBe(true);
    } finally {
      agent.destroy();
    }
  });
});
