// A pod that already tolerates the drain taint but whose Karpenter mark cannot be added (the API server
// refuses the patch): the pod update sends only the mark, the failure says so (reason, Event, warning),
// the failure policy applies, and when allowed the GameServer is still annotated (its pod does
// tolerate). Against a minimal fake of the three API calls involved, so the refusal is certain.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { DRAIN_TOLERATION, DRAIN_TOLERATION_ANNOTATION } from '../../shared/contract.js';
import { KARPENTER_DO_NOT_DISRUPT_ANNOTATION } from '../../shared/drain-contract.js';
import { createLogger } from '../../shared/logger.js';
import { answerReview, type AdmissionPolicy } from '../../webhook/admission.js';
import type { EventRecorder } from '../../webhook/events.js';
import { createWebhookMetrics } from '../../webhook/metrics.js';
import { DirectNodeStatus } from '../../webhook/node-status.js';
import { KubePodTolerator } from '../../webhook/pod-toleration.js';
import type { AdmissionReview } from '../../webhook/review-schema.js';
import { gameServerReview } from '../../sandbox/system/admission-review.js';

const NAME = 'fleet-a-x7k2p-9qwzr';
const NS = 'games';
const GS_UID = '6f1f3c3e-8a5e-4b8e-9a51-1f0c6d2b7a10';

/** The review the API server sends for the allocation; its oldObject is what it stores. */
const review = gameServerReview('Ready', 'Allocated', { uid: 'r1' }) as AdmissionReview;

let server: http.Server;
let kc: KubeConfig;
const patches: unknown[] = [];

/** The pod as Agones made it, already tolerating (allocated while the mark was off). */
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: NAME,
    namespace: NS,
    uid: 'pod-uid',
    resourceVersion: '7',
    annotations: { 'agones.dev/sdk-version': '1.50.0' },
    ownerReferences: [
      { apiVersion: 'agones.dev/v1', kind: 'GameServer', name: NAME, uid: GS_UID, controller: true },
    ],
  },
  spec: {
    nodeName: 'node-a',
    tolerations: [{ ...DRAIN_TOLERATION }],
    containers: [{ name: 'g', image: 'g' }],
  },
};

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = (code: number, body: unknown) =>
        res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'GET' && req.url === `/api/v1/namespaces/${NS}/pods/${NAME}`) return json(200, pod);
      if (req.method === 'GET' && req.url === `/apis/agones.dev/v1/namespaces/${NS}/gameservers/${NAME}`)
        return json(200, review.request.oldObject);
      if (req.method === 'GET' && req.url === '/api/v1/nodes/node-a')
        return json(200, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: {} } });
      if (req.method === 'PATCH') {
        patches.push(JSON.parse(Buffer.concat(chunks).toString()));
        return json(403, {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
          message: 'pods "x" is forbidden: ValidatingAdmissionPolicy denied the request',
        });
      }
      json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'fake',
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: 'webhook', token: 't' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'webhook' }],
    currentContext: 'fake',
  });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function answer(onPodPatchFailure: AdmissionPolicy['onPodPatchFailure']) {
  const events: { reason: string; message: string }[] = [];
  const recorder: EventRecorder = {
    warning: (_gs, reason, message) => events.push({ reason, message }),
    flush: async () => {},
  };
  const tolerator = new KubePodTolerator(kc, new DirectNodeStatus(kc), {
    fence: true,
    karpenterDoNotDisrupt: true,
    budgetMs: 2000,
  });
  return answerReview(
    review,
    { protectedStates: new Set(['Allocated']), onPodPatchFailure },
    {
      tolerator,
      events: recorder,
      metrics: createWebhookMetrics(new Registry()),
      logger: createLogger('test', 'silent'),
    },
  ).then((a) => ({ ...a, events }));
}

describe('a tolerating pod whose Karpenter mark is refused', () => {
  it('sends only the mark, and by default allows with a warning, annotates the GameServer and records why', async () => {
    patches.length = 0;
    const a = await answer('allow');
    expect(patches).toEqual([
      [
        { op: 'test', path: '/metadata/uid', value: 'pod-uid' },
        { op: 'add', path: '/metadata/annotations/karpenter.sh~1do-not-disrupt', value: 'true' },
      ],
    ]);
    expect(a.outcome).toBe('failed_allowed');
    expect(a.reason).toBe('failed-api-error');
    expect(a.response.allowed).toBe(true);
    expect(a.response.warnings).toEqual([
      `pod of GameServer ${NS}/${NAME} lacks ${KARPENTER_DO_NOT_DISRUPT_ANNOTATION} (api-error): Karpenter may disrupt its node`,
    ]);
    // The pod does tolerate the drain taint: the GameServer says so.
    expect(JSON.parse(Buffer.from(a.response.patch!, 'base64').toString())).toEqual([
      {
        op: 'add',
        path: `/metadata/annotations/${DRAIN_TOLERATION_ANNOTATION.replace('/', '~1')}`,
        value: 'true',
      },
    ]);
    expect(a.events).toEqual([
      {
        reason: 'DoNotDisruptMarkFailed',
        message: expect.stringContaining(`could not mark the pod of GameServer ${NS}/${NAME}`),
      },
    ]);
  });

  it('with --on-pod-patch-failure=deny refuses the allocation (409 Conflict)', async () => {
    const a = await answer('deny');
    expect(a.outcome).toBe('failed_denied');
    expect(a.response).toMatchObject({
      allowed: false,
      status: { code: 409, reason: 'Conflict', message: expect.stringContaining('could not mark the pod') },
    });
  });
});
