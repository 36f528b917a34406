// The subresources Agones' CRDs declare: GameServerSet and Fleet have `status` (writes of the main
// resource ignore status, /status writes only status) and `scale` (an autoscaling/v1 Scale over
// .spec.replicas / .status.replicas / .status.labelSelector); GameServer has neither. Driven through
// client-node's CustomObjectsApi, raw HTTPS for discovery, and the real kubectl.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { apis, expectStatus, failure, jsonPatch, merge, startEmulator } from './support.js';

const NS = 'default';
let emu: KubeEmulator;
let a: ReturnType<typeof apis>;
let dir: string;

beforeAll(async () => {
  emu = await startEmulator();
  a = apis(emu);
  dir = await mkdtemp(join(tmpdir(), 'agones-sub-'));
});

afterAll(async () => {
  await emu.stop();
  await rm(dir, { recursive: true, force: true });
});

const fleetBody = (name: string, replicas?: number) => ({
  apiVersion: 'agones.dev/v1',
  kind: 'Fleet',
  metadata: { name },
  spec: {
    ...(replicas !== undefined ? { replicas } : {}),
    template: { spec: { ports: [{ name: 'default', containerPort: 7654 }], template: { spec: {} } } },
  },
  status: { replicas: 99, readyReplicas: 99 },
});

const custom = (plural: 'fleets' | 'gameserversets' | 'gameservers') => ({
  group: 'agones.dev',
  version: 'v1',
  namespace: NS,
  plural,
});

