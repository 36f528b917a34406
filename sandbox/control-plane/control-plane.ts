// The real Kubernetes control plane for tests and the sandbox: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, built from pinned Go modules (binaries.ts), started on
// free loopback ports in a folder of their own, with real TLS, service-account token signing and
// issuing (TokenRequest), Node and RBAC authorization, the default admission plugins (pods get their
// default tolerations as on EKS) and ValidatingAdmissionPolicy. `startControlPlane` resolves once
// all four are ready and the default ServiceAccount exists (pods can be created); `stop()` ends them
// and removes the folder. A process that dies is reported with its log tail, and the others are
// stopped at once so that clients fail fast instead of hanging. Nothing outlives the process that
// started them: the children die with it (pdeathsig), and a folder left by a killed run is swept
// at the next start.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import https from 'node:https';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SetupError, freePort } from '../run/redis-process.js';
import { renderKubeconfig } from '../kube/kubeconfig.js';
import { controlPlaneBinaries } from './binaries.js';
import { createControlPlanePki } from './pki.js';
import { ManagedProcess, type ExitInfo } from './process.js';

/** Folders of runs live under the temp folder with this prefix (the sweep finds them by it). */
export const RUN_DIR_PREFIX = 'fleetiq-testbed-';
/** The Service network; the `kubernetes` Service takes its first address. */
export const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_IP = '10.96.0.1';
/** How long a run folder without its owner file is taken for one being created, not one left behind. */
const OWNERLESS_GRACE_MS = 60_000;
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ControlPlaneOptions {
  /** Also write the admin kubeconfig here (it is always in the run folder too). */
  kubeconfigPath?: string;
  /** Folder with the four binaries (default: built or found by scripts/build-testbed.sh). */
  binDir?: string;
  /** How long start may take before it gives up (default 120 s: a loaded machine is slow). */
  readyTimeoutMs?: number;
  /** kube-controller-manager's --controllers (default all that run by default). */
  controllers?: string[];
  /** An audit policy (audit.k8s.io/v1 Policy): the API server writes its events to `auditLogPath`. */
  auditPolicy?: Record<string, unknown>;
  /** Extra flags, for tests of one behaviour. */
  apiServerArgs?: string[];
  controllerManagerArgs?: string[];
  /** Progress lines (default: nothing). */
  log?: (line: string) => void;
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly caPem: string;
  /** A bearer token of `fleetiq-testbed-admin` in group system:masters. */
  readonly adminToken: string;
  /** The admin kubeconfig (in the run folder, or where the options asked). */
  readonly kubeconfigPath: string;
  readonly kubeconfig: string;
  /** The run folder: certificates, etcd's data, each process's log. */
  readonly dir: string;
  /** Where the API server writes audit events (JSON lines), with an `auditPolicy`. */
  readonly auditLogPath?: string;
  readonly processes: readonly ManagedProcess[];
  /** Set once a process has died on its own, with its log tail; undefined while all is well. */
  failure(): Error | undefined;
  /** Seconds from the call to ready. */
  readonly startSeconds: number;
  stop(): Promise<void>;
}

/** The processes of every control plane this process has started and not yet stopped. */
const live = new Map<string, ManagedProcess[]>();
let exitHooksInstalled = false;

function killAllNow(): void {
  for (const [dir, procs] of live) {
    for (const p of procs) p.killNow();
    rmSync(dir, { recursive: true, force: true });
  }
  live.clear();
}

