// `fleetiq-agones reconciler` as the DaemonSet runs it: settings from flags and the environment,
// Kubernetes from KUBECONFIG (as the agent's ServiceAccount), FleetIQ through AWS_ENDPOINT_URL_GAMELIFT,
// --help naming every setting, a clear error for a bad one, and SIGTERM: exit 0 without deregistering.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTINGS } from '../../reconciler/config.js';
import { INSTANCE_STATUS_LABEL } from '../../shared/contract.js';
import { freePort } from '../helpers/redis.js';
import { getNode, instanceIds, startWorld, waitFor, type World } from './agent-support.js';
import {
  AGENT_CLUSTER_ROLE_RULES,
  AGENT_EVENTS_ROLE_RULES,
  AGENT_NAMESPACE,
  AGENT_SERVICE_ACCOUNT,
  GROUP,
  SECRET,
  createNode,
} from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';
import { runCli } from '../helpers/cli.js';
import { startImdsEmulator, type ImdsEmulator } from '../../sandbox/imds/emulator.js';

const IDS = instanceIds('c', 2);
let w: World;
let imds: ImdsEmulator;
const dir = mkdtempSync(join(tmpdir(), 'reconciler-cli-'));

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS });
  imds = await startImdsEmulator({ instanceId: IDS[0] });
}, TEST_KUBE_START_MS);