function raw(path: string): Promise<any> {
  const token = emu.addIdentity({ username: 'system:admin', groups: ['system:masters'] });
  return new Promise((resolve, reject) => {
    https
      .get(`${emu.url}${path}`, { ca: emu.ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

describe('discovery', () => {
  it('lists status and scale for gameserversets and fleets, nothing for gameservers', async () => {
    const list = await raw('/apis/agones.dev/v1');
    const byName = new Map<string, any>(list.resources.map((r: any) => [r.name, r]));
    for (const plural of ['gameserversets', 'fleets']) {
      expect(byName.get(`${plural}/status`)).toMatchObject({
        namespaced: true,
        verbs: ['get', 'patch', 'update'],
      });
      expect(byName.get(`${plural}/scale`)).toMatchObject({
        namespaced: true,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    }
    expect(byName.get('gameserversets')!.shortNames).toEqual(['gss', 'gsset']);
    expect([...byName.keys()].filter((n) => n.startsWith('gameservers/'))).toEqual([]);
  });
});

describe('status subresource', () => {
  it('drops status on create, ignores it on main-resource writes, and /status writes only status', async () => {
    const created: any = await a.custom.createNamespacedCustomObject({
      ...custom('fleets'),
      body: fleetBody('status-fleet', 2),
    });
    expect(created.status).toBeUndefined();
    expect(created.metadata.generation).toBe(1);

    // Main resource: a status change is ignored and does not bump generation; a spec change does.
    const sameGen: any = await a.custom.replaceNamespacedCustomObject({
      ...custom('fleets'),
      name: 'status-fleet',
      body: { ...created, status: { replicas: 5 } },
    });
    expect(sameGen.status).toBeUndefined();
    expect(sameGen.metadata.generation).toBe(1);
    const scaled: any = await a.custom.patchNamespacedCustomObject(
      {
        ...custom('fleets'),
        name: 'status-fleet',
        body: { spec: { replicas: 3 }, status: { replicas: 7 } },
      },
      merge,
    );
    expect(scaled.spec.replicas).toBe(3);
    expect(scaled.status).toBeUndefined();
    expect(scaled.metadata.generation).toBe(2);

    // /status: status changes, spec and labels do not, generation stays.
    const st: any = await a.custom.replaceNamespacedCustomObjectStatus({
      ...custom('fleets'),
      name: 'status-fleet',
      body: {
        ...scaled,
        metadata: { ...scaled.metadata, labels: { sneaky: 'yes' } },
        spec: { ...scaled.spec, replicas: 50 },
        status: { replicas: 3, readyReplicas: 2, allocatedReplicas: 1, reservedReplicas: 0 },
      },
    });
    expect(st.status).toEqual({ replicas: 3, readyReplicas: 2, allocatedReplicas: 1, reservedReplicas: 0 });
    expect(st.spec.replicas).toBe(3);
    expect(st.metadata.labels).toBeUndefined();
    expect(st.metadata.generation).toBe(2);
    const read: any = await a.custom.getNamespacedCustomObjectStatus({
      ...custom('fleets'),
      name: 'status-fleet',
    });
    expect(read.status.readyReplicas).toBe(2);

    await expectStatus(
      a.custom.patchNamespacedCustomObjectStatus(
        { ...custom('fleets'), name: 'status-fleet', body: { status: { replicas: -1 } } },
        merge,
      ),
      422,
      'Invalid',
      /^Fleet\.agones\.dev "status-fleet" is invalid: \[status\.replicas: Invalid value: -1: status\.replicas in body should be greater than or equal to 0, \.status\.replicas: Invalid value: -1: should be a non-negative integer\]$/,
    );
  });

  it('GameServer keeps status on its main resource and has no /status', async () => {
    const gs: any = await a.custom.createNamespacedCustomObject({
      ...custom('gameservers'),
      body: {
        apiVersion: 'agones.dev/v1',
        kind: 'GameServer',
        metadata: { name: 'gs-status' },
        spec: { template: { spec: { containers: [{ name: 'game', image: 'game:1' }] } } },
        status: { state: 'Creating' },
      },
    });
    expect(gs.status.state).toBe('Creating');
    const ready: any = await a.custom.patchNamespacedCustomObject(
      { ...custom('gameservers'), name: 'gs-status', body: { status: { state: 'Ready' } } },
      merge,
    );
    expect(ready.status.state).toBe('Ready');
    expect(ready.metadata.generation).toBe(2);
    await expectStatus(
      a.custom.getNamespacedCustomObjectStatus({ ...custom('gameservers'), name: 'gs-status' }),
      404,
      'NotFound',
    );
  });
});

describe('scale subresource', () => {
  it('reads, updates and patches an autoscaling/v1 Scale of a Fleet', async () => {
    await a.custom.createNamespacedCustomObject({ ...custom('fleets'), body: fleetBody('scaled', 2) });
    const fleet: any = await a.custom.getNamespacedCustomObject({ ...custom('fleets'), name: 'scaled' });
    await a.custom.patchNamespacedCustomObjectStatus(
      {
        ...custom('fleets'),
        name: 'scaled',
        body: { status: { replicas: 2, labelSelector: 'agones.dev/fleet=scaled' } },
      },
      merge,
    );
    const scale: any = await a.custom.getNamespacedCustomObjectScale({ ...custom('fleets'), name: 'scaled' });
    expect(scale).toMatchObject({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: 'scaled', namespace: NS, uid: fleet.metadata.uid },
      spec: { replicas: 2 },
      status: { replicas: 2, selector: 'agones.dev/fleet=scaled' },
    });

    const updated: any = await a.custom.replaceNamespacedCustomObjectScale({
      ...custom('fleets'),
      name: 'scaled',
      body: { ...scale, spec: { replicas: 5 } },
    });
    expect(updated.kind).toBe('Scale');
    expect(updated.spec.replicas).toBe(5);
    const after: any = await a.custom.getNamespacedCustomObject({ ...custom('fleets'), name: 'scaled' });
    expect(after.spec.replicas).toBe(5);
    expect(after.metadata.generation).toBe(fleet.metadata.generation + 1);
    expect(after.status.replicas).toBe(2);

    // The Scale's resourceVersion is a precondition: the one read before the update is stale now.
    await expectStatus(
      a.custom.replaceNamespacedCustomObjectScale({
        ...custom('fleets'),
        name: 'scaled',
        body: { ...scale, spec: { replicas: 9 } },
      }),
      409,
      'Conflict',
    );

    const patched: any = await a.custom.patchNamespacedCustomObjectScale(
      { ...custom('fleets'), name: 'scaled', body: { spec: { replicas: 0 } } },
      merge,
    );
    expect(patched.spec).toEqual({});
    const jp: any = await a.custom.patchNamespacedCustomObjectScale(
      {
        ...custom('fleets'),
        name: 'scaled',
        body: [{ op: 'add', path: '/spec/replicas', value: 4 }],
      },
      jsonPatch,
    );
    expect(jp.spec.replicas).toBe(4);

    await expectStatus(
      a.custom.patchNamespacedCustomObjectScale(
        { ...custom('fleets'), name: 'scaled', body: { spec: { replicas: -1 } } },
        merge,
      ),
      422,
      'Invalid',
      /^Fleet\.agones\.dev "scaled" is invalid: \[spec\.replicas: Invalid value: -1: spec\.replicas in body should be greater than or equal to 0, \.spec\.replicas: Invalid value: -1: should be a non-negative integer\]$/,
    );
    await expectStatus(
      a.custom.replaceNamespacedCustomObjectScale({
        ...custom('fleets'),
        name: 'scaled',
        body: {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          metadata: { name: 'other' },
          spec: { replicas: 1 },
        },
      }),
      400,
      'BadRequest',
      'the name of the object (other) does not match the name on the URL (scaled)',
    );
  });

  it('answers for a GameServerSet too, and refuses to leave unset spec replicas unset', async () => {
    await a.custom.createNamespacedCustomObject({
      ...custom('gameserversets'),
      body: { ...fleetBody('set', 1), kind: 'GameServerSet' },
    });
    const s: any = await a.custom.patchNamespacedCustomObjectScale(
      { ...custom('gameserversets'), name: 'set', body: { spec: { replicas: 3 } } },
      merge,
    );
    expect(s.spec.replicas).toBe(3);

    await a.custom.createNamespacedCustomObject({ ...custom('fleets'), body: fleetBody('no-replicas') });
    const get = await failure(
      a.custom.getNamespacedCustomObjectScale({ ...custom('fleets'), name: 'no-replicas' }),
    );
    expect(get.code).toBe(500);
    expect(get.status.message).toContain('the spec replicas field ".spec.replicas" does not exist');
    await expectStatus(
      a.custom.patchNamespacedCustomObjectScale(
        { ...custom('fleets'), name: 'no-replicas', body: { metadata: { labels: { a: 'b' } } } },
        merge,
      ),
      400,
      'BadRequest',
      'the spec replicas field ".spec.replicas" cannot be empty',
    );
  });

  it('is what `kubectl scale` drives', async () => {
    await a.custom.createNamespacedCustomObject({
      ...custom('fleets'),
      body: fleetBody('kubectl-scaled', 1),
    });
    const kubeconfig = join(dir, 'kubeconfig');
    await emu.writeKubeconfig(kubeconfig);
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        '/usr/bin/kubectl',
        [
          '--kubeconfig',
          kubeconfig,
          '--cache-dir',
          join(dir, 'cache'),
          'scale',
          'fleet',
          'kubectl-scaled',
          '--replicas=6',
        ],
        { timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('fleet.agones.dev/kubectl-scaled scaled');
    const f: any = await a.custom.getNamespacedCustomObject({ ...custom('fleets'), name: 'kubectl-scaled' });
    expect(f.spec.replicas).toBe(6);
    const scaleRequests = emu.requestLog
      .entries()
      .filter((e) => e.resource === 'fleets' && e.subresource === 'scale' && e.name === 'kubectl-scaled');
    expect(scaleRequests.map((e) => [e.verb, e.code])).toContainEqual(['patch', 200]);
  });
});