/**
 * Exit handlers cannot wait, so they kill with SIGKILL and remove the folders synchronously. A
 * signal handler is only added where nobody else handles that signal (then the default action,
 * exiting, is restored and the signal raised again).
 */
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(sig) > 0) continue;
    const onSignal = () => {
      killAllNow();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the folders of runs whose owner is gone (killed before it could clean up), and kills any
 * of their processes still running (only processes whose command line names that folder).
 */
export function sweepStaleRuns(base = tmpdir()): string[] {
  const swept: string[] = [];
  for (const entry of readdirSync(base)) {
    if (!entry.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = join(base, entry);
    let owner: { pid?: number; pids?: number[] } = {};
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8'));
    } catch {
      // No owner file: a run starting right now (another test worker) that has not written it yet,
      // or one killed before it could; only the second is old.
      try {
        if (Date.now() - statSync(dir).mtimeMs < OWNERLESS_GRACE_MS) continue;
      } catch {
        continue; // Gone meanwhile.
      }
    }
    if (owner.pid !== undefined && alive(owner.pid)) continue;
    for (const pid of owner.pids ?? []) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    rmSync(dir, { recursive: true, force: true });
    swept.push(dir);
  }
  return swept;
}

interface Probe {
  url: string;
  token?: string;
  ca?: string;
  expect?: (body: string) => boolean;
}

function probe(p: Probe): Promise<boolean> {
  return new Promise((resolve) => {
    const u = new URL(p.url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: 'GET',
        timeout: 2_000,
        headers: p.token ? { Authorization: `Bearer ${p.token}` } : {},
        // The controller-manager's and scheduler's health ports serve self-signed certificates.
        ...(u.protocol === 'https:' ? (p.ca ? { ca: p.ca } : { rejectUnauthorized: false }) : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 && (p.expect ? p.expect(body) : true)));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

class PortInUse extends Error {}

/** Starts a control plane; see the file comment. Throws SetupError when it cannot. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = options.binDir ?? controlPlaneBinaries();
  sweepStaleRuns();
  // Free ports are picked and then released, so another program can take one in between: that run
  // is retried on new ports (twice), and reported as such if it keeps happening.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binDir, options);
    } catch (err) {
      if (!(err instanceof PortInUse)) throw err;
      if (attempt >= 3)
        throw new SetupError(
          `control plane did not start: a port stayed in use over 3 attempts. ${err.message}`,
        );
      options.log?.(`control plane: ${err.message.split('\n')[0]}; retrying on other ports`);
    }
  }
}

async function startOnce(binDir: string, options: ControlPlaneOptions): Promise<ControlPlane> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const deadline = started + (options.readyTimeoutMs ?? 120_000);
  const dir = await mkdtemp(join(tmpdir(), RUN_DIR_PREFIX));
  const procs: ManagedProcess[] = [];
  live.set(dir, procs);
  installExitHooks();
  let failure: Error | undefined;
  let stopped = false;
  let ready = false;

  const file = async (name: string, content: string, mode = 0o600) => {
    const path = join(dir, name);
    await writeFile(path, content, { mode });
    return path;
  };
  // Written whole under another name, then renamed: a sweep never reads half of it.
  const writeOwner = async () => {
    await file(
      'owner.json.tmp',
      JSON.stringify({ pid: process.pid, pids: procs.map((p) => p.pid).filter(Boolean) }),
    );
    await rename(join(dir, 'owner.json.tmp'), join(dir, 'owner.json'));
  };

  const stopAll = async () => {
    stopped = true;
    await Promise.all(procs.map((p) => p.stop()));
    live.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  const onUnexpectedExit = (p: ManagedProcess, _info: ExitInfo) => {
    if (stopped || failure) return;
    failure = new Error(`control plane: ${p.describeExit()}`);
    // While starting, the failure is what start throws; afterwards nobody may be asking.
    if (ready) process.stderr.write(`${failure.message}\n`);
    // Without it the others are useless, and an API server without etcd makes clients hang.
    for (const other of procs) if (other !== p) other.killNow();
  };
  const spawnProcess = (name: string, args: string[]) => {
    const p = new ManagedProcess(name, join(binDir, name), args, join(dir, `${name}.log`), onUnexpectedExit);
    procs.push(p);
    return p;
  };

  const waitFor = async (what: string, p: ManagedProcess, check: () => Promise<boolean>) => {
    for (;;) {
      if (failure) {
        const tail = p.running() ? failure.message : p.describeExit();
        if (/address already in use/.test(tail)) throw new PortInUse(`${p.name} could not listen: ${tail}`);
        throw new SetupError(`control plane did not start: ${tail}`);
      }
      if (await check()) return;
      if (Date.now() > deadline)
        throw new SetupError(
          `control plane did not start: ${what} not ready after ${options.readyTimeoutMs ?? 120_000} ms; ${p.describeExit()}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  try {
    await writeOwner();
    const [etcdClient, etcdPeer, apiPort, cmPort, schedulerPort] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );
    log(`control plane: starting in ${dir}`);
    const pki = await createControlPlanePki(SERVICE_IP);
    const pem = {
      ca: await file('ca.crt', pki.ca.certPem),
      apiCert: await file('apiserver.crt', pki.apiServer.certPem),
      apiKey: await file('apiserver.key', pki.apiServer.keyPem),
      frontCa: await file('front-proxy-ca.crt', pki.frontProxyCa.certPem),
      frontCert: await file('front-proxy-client.crt', pki.frontProxyClient.certPem),
      frontKey: await file('front-proxy-client.key', pki.frontProxyClient.keyPem),
      saKey: await file('sa.key', pki.serviceAccount.privateKeyPem),
      saPub: await file('sa.pub', pki.serviceAccount.publicKeyPem),
    };
    const token = () => randomBytes(24).toString('hex');
    const tokens = { admin: token(), controllerManager: token(), scheduler: token() };
    // Static tokens for the three identities that are not pods or nodes (the file's format is
    // token,user,uid,"groups").
    const tokenFile = await file(
      'tokens.csv',
      [
        `${tokens.admin},fleetiq-testbed-admin,testbed-admin,"system:masters"`,
        `${tokens.controllerManager},system:kube-controller-manager,testbed-kcm`,
        `${tokens.scheduler},system:kube-scheduler,testbed-scheduler`,
        '',
      ].join('\n'),
    );
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigOf = (user: string, t: string) =>
      renderKubeconfig({ server, caPem: pki.ca.certPem, token: t, user, cluster: 'fleetiq-testbed' });
    const adminKubeconfig = kubeconfigOf('fleetiq-testbed-admin', tokens.admin);
    const kubeconfigPath = await file('admin.kubeconfig', adminKubeconfig);
    if (options.kubeconfigPath) await writeFile(options.kubeconfigPath, adminKubeconfig, { mode: 0o600 });
    const cmKubeconfig = await file(
      'controller-manager.kubeconfig',
      kubeconfigOf('system:kube-controller-manager', tokens.controllerManager),
    );
    const schedulerKubeconfig = await file(
      'scheduler.kubeconfig',
      kubeconfigOf('system:kube-scheduler', tokens.scheduler),
    );

    await mkdir(join(dir, 'etcd'), { mode: 0o700 });
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = spawnProcess('etcd', [
      '--name=testbed',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=testbed=http://127.0.0.1:${etcdPeer}`,
      // Test data: durability buys nothing and fsync costs most of etcd's latency.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await writeOwner();
    await waitFor('etcd', etcd, () => probe({ url: `${etcdUrl}/health`, expect: (b) => b.includes('true') }));

    const auditLogPath = options.auditPolicy ? join(dir, 'audit.log') : undefined;
    const auditArgs = options.auditPolicy
      ? [
          // JSON is YAML: the policy file is the object as JSON.
          `--audit-policy-file=${await file('audit-policy.yaml', JSON.stringify(options.auditPolicy))}`,
          `--audit-log-path=${auditLogPath}`,
          '--audit-log-format=json',
          // Written as requests complete, so a reader sees them at once.
          '--audit-log-mode=blocking',
        ]
      : [];
    const apiServer = spawnProcess('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${pem.apiCert}`,
      `--tls-private-key-file=${pem.apiKey}`,
      `--client-ca-file=${pem.ca}`,
      `--token-auth-file=${tokenFile}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pem.saPub}`,
      `--service-account-signing-key-file=${pem.saKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=Node,RBAC',
      // On top of the default plugins (DefaultTolerationSeconds, ServiceAccount, the admission
      // webhooks, ValidatingAdmissionPolicy, ...): NodeRestriction, as every real cluster runs it.
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      // The `kubernetes` Service would point at 127.0.0.1, which Endpoints may not hold.
      '--endpoint-reconciler-type=none',
      // Extension API servers (Agones' allocation API) are reached at their endpoints, not through
      // a Service IP nobody routes here; the front proxy identifies the user to them.
      '--enable-aggregator-routing=true',
      `--requestheader-client-ca-file=${pem.frontCa}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-username-headers=X-Remote-User',
      `--proxy-client-cert-file=${pem.frontCert}`,
      `--proxy-client-key-file=${pem.frontKey}`,
      '--profiling=false',
      ...auditArgs,
      ...(options.apiServerArgs ?? []),
    ]);
    await writeOwner();
    await waitFor('kube-apiserver', apiServer, () =>
      probe({ url: `${server}/readyz`, token: tokens.admin, ca: pki.ca.certPem }),
    );

    const controllerManager = spawnProcess('kube-controller-manager', [
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${cmPort}`,
      '--leader-elect=false',
      // Each controller acts under its own ServiceAccount, with the bootstrap roles, as in kubeadm.
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pem.saKey}`,
      `--root-ca-file=${pem.ca}`,
      `--controllers=${(options.controllers ?? ['*']).join(',')}`,
      ...(options.controllerManagerArgs ?? []),
    ]);
    const scheduler = spawnProcess('kube-scheduler', [
      `--kubeconfig=${schedulerKubeconfig}`,
      `--authentication-kubeconfig=${schedulerKubeconfig}`,
      `--authorization-kubeconfig=${schedulerKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      '--leader-elect=false',
    ]);
    await writeOwner();
    await waitFor('kube-controller-manager', controllerManager, () =>
      probe({ url: `https://127.0.0.1:${cmPort}/healthz` }),
    );
    await waitFor('kube-scheduler', scheduler, () =>
      probe({ url: `https://127.0.0.1:${schedulerPort}/healthz` }),
    );
    // Pods need their namespace's default ServiceAccount, which the controller-manager creates.
    await waitFor('the default ServiceAccount', controllerManager, () =>
      probe({
        url: `${server}/api/v1/namespaces/default/serviceaccounts/default`,
        token: tokens.admin,
        ca: pki.ca.certPem,
      }),
    );
    ready = true;
    const startSeconds = (Date.now() - started) / 1000;
    log(`control plane: ready at ${server} in ${startSeconds.toFixed(1)} s`);
    return {
      server,
      caPem: pki.ca.certPem,
      adminToken: tokens.admin,
      kubeconfigPath: options.kubeconfigPath ?? kubeconfigPath,
      kubeconfig: adminKubeconfig,
      dir,
      ...(auditLogPath ? { auditLogPath } : {}),
      processes: procs,
      failure: () => failure,
      startSeconds,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
