// The Kubernetes API server emulator: store + pipeline + garbage collector + HTTPS front, the
// identities that may talk to it (bearer tokens), kubeconfigs for them, and the in-process client.
import { pino, type Logger } from 'pino';
import type { SimClock } from '../clock.js';
import { TokenAuthenticator } from './authn.js';
import { Discovery } from './discovery.js';
import {
  applyMutatingWebhookConfigurationDefaults,
  createMutatingAdmission,
  mutatingWebhookConfigurationErrors,
  type MutatingAdmission,
} from './admission/index.js';
import { GarbageCollector } from './gc.js';
import { OpenApiV3 } from './openapi.js';
import { startHttpServer, type KubeHttpServer } from './http-server.js';
import { renderKubeconfig, writeKubeconfigFile } from './kubeconfig.js';
import { createLocalClient } from './local-client.js';
import { ALLOW_ALL, Pipeline, type Admitter, type CreateHook } from './pipeline.js';
import { createRbacAuthorizer } from './rbac.js';
import { RequestLog } from './request-log.js';
import { ResourceRegistry } from './resources.js';
import { ObjectStore } from './store.js';
import { emulatorTls } from './tls.js';
import type {
  AuthorizationDecision,
  Authorizer,
  KubeObject,
  LocalClient,
  ServiceResolver,
  UserInfo,
} from './types.js';

export const ADMIN_USER: UserInfo = {
  username: 'system:admin',
  groups: ['system:masters', 'system:authenticated'],
};

export const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export interface KubeEmulatorOptions {
  /** Where the HTTPS server listens; default 127.0.0.1 on an ephemeral port. */
  listen?: { host: string; port: number };
  /** 'rbac' (default): decisions from the stored RBAC objects; 'allow-all': every request is allowed. */
  authorization?: 'rbac' | 'allow-all';
  /** Replaces the authorizer chosen by `authorization`. */
  authorizer?: Authorizer;
  /**
   * Mutating admission: 'webhooks' (default) calls the stored MutatingWebhookConfigurations as
   * kube-apiserver does; 'none' skips admission; or any Admitter. `setAdmission` changes it later.
   */
  admission?: Admitter | 'webhooks' | 'none';
  logger?: Logger;
  clock?: SimClock;
  /** Random numbers in [0, 1) for generated names (default Math.random). */
  random?: () => number;
  /** Events kept per resource for watches resuming from a resourceVersion (default 10,000). */
  watchHistorySize?: number;
  bookmarkIntervalMs?: number;
  /** An HTTP watch whose unsent data exceeds this is closed (default 16 MiB). */
  watchBufferLimitBytes?: number;
}

export interface KubeEmulator {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** PEM of the CA that signed the serving certificate. */
  readonly ca: string;
  readonly store: ObjectStore;
  readonly pipeline: Pipeline;
  readonly registry: ResourceRegistry;
  readonly requestLog: RequestLog;
  /** The authorizer in use (the RBAC one exposes `audit`). */
  readonly authorizer: Authorizer;
  /** The webhook admission (its per-webhook call stats), when admission is 'webhooks'. */
  readonly webhooks: MutatingAdmission | undefined;
  /** A bearer token for this identity (the same token each time for the same username). */
  addIdentity(user: UserInfo): string;
  /** A kubeconfig (YAML) for the identity, admin by default. */
  kubeconfig(user?: UserInfo, namespace?: string): string;
  writeKubeconfig(path: string, user?: UserInfo, namespace?: string): Promise<void>;
  /** The in-process client, going through the pipeline as `user` (admin by default). */
  client(user?: UserInfo): LocalClient;
  /** Where `<name>.<namespace>.svc` really listens (the webhook servers of tests and the simulation). */
  registerServiceEndpoint(namespace: string, name: string, host: string, port: number): void;
  readonly resolveService: ServiceResolver;
  setAdmission(admission: Admitter | undefined): void;
  /** What create of a GameServerAllocation does; without one it answers 503 like an absent Agones allocator. */
  setAllocationHandler(hook: CreateHook | undefined): void;
  /** Resolves when the garbage collector has nothing queued. */
  gcIdle(): Promise<void>;
  /** TLS connections the HTTPS server has accepted so far (how well clients reuse connections). */
  tlsConnections(): number;
  stop(): Promise<void>;
}

