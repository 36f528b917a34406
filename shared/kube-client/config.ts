// Where the node agent and pubsub find their Kubernetes API server and credentials: the standard
// places, in client-node's (and kubectl's) order: KUBECONFIG, else ~/.kube/config, else the
// in-cluster ServiceAccount (its token file re-read every minute, as the kubelet rotates it).
//
// Why not client-node's KubeConfig itself: loading it loads most of the package (its generated API
// configuration, its own undici, proxy and OIDC clients), about 21 MiB resident of the ~30 MiB the
// package costs a process (README, "Memory"). So the common forms are read here: a bearer token or
// token file, a client certificate and key, a CA, insecure-skip-tls-verify and tls-server-name.
// Any other form of authentication (exec plugins such as `aws eks get-token`, auth-providers,
// basic auth, impersonation), a proxy-url, or a KUBECONFIG list of several files is not
// re-implemented: it is handed to client-node's KubeConfig, imported only then.
//
// A configuration is anything with getCurrentCluster() and applyToHTTPSOptions(): client-node's
// KubeConfig fits as it is (the tests pass theirs), and so does what loadKubeClientConfig() returns.
import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from '../ops-server.js';

export interface KubeClusterInfo {
  readonly name: string;
  /** The API server's URL, without a trailing slash. */
  readonly server: string;
  readonly proxyUrl?: string;
}

/** What a Kubernetes connection needs from a configuration (client-node's KubeConfig has both). */
export interface KubeClientConfig {
  getCurrentCluster(): KubeClusterInfo | null;
  /**
   * Sets the TLS material (`ca`, `cert`, `key`, `rejectUnauthorized`, `servername`) and the request
   * headers (`Authorization`) on `opts`, and an `agent` where the connection needs one (a proxy).
   * Called for every request: a rotated token is picked up.
   */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

export const SERVICE_ACCOUNT_ROOT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go and client-node re-read a token file once a minute: the kubelet rotates it well before expiry. */
export const TOKEN_FILE_REFRESH_MS = 60_000;

interface Cluster extends KubeClusterInfo {
  caFile?: string;
  caData?: string;
  skipTLSVerify: boolean;
  tlsServerName?: string;
}

interface User {
  token?: string;
  tokenFile?: string;
  certFile?: string;
  certData?: string;
  keyFile?: string;
  keyData?: string;
}

/** The fields of a kubeconfig user that this module reads; any other one goes to client-node. */
const USER_FIELDS = new Set([
  'token',
  'tokenFile',
  'token-file',
  'client-certificate',
  'client-certificate-data',
  'client-key',
  'client-key-data',
]);
/** Likewise for a cluster. */
const CLUSTER_FIELDS = new Set([
  'server',
  'certificate-authority',
  'certificate-authority-data',
  'insecure-skip-tls-verify',
  'tls-server-name',
  'extensions',
]);

/** A configuration read here: the TLS material read once, a token file re-read every minute. */
export class SimpleKubeConfig implements KubeClientConfig {
  private tls?: Pick<RequestOptions, 'ca' | 'cert' | 'key'>;
  private fileToken?: { token: string; readAt: number };

  constructor(
    readonly cluster: Cluster,
    readonly user: User,
    private readonly now: () => number = Date.now,
  ) {}

  getCurrentCluster(): KubeClusterInfo {
    return this.cluster;
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    const { cluster, user } = this;
    if (cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
    this.tls ??= {
      ca: fileOrData(cluster.caFile, cluster.caData),
      cert: fileOrData(user.certFile, user.certData),
      key: fileOrData(user.keyFile, user.keyData),
    };
    if (this.tls.ca) opts.ca = this.tls.ca;
    if (this.tls.cert) opts.cert = this.tls.cert;
    if (this.tls.key) opts.key = this.tls.key;
    const token = user.token ?? this.tokenFromFile();
    if (token) opts.headers = { ...opts.headers, Authorization: `Bearer ${token}` };
  }

  private tokenFromFile(): string | undefined {
    const file = this.user.tokenFile;
    if (!file) return undefined;
    const now = this.now();
    if (!this.fileToken || now - this.fileToken.readAt > TOKEN_FILE_REFRESH_MS) {
      this.fileToken = { token: readFileSync(file, 'utf8').trim(), readAt: now };
    }
    return this.fileToken.token;
  }
}

/**
 * A configuration of a form not read here: client-node's KubeConfig, loaded from the same files as
 * its loadFromDefault() would (the first, the others merged in), imported on the first request (its
 * own chunk of the bundle, loaded only by processes with such a configuration).
 */
export class DelegatedKubeConfig implements KubeClientConfig {
  private loaded?: Promise<KubeClientConfig>;

  constructor(
    private readonly cluster: KubeClusterInfo,
    private readonly files: readonly string[],
    /** Why this configuration goes to client-node. */
    readonly reason: string,
  ) {}