afterAll(async () => {
  await w?.stop();
  await imds?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string>) =>
  runCli(['reconciler', ...args], { env, cleanEnv: true });

describe('fleetiq-agones reconciler', () => {
  it('--help describes every setting with its environment variable', async () => {
    const p = run(['--help'], {});
    expect(await p.exit).toBe(0);
    const help = p.output().replace(/\s+/g, ' ');
    for (const s of SETTINGS) {
      expect(help).toContain(`${s.flag} ${s.boolean ? '[bool]' : '<value>'}`);
      expect(help).toContain(s.env);
    }
    expect(help).toContain('STATUS_SIGNING_SECRET');
  });

  it('refuses an invalid setting at start, naming it', async () => {
    const p = run([], { GAME_SERVER_GROUP: GROUP, REDIS_URL: 'localhost:6379', AWS_REGION: 'us-east-1' });
    const q = run(['--node-name', 'n1', '--idle-period', 'soon'], {
      GAME_SERVER_GROUP: GROUP,
      REDIS_URL: 'localhost:6379',
    });
    // 2: invalid configuration (README.md, "Exit codes").
    expect(await p.exit).toBe(2);
    expect(p.output()).toContain('invalid configuration --node-name (NODE_NAME): is required');
    expect(await q.exit).toBe(2);
    expect(q.output()).toContain('invalid configuration --idle-period');
  });

  it('names KUBECONFIG when it cannot be loaded, after saying loudly that signing is off', async () => {
    const kcDir = mkdtempSync(join(tmpdir(), 'agent-kc-'));
    try {
      const broken = join(kcDir, 'kubeconfig');
      writeFileSync(broken, 'clusters: [unclosed\n');
      const noCluster = join(kcDir, 'empty-context');
      writeFileSync(
        noCluster,
        'apiVersion: v1\nkind: Config\ncurrent-context: gone\ncontexts: []\nclusters: []\nusers: []\n',
      );
      const env = {
        NODE_NAME: 'n1',
        GAME_SERVER_GROUP: GROUP,
        REDIS_URL: 'localhost:6379',
        AWS_REGION: 'us-east-1',
      };
      const procs = [broken, noCluster, join(kcDir, 'missing')].map((KUBECONFIG) =>
        run([], { ...env, KUBECONFIG }),
      );
      for (const p of procs) {
        expect(await p.exit).toBe(2);
        expect(p.output()).toMatch(/invalid configuration KUBECONFIG: .*agent-kc-/);
        expect(p.output()).toMatch(/STATUS SIGNING IS OFF/);
      }
      expect(procs[1]!.output()).toContain('names no cluster');
      expect(procs[2]!.output()).toContain('ENOENT');
    } finally {
      rmSync(kcDir, { recursive: true, force: true });
    }
  });

  it('refuses an empty STATUS_SIGNING_SECRET, naming it', async () => {
    const p = run(['--node-name', 'n1'], {
      GAME_SERVER_GROUP: GROUP,
      REDIS_URL: 'localhost:6379',
      AWS_REGION: 'us-east-1',
      STATUS_SIGNING_SECRET: '',
    });
    expect(await p.exit).toBe(2);
    expect(p.output()).toContain('invalid configuration STATUS_SIGNING_SECRET: is set but empty');
  });

  it('never prints a REDIS_URL password, in any form, when it refuses REDIS_URL', async () => {
    const procs = ['redis://S3cr3tP4ss@host:notaport', 'user:S3cr3tP4ss@host:6379'].map((REDIS_URL) =>
      run(['--node-name', 'n1'], { GAME_SERVER_GROUP: GROUP, REDIS_URL, AWS_REGION: 'us-east-1' }),
    );
    for (const p of procs) {
      expect(await p.exit).toBe(2);
      expect(p.output()).toContain('invalid configuration --redis-url (REDIS_URL)');
      expect(p.output()).not.toContain('S3cr3tP4ss');
    }
  });

  it('runs as the ServiceAccount, becomes ready, and on SIGTERM exits 0 leaving the instance registered', async () => {
    const id = IDS[0];
    await createNode(w.admin, 'node-cli', id);
    await w.publisher.publish(id, 'ACTIVE');
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, await w.agentKubeconfig(), { mode: 0o600 });
    const port = await freePort();
    const p = run(
      ['--ops-listen', `127.0.0.1:${port}`, '--health-interval', '5s', '--shutdown-grace', '3s'],
      {
        NODE_NAME: 'node-cli',
        GAME_SERVER_GROUP: GROUP,
        REDIS_URL: `127.0.0.1:${w.redis.port}`,
        STATUS_SIGNING_SECRET: SECRET,
        KUBECONFIG: kubeconfig,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'dummy-secret',
        AWS_ENDPOINT_URL_GAMELIFT: w.fleetiq.url,
        IMDS_ENDPOINT: imds.url,
        SPOT_NOTICE_POLL_INTERVAL: '500ms',
      },
    );
    try {
      await waitFor(
        'ready',
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
        45_000,
      );
      await waitFor(
        'the ACTIVE label',
        async () =>
          (await getNode(w.admin, 'node-cli')).metadata.labels?.[INSTANCE_STATUS_LABEL] === 'ACTIVE',
      );
      const registered = () =>
        w.fleetiq.control.gameServers({ group: GROUP }).find((g) => g.gameServerId === id);
      await waitFor('registered', () => registered() !== undefined);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('process_resident_memory_bytes');
      // The Spot notice is polled from (emulated) instance metadata, with no notice yet.
      expect(metrics).toContain('fleetiq_reconciler_spot_notice 0');
      expect(metrics).toMatch(/fleetiq_reconciler_spot_notice_polls_total\{result="none"\} [1-9]/);
      expect(metrics).toContain('fleetiq_reconciler_drain_phase{phase="Active"} 1');

      p.child.kill('SIGTERM');
      expect(await p.exit).toBe(0);
      expect(registered()).toBeDefined();
      const logs = p
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      expect(logs.every((l) => l.component === 'reconciler')).toBe(true);
      expect(logs.find((l) => l.msg === 'reconciler: started')?.signing).toBe('on');
      expect(logs.some((l) => /SIGNING IS OFF/.test(l.msg))).toBe(false);
      expect(logs.map((l) => l.msg)).toEqual(
        expect.arrayContaining([
          'reconciler: started',
          'reconciler: stopping (the instance stays registered)',
          'reconciler: stopped',
        ]),
      );
      // Kubernetes requests as the ServiceAccount, all allowed by its ClusterRole.
      const mine = await w.agentRequests();
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.filter((e) => e.code === 403)).toEqual([]);
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});

describe('the deployed RBAC', () => {
  it('manifests/base/reconciler-rbac.yaml grants exactly what these tests run the agent with', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseAllDocuments } = await import('yaml');
    const docs = parseAllDocuments(
      readFileSync(new URL('../../manifests/base/reconciler-rbac.yaml', import.meta.url), 'utf8'),
    ).map((d) => d.toJS());
    const norm = (rules: any[]) =>
      rules.map((r) => ({
        apiGroups: [...r.apiGroups].sort(),
        resources: [...r.resources].sort(),
        verbs: [...r.verbs].sort(),
      }));
    const clusterRole = docs.find(
      (d) => d.kind === 'ClusterRole' && d.metadata.name === 'fleetiq-agones-reconciler',
    );
    expect(norm(clusterRole.rules)).toEqual(norm(AGENT_CLUSTER_ROLE_RULES));
    const eventsRole = docs.find((d) => d.kind === 'Role');
    expect(eventsRole.metadata.namespace).toBe('default');
    expect(norm(eventsRole.rules)).toEqual(norm(AGENT_EVENTS_ROLE_RULES));
    for (const binding of docs.filter((d) => d.kind.endsWith('Binding')))
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: AGENT_SERVICE_ACCOUNT, namespace: AGENT_NAMESPACE },
      ]);
  });
});