function bootstrapRbac(): Array<{ resource: string; obj: KubeObject }> {
  const g = 'rbac.authorization.k8s.io';
  return [
    {
      resource: 'clusterroles',
      obj: {
        apiVersion: `${g}/v1`,
        kind: 'ClusterRole',
        metadata: { name: 'cluster-admin', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
        rules: [
          { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
          { nonResourceURLs: ['*'], verbs: ['*'] },
        ],
      },
    },
    {
      resource: 'clusterrolebindings',
      obj: {
        apiVersion: `${g}/v1`,
        kind: 'ClusterRoleBinding',
        metadata: { name: 'cluster-admin', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
        roleRef: { apiGroup: g, kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ apiGroup: g, kind: 'Group', name: 'system:masters' }],
      },
    },
  ];
}

export async function startKubeEmulator(options: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const clock = options.clock;
  const now = () => (clock ? clock.now() : Date.now());
  const registry = new ResourceRegistry();
  const store = new ObjectStore({
    historySize: options.watchHistorySize,
    bookmarkIntervalMs: options.bookmarkIntervalMs,
  });
  const requestLog = new RequestLog();
  const pipeline = new Pipeline({
    registry,
    store,
    authorizer: ALLOW_ALL,
    requestLog,
    logger,
    now,
    ...(options.random ? { random: options.random } : {}),
  });

  let authorizer: Authorizer;
  let authorizeNonResource:
    ((user: UserInfo, path: string, verb: string) => AuthorizationDecision) | undefined;
  if (options.authorizer) authorizer = options.authorizer;
  else if ((options.authorization ?? 'rbac') === 'rbac') {
    const rbac = createRbacAuthorizer(pipeline.reader(), {
      subscribe: (onChange) =>
        store.onCommit((collection) => {
          if (collection.startsWith('rbac.authorization.k8s.io/')) onChange();
        }),
    });
    authorizer = rbac;
    authorizeNonResource = (user, path, verb) => rbac.authorizeNonResource(user, path, verb);
  } else authorizer = ALLOW_ALL;

  // The API server's own rules for webhook configurations (defaults and validation).
  pipeline.typeRules.set('admissionregistration.k8s.io/mutatingwebhookconfigurations', {
    defaults: applyMutatingWebhookConfigurationDefaults,
    validate: (obj) => mutatingWebhookConfigurationErrors(obj),
  });

  const services = new Map<string, { host: string; port: number }>();
  const resolveService: ServiceResolver = (namespace, name) => services.get(`${namespace}/${name}`);
  const admissionOption = options.admission ?? 'webhooks';
  const webhooks =
    admissionOption === 'webhooks'
      ? createMutatingAdmission({ reader: pipeline.reader(), resolveService, logger })
      : undefined;
  pipeline.admission =
    admissionOption === 'webhooks' ? webhooks : admissionOption === 'none' ? undefined : admissionOption;

  const gc = new GarbageCollector(pipeline, store, logger);
  const admin = createLocalClient(pipeline, ADMIN_USER);
  for (const name of INITIAL_NAMESPACES)
    await admin.create({ group: '', version: 'v1', resource: 'namespaces' }, { metadata: { name } });
  for (const { resource, obj } of bootstrapRbac())
    await admin.create({ group: 'rbac.authorization.k8s.io', version: 'v1', resource }, obj);
  // Bootstrap writes go through as admin; from here on the chosen authorizer decides.
  pipeline.authorizer = authorizer;

  const tokens = new TokenAuthenticator();
  const tokenOf = new Map<string, string>();
  const addIdentity = (user: UserInfo): string => {
    let t = tokenOf.get(user.username);
    if (!t) {
      t = tokens.issue(user);
      tokenOf.set(user.username, t);
    }
    return t;
  };

  const tls = emulatorTls();
  let http: KubeHttpServer;
  try {
    http = await startHttpServer({
      pipeline,
      discovery: new Discovery(registry),
      openapi: new OpenApiV3(registry),
      tls,
      listen: options.listen ?? { host: '127.0.0.1', port: 0 },
      authenticate: (header) => tokens.authenticate(header),
      authorizeNonResource,
      logger,
      now,
      watchBufferLimitBytes: options.watchBufferLimitBytes,
    });
  } catch (err) {
    gc.stop();
    store.close();
    webhooks?.close();
    throw err;
  }

  const kubeconfigFor = (user: UserInfo = ADMIN_USER, namespace?: string) => ({
    server: http.url,
    caPem: tls.ca,
    token: addIdentity(user),
    user: user.username,
    namespace,
  });

  logger.info({ url: http.url }, 'kube emulator serving');
  return {
    url: http.url,
    ca: tls.ca,
    store,
    pipeline,
    registry,
    requestLog,
    authorizer,
    webhooks,
    addIdentity,
    kubeconfig: (user, namespace) => renderKubeconfig(kubeconfigFor(user, namespace)),
    writeKubeconfig: (path, user, namespace) => writeKubeconfigFile(path, kubeconfigFor(user, namespace)),
    client: (user = ADMIN_USER) => createLocalClient(pipeline, user),
    registerServiceEndpoint: (namespace, name, host, port) =>
      services.set(`${namespace}/${name}`, { host, port }),
    resolveService,
    setAdmission: (a) => {
      pipeline.admission = a;
    },
    setAllocationHandler: (hook) =>
      pipeline.setCreateHook('allocation.agones.dev', 'gameserverallocations', hook),
    gcIdle: () => gc.idle(),
    tlsConnections: () => http.tlsConnections(),
    async stop() {
      gc.stop();
      store.close();
      webhooks?.close();
      await http.close();
    },
  };
}
