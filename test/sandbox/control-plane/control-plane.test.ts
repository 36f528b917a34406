// The real control plane the end-to-end suites run on: it is the pinned release, it issues and
// accepts service-account tokens, it applies the default admission plugins, the real scheduler binds
// and the real taint-eviction controller evicts, ValidatingAdmissionPolicies are enforced; and it
// fails loudly, never silently or by hanging.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { controlPlaneBinaries } from '../../../sandbox/control-plane/binaries.js';
import { ManagedProcess } from '../../../sandbox/control-plane/process.js';
import {
  RUN_DIR_PREFIX,
  startControlPlane,
  sweepStaleRuns,
} from '../../../sandbox/control-plane/control-plane.js';
import { apiRequest, CONTROL_PLANE_START_MS, useControlPlane } from '../../helpers/control-plane.js';
import { waitFor } from '../../helpers/wait.js';

const cp = useControlPlane();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function createNode(name: string): Promise<void> {
  const res = await apiRequest(cp(), 'POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          lastHeartbeatTime: new Date().toISOString(),
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    },
  });
  expect(res.status).toBe(201);
}

function pod(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'game', image: 'example.invalid/game:1' }], ...extra },
  };
}

describe('the real control plane', () => {
  it('is the pinned Kubernetes release, and kubectl of that release talks to it', async () => {
    const version = await apiRequest(cp(), 'GET', '/version');
    expect(version.body.gitVersion).toBe('v1.34.4');
    const out = execFileSync(join(controlPlaneBinaries(), 'kubectl'), ['version', '-o', 'json'], {
      env: { ...process.env, KUBECONFIG: cp().kubeconfigPath },
      encoding: 'utf8',
    });
    expect(JSON.parse(out).serverVersion.gitVersion).toBe('v1.34.4');
  });

  it('listens on loopback only', () => {
    expect(new URL(cp().server).hostname).toBe('127.0.0.1');
    const listening = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => cp().processes.some((p) => p.pid && line.includes(`pid=${p.pid},`)));
    expect(listening.length).toBeGreaterThan(0);
    for (const line of listening) expect(line).toMatch(/\s127\.0\.0\.1:\d+\s/);
  });

  it('issues service-account tokens (TokenRequest) that authenticate and are authorized by RBAC', async () => {
    expect(
      (
        await apiRequest(cp(), 'POST', '/api/v1/namespaces/default/serviceaccounts', {
          metadata: { name: 'probe' },
        })
      ).status,
    ).toBe(201);
    const tr = await apiRequest(cp(), 'POST', '/api/v1/namespaces/default/serviceaccounts/probe/token', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 600 },
    });
    expect(tr.status).toBe(201);
    const token = tr.body.status.token as string;
    const denied = await apiRequest(cp(), 'GET', '/api/v1/namespaces/kube-system/secrets', undefined, {
      token,
    });
    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain('system:serviceaccount:default:probe');
    const review = await apiRequest(cp(), 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token },
    });
    expect(review.body.status.authenticated).toBe(true);
    expect(review.body.status.user.username).toBe('system:serviceaccount:default:probe');
  });

  it('gives pods the default NoExecute tolerations, as on EKS', async () => {
    const res = await apiRequest(cp(), 'POST', '/api/v1/namespaces/default/pods', pod('defaults'));
    expect(res.status).toBe(201);
    const tolerations = res.body.spec.tolerations.map(
      (t: any) => `${t.key}:${t.effect}:${t.tolerationSeconds}`,
    );
    expect(tolerations).toEqual(
      expect.arrayContaining([
        'node.kubernetes.io/not-ready:NoExecute:300',
        'node.kubernetes.io/unreachable:NoExecute:300',
      ]),
    );
  });

  it('binds pods with the real scheduler and evicts what does not tolerate a NoExecute taint', async () => {
    await createNode('game-node-1');
    const drainToleration = {
      key: 'gamelift.status/draining',
      operator: 'Equal',
      value: 'true',
      effect: 'NoExecute',
    };
    for (const p of [pod('plain'), pod('tolerating', { tolerations: [drainToleration] })])
      expect((await apiRequest(cp(), 'POST', '/api/v1/namespaces/default/pods', p)).status).toBe(201);
    for (const name of ['plain', 'tolerating'])
      await waitFor(
        `${name} bound by kube-scheduler`,
        async () =>
          (await apiRequest(cp(), 'GET', `/api/v1/namespaces/default/pods/${name}`)).body.spec.nodeName ===
          'game-node-1',
        60_000,
      );
    const patched = await apiRequest(
      cp(),
      'PATCH',
      '/api/v1/nodes/game-node-1',
      { spec: { taints: [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' }] } },
      { contentType: 'application/strategic-merge-patch+json' },
    );
    expect(patched.status).toBe(200);
    await waitFor(
      'the taint-eviction controller to delete the pod without the toleration',
      async () => {
        const res = await apiRequest(cp(), 'GET', '/api/v1/namespaces/default/pods/plain');
        return res.status === 404 || Boolean(res.body.metadata?.deletionTimestamp);
      },
      60_000,
    );
    const events = await apiRequest(
      cp(),
      'GET',
      '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=plain',
    );
    expect(events.body.items.map((e: any) => e.reason)).toContain('TaintManagerEviction');
    const kept = await apiRequest(cp(), 'GET', '/api/v1/namespaces/default/pods/tolerating');
    expect(kept.body.metadata.deletionTimestamp).toBeUndefined();
  });

  it('enforces ValidatingAdmissionPolicies', async () => {
    const policy = await apiRequest(
      cp(),
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicy',
        metadata: { name: 'no-forbidden-key' },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] },
            ],
          },
          validations: [
            {
              expression: "!has(object.data) || !('forbidden' in object.data)",
              message: 'the forbidden key',
            },
          ],
        },
      },
    );
    expect(policy.status).toBe(201);
    const binding = await apiRequest(
      cp(),
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name: 'no-forbidden-key' },
        spec: { policyName: 'no-forbidden-key', validationActions: ['Deny'] },
      },
    );
    expect(binding.status).toBe(201);
    // The policy takes effect once the API server's policy informer has it.
    let n = 0;
    const refusal = await waitFor('the policy to refuse', async () => {
      const res = await apiRequest(cp(), 'POST', '/api/v1/namespaces/default/configmaps', {
        metadata: { name: `cm-${n++}` },
        data: { forbidden: 'x' },
      });
      return res.status >= 400 ? res : undefined;
    });
    expect(refusal.status).toBe(422);
    expect(refusal.body.message).toContain('the forbidden key');
    const allowed = await apiRequest(cp(), 'POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'fine' },
      data: { allowed: 'x' },
    });
    expect(allowed.status).toBe(201);
  });
});

