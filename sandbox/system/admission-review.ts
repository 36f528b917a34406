// AdmissionReviews for GameServer updates as an API server sends them, with GameServers much like
// Agones stores them: what the webhook's tests and bench/webhook.ts send it.

export interface GameServerOptions {
  name?: string;
  namespace?: string;
  gameServerUid?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  /** Pads an annotation to make the object this many bytes larger (size-limit tests). */
  padBytes?: number;
}

/** A GameServer much like Agones stores one for a fleet replica (a few KB of JSON). */
export function gameServerObject(
  state: string | undefined,
  o: GameServerOptions = {},
): Record<string, unknown> {
  const name = o.name ?? 'fleet-a-x7k2p-9qwzr';
  return {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: {
      name,
      namespace: o.namespace ?? 'games',
      uid: o.gameServerUid ?? '6f1f3c3e-8a5e-4b8e-9a51-1f0c6d2b7a10',
      resourceVersion: o.resourceVersion ?? '482913',
      generation: 7,
      generateName: 'fleet-a-x7k2p-',
      creationTimestamp: '2030-01-01T00:00:00Z',
      finalizers: ['agones.dev/controller'],
      labels: { 'agones.dev/fleet': 'fleet-a', 'agones.dev/gameserverset': 'fleet-a-x7k2p', app: 'game' },
      annotations: {
        'agones.dev/ready-container-id': 'containerd://1f0c6d2b7a106f1f3c3e8a5e4b8e9a51',
        'agones.dev/sdk-version': '1.44.0',
        ...(o.padBytes ? { 'example.com/padding': 'x'.repeat(o.padBytes) } : {}),
        ...o.annotations,
      },
      ownerReferences: [
        {
          apiVersion: 'agones.dev/v1',
          kind: 'GameServerSet',
          name: 'fleet-a-x7k2p',
          uid: '0b6a0d1e-1c1c-4a8e-8f43-4a5f2b7e9c11',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'controller',
          operation: 'Update',
          apiVersion: 'agones.dev/v1',
          time: '2030-01-01T00:00:05Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': { '.': {}, 'f:state': {}, 'f:address': {}, 'f:ports': {} } },
        },
      ],
    },
    spec: {
      container: 'game',
      ports: [
        { name: 'default', portPolicy: 'Dynamic', containerPort: 7654, hostPort: 7234, protocol: 'UDP' },
      ],
      health: { disabled: false, periodSeconds: 5, failureThreshold: 3, initialDelaySeconds: 5 },
      scheduling: 'Packed',
      sdkServer: { logLevel: 'Info', grpcPort: 9357, httpPort: 9358 },
      eviction: { safe: 'Never' },
      template: {
        metadata: { labels: { app: 'game' } },
        spec: {
          containers: [
            {
              name: 'game',
              image: 'us-docker.pkg.dev/agones-images/examples/simple-game-server:0.35',
              resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '20m', memory: '64Mi' } },
              env: [{ name: 'SESSION_TIMEOUT', value: '600' }],
            },
          ],
          nodeSelector: { role: 'game-servers' },
        },
      },
    },
    ...(state === undefined
      ? {}
      : {
          status: {
            state,
            address: '10.0.12.34',
            addresses: [
              { type: 'InternalIP', address: '10.0.12.34' },
              { type: 'Hostname', address: 'ip-10-0-12-34' },
            ],
            nodeName: 'ip-10-0-12-34.ec2.internal',
            ports: [{ name: 'default', port: 7234 }],
            reservedUntil: null,
            players: null,
            counters: {},
            lists: {},
            eviction: { safe: 'Never' },
            immutableReplicas: 1,
          },
        }),
  };
}

export interface ReviewOptions {
  uid?: string;
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  dryRun?: boolean;
  kind?: { group: string; version: string; kind: string };
  object?: Record<string, unknown> | null;
  oldObject?: Record<string, unknown> | null;
}

/** An admission.k8s.io/v1 AdmissionReview for a GameServer update from `from` to `to`. */
export function gameServerReview(
  from: string | undefined,
  to: string | undefined,
  o: ReviewOptions & GameServerOptions = {},
) {
  const object = o.object !== undefined ? o.object : gameServerObject(to, o);
  const oldObject =
    o.oldObject !== undefined ? o.oldObject : gameServerObject(from, { ...o, annotations: {} });
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: o.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: o.kind ?? { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
      resource: { group: 'agones.dev', version: 'v1', resource: 'gameservers' },
      requestKind: o.kind ?? { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
      requestResource: { group: 'agones.dev', version: 'v1', resource: 'gameservers' },
      name: (object as { metadata?: { name?: string } } | null)?.metadata?.name ?? 'fleet-a-x7k2p-9qwzr',
      namespace: 'games',
      operation: o.operation ?? 'UPDATE',
      userInfo: {
        username: 'system:serviceaccount:agones-system:agones-allocator',
        groups: ['system:serviceaccounts', 'system:authenticated'],
      },
      object,
      oldObject,
      dryRun: o.dryRun ?? false,
      options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}