  getCurrentCluster(): KubeClusterInfo {
    return this.cluster;
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    this.loaded ??= import('./client-node-config.js').then(({ KubeConfig }) => {
      const [first, ...others] = this.files;
      const kc = new KubeConfig();
      kc.loadFromFile(first!);
      for (const file of others) {
        const more = new KubeConfig();
        more.loadFromFile(file);
        kc.mergeConfig(more);
      }
      return kc;
    });
    await (await this.loaded).applyToHTTPSOptions(opts);
  }
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return readFileSync(file);
  if (data) return Buffer.from(data, 'base64');
  return undefined;
}

export interface LoadEnvironment {
  env?: NodeJS.ProcessEnv;
  /** Where the in-cluster ServiceAccount's files are (tests point it elsewhere). */
  serviceAccountRoot?: string;
  /** The clock of token-file refreshes. */
  now?: () => number;
}

/**
 * The configuration from the standard places, as client-node's KubeConfig.loadFromDefault() finds
 * it, with errors that name KUBECONFIG; a current context that names no cluster or a cluster without
 * a server is refused at once rather than at the first request.
 */
export function loadKubeClientConfig(o: LoadEnvironment = {}): SimpleKubeConfig | DelegatedKubeConfig {
  const env = o.env ?? process.env;
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (files.length === 0) {
    const home = env.HOME ? join(env.HOME, '.kube', 'config') : undefined;
    if (home && existsSync(home)) files.push(home);
  }
  if (files.length === 0) {
    const root = o.serviceAccountRoot ?? SERVICE_ACCOUNT_ROOT;
    if (existsSync(join(root, 'token'))) return inCluster(env, root, o.now);
    // client-node's last resort: an insecure local API server (kubectl proxy).
    return new SimpleKubeConfig(
      { name: 'cluster', server: 'http://localhost:8080', skipTLSVerify: false },
      {},
    );
  }
  const where = env.KUBECONFIG ? `"${env.KUBECONFIG}"` : 'the default kubeconfig';
  const first = readKubeconfig(files[0]!, where);
  if (files.length > 1)
    return new DelegatedKubeConfig(first.cluster, files, 'KUBECONFIG lists several files');
  if (first.delegate) return new DelegatedKubeConfig(first.cluster, files, first.delegate);
  return new SimpleKubeConfig(first.cluster, first.user, o.now);
}

function inCluster(env: NodeJS.ProcessEnv, root: string, now?: () => number): SimpleKubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (!host || !port) {
    throw new ConfigError(
      'KUBECONFIG',
      'not set, no ~/.kube/config, and KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set for the in-cluster ServiceAccount',
    );
  }
  // As client-node: the ports kubectl proxy and insecure API servers listen on are plain HTTP.
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  return new SimpleKubeConfig(
    { name: 'inCluster', server, caFile: join(root, 'ca.crt'), skipTLSVerify: false },
    { tokenFile: join(root, 'token') },
    now,
  );
}

type Entry = Record<string, unknown>;

function named(list: unknown, name: string, field: string): Entry | undefined {
  if (!Array.isArray(list)) return undefined;
  const found = list.find((e: unknown) => (e as Entry | null)?.name === name) as Entry | undefined;
  const inner = found?.[field];
  return inner && typeof inner === 'object' ? (inner as Entry) : found ? {} : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** One kubeconfig file: its current context's cluster and user, or why client-node must read it. */
function readKubeconfig(file: string, where: string): { cluster: Cluster; user: User; delegate?: string } {
  let doc: Entry;
  try {
    doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Entry;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError('KUBECONFIG', `cannot load ${where}: ${e.code ?? e.message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object') throw new ConfigError('KUBECONFIG', `cannot load ${where}: not a kubeconfig`);
  const contextName = str(doc['current-context']) ?? '';
  const context = named(doc.contexts, contextName, 'context');
  const clusterName = str(context?.cluster);
  const c = clusterName ? named(doc.clusters, clusterName, 'cluster') : undefined;
  if (!c || !clusterName)
    throw new ConfigError('KUBECONFIG', `${where}: the current context "${contextName}" names no cluster`);
  const server = str(c.server)?.replace(/\/$/, '');
  if (!server) throw new ConfigError('KUBECONFIG', `${where}: cluster "${clusterName}" has no server`);
  // Relative paths in a kubeconfig are relative to the file.
  const path = (v: unknown) => {
    const p = str(v);
    return p && !isAbsolute(p) ? join(dirname(file), p) : p;
  };
  const cluster: Cluster = {
    name: clusterName,
    server,
    caFile: path(c['certificate-authority']),
    caData: str(c['certificate-authority-data']),
    skipTLSVerify: c['insecure-skip-tls-verify'] === true,
    tlsServerName: str(c['tls-server-name']),
    proxyUrl: str(c['proxy-url']),
  };
  const userName = str(context?.user);
  const u = (userName ? named(doc.users, userName, 'user') : undefined) ?? {};
  const user: User = {
    token: str(u.token),
    tokenFile: path(u.tokenFile ?? u['token-file']),
    certFile: path(u['client-certificate']),
    certData: str(u['client-certificate-data']),
    keyFile: path(u['client-key']),
    keyData: str(u['client-key-data']),
  };
  const other = [
    ...Object.keys(u).filter((k) => !USER_FIELDS.has(k) && u[k] != null),
    ...Object.keys(c).filter((k) => !CLUSTER_FIELDS.has(k) && c[k] != null),
  ];
  return { cluster, user, delegate: other.length ? `the kubeconfig uses ${other.join(', ')}` : undefined };
}