describe('failures are reported, never hangs or leftovers', () => {
  it(
    'a process that dies is reported with its log tail, the others are stopped, and stop() cleans up',
    async () => {
      const second = await startControlPlane();
      // Two control planes at once (this and the file's): separate folders and ports.
      expect(second.dir).not.toBe(cp().dir);
      expect(second.server).not.toBe(cp().server);
      const etcd = second.processes.find((p) => p.name === 'etcd')!;
      const apiServer = second.processes.find((p) => p.name === 'kube-apiserver')!;
      process.kill(etcd.pid!, 'SIGKILL');
      const failure = await waitFor('the failure to be reported', () => second.failure());
      expect(failure.message).toContain('etcd was killed by SIGKILL');
      expect(failure.message).toContain(`last lines of ${join(second.dir, 'etcd.log')}`);
      await waitFor('the API server to be stopped too', () => !apiServer.running());
      await expect(apiRequest(second, 'GET', '/readyz')).rejects.toThrow(/ECONNREFUSED/);
      const pids = second.processes.map((p) => p.pid!);
      await second.stop();
      for (const pid of pids) expect(alive(pid)).toBe(false);
      expect(existsSync(second.dir)).toBe(false);
    },
    CONTROL_PLANE_START_MS,
  );

  it(
    'nothing outlives a test process killed with SIGKILL, and its folder is swept at the next start',
    async () => {
      // Its own temporary folder: a control plane another test worker starts meanwhile sweeps the
      // default one, and would take the killed run's folder before this test looks.
      const base = mkdtempSync(join(tmpdir(), 'fleetiq-kill-test-'));
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'test/sandbox/control-plane/fixtures/start-and-wait.ts'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, TMPDIR: base },
        },
      );
      let out = '';
      child.stdout!.on('data', (c) => (out += c));
      const started = await waitFor(
        'the child to report its control plane',
        () => {
          const line = out.split('\n').find((l) => l.startsWith('{'));
          return line ? (JSON.parse(line) as { dir: string; pids: number[] }) : undefined;
        },
        CONTROL_PLANE_START_MS,
      );
      expect(started.pids).toHaveLength(4);
      child.kill('SIGKILL');
      await waitFor(
        'every process of the killed run to be gone',
        () => started.pids.every((p) => !alive(p)),
        30_000,
      );
      expect(started.dir.startsWith(base)).toBe(true);
      expect(existsSync(started.dir)).toBe(true);
      expect(sweepStaleRuns(base)).toContain(started.dir);
      expect(existsSync(started.dir)).toBe(false);
      rmSync(base, { recursive: true, force: true });
    },
    CONTROL_PLANE_START_MS,
  );

  it('a binary that cannot be started is reported as such, with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'process-'));
    const missing = join(dir, 'kube-nothing');
    let reported = '';
    const p = new ManagedProcess('kube-nothing', missing, [], join(dir, 'log'), (proc) => {
      reported = proc.describeExit();
    });
    await p.exited;
    await waitFor('the exit to be reported', () => reported);
    expect(reported).toContain('kube-nothing exited with code 127');
    expect(reported).toContain(missing);
    expect(reported).toMatch(/No such file or directory|ENOENT/);
    rmSync(dir, { recursive: true });
  });

  it('sweeps folders of runs that are gone, never one that is starting or still running', () => {
    const base = mkdtempSync(join(tmpdir(), 'sweep-'));
    const make = (name: string, owner?: object, ageMs = 0) => {
      const dir = join(base, `${RUN_DIR_PREFIX}${name}`);
      mkdirSync(dir);
      if (owner) writeFileSync(join(dir, 'owner.json'), JSON.stringify(owner));
      const t = new Date(Date.now() - ageMs);
      utimesSync(dir, t, t);
      return dir;
    };
    const dead = spawnSync('true').pid!; // A pid that has exited.
    const gone = make('gone', { pid: dead, pids: [] });
    const running = make('running', { pid: process.pid, pids: [] });
    const starting = make('starting'); // No owner file yet: another worker between mkdtemp and its write.
    const abandoned = make('abandoned', undefined, 5 * 60_000);
    expect(sweepStaleRuns(base).sort()).toEqual([abandoned, gone].sort());
    expect([running, starting].every((d) => existsSync(d))).toBe(true);
    rmSync(base, { recursive: true });
  });

  it(
    'a port that stays taken is refused with a message saying so',
    async () => {
      const holder = net.createServer();
      await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
      const port = (holder.address() as net.AddressInfo).port;
      try {
        await expect(startControlPlane({ apiServerArgs: [`--secure-port=${port}`] })).rejects.toThrow(
          new RegExp(
            `a port stayed in use over 3 attempts[\\s\\S]*127\\.0\\.0\\.1:${port}[\\s\\S]*address already in use`,
          ),
        );
      } finally {
        holder.close();
      }
    },
    CONTROL_PLANE_START_MS,
  );
});
