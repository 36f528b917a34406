// The HTTP surface seen raw: authentication, authorization messages, bad input, discovery, Tables,
// Warning headers, admission ordering, and slow watchers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import https from 'node:https';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import type { AdmissionAttributes, Authorizer } from '../../../sandbox/kube/types.js';
import { ApiError } from '../../../sandbox/kube/errors.js';
import { apis, eventually, expectStatus, node, pod, startEmulator } from './support.js';

let emu: KubeEmulator;
let token: string;
const SA = {
  username: 'system:serviceaccount:game:agent',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:game'],
};

// Allows the admin, and the agent only to get/list/watch.
const authorizer: Authorizer = {
  authorize(user, verb) {
    if (user.groups.includes('system:masters')) return { allowed: true, reason: '' };
    if (user.username === SA.username && ['get', 'list', 'watch'].includes(verb))
      return { allowed: true, reason: '' };
    return { allowed: false, reason: '' };
  },
};

interface Reply {
  code: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: any;
}

function request(
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string>; token?: string | null } = {},
): Promise<Reply> {
  const url = new URL(emu.url + path);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        method,
        hostname: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        ca: emu.ca,
        headers: {
          ...(opts.token === null ? {} : { authorization: `Bearer ${opts.token ?? token}` }),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ code: res.statusCode!, headers: res.headers, body, json });
        });
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

beforeAll(async () => {
  emu = await startEmulator({ authorizer });
  token = emu.addIdentity({ username: 'system:admin', groups: ['system:masters'] });
});
afterAll(async () => {
  await emu.stop();
});

describe('authentication and authorization', () => {
  it('answers 401 Unauthorized without a token or with an unknown one', async () => {
    for (const t of [null, 'not-a-token']) {
      const r = await request('GET', '/api/v1/pods', { token: t });
      expect(r.code).toBe(401);
      expect(r.json).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
    }
    expect((await request('GET', '/version', { token: null })).code).toBe(200);
  });

  it('answers 403 with the real sentence naming user, verb, resource, group and namespace', async () => {
    const agent = apis(emu, SA);
    await emu.client().create({ group: '', version: 'v1', resource: 'pods', namespace: 'default' }, pod('x'));
    await agent.core.readNamespacedPod({ name: 'x', namespace: 'default' });
    await expectStatus(
      agent.core.patchNamespacedPod({ name: 'x', namespace: 'default', body: [] }),
      403,
      'Forbidden',
      'pods "x" is forbidden: User "system:serviceaccount:game:agent" cannot patch resource "pods" in API group "" in the namespace "default"',
    );
    await expectStatus(
      agent.core.createNamespacedPodEviction({
        name: 'x',
        namespace: 'default',
        body: { metadata: { name: 'x' } },
      }),
      403,
      'Forbidden',
      'pods "x" is forbidden: User "system:serviceaccount:game:agent" cannot create resource "pods/eviction" in API group "" in the namespace "default"',
    );
    await expectStatus(
      agent.core.createNode({ body: node('forbidden') as any }),
      403,
      'Forbidden',
      'nodes is forbidden: User "system:serviceaccount:game:agent" cannot create resource "nodes" in API group "" at the cluster scope',
    );
    const denied = emu.requestLog.entries(SA.username).filter((e) => e.code === 403);
    expect(denied.map((e) => `${e.verb} ${e.resource}${e.subresource ? '/' + e.subresource : ''}`)).toEqual([
      'patch pods',
      'create pods/eviction',
      'create nodes',
    ]);
  });
});

describe('bad input', () => {
  it('answers malformed JSON with 400, an unknown resource with 404 and a wrong method with 405', async () => {
    const bad = await request('POST', '/api/v1/namespaces/default/configmaps', { body: '{"metadata": ' });
    expect(bad.code).toBe(400);
    expect(bad.json).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    const unknown = await request('GET', '/api/v1/namespaces/default/widgets');
    expect(unknown.code).toBe(404);
    expect(unknown.json).toMatchObject({
      reason: 'NotFound',
      message: 'the server could not find the requested resource',
    });
    expect((await request('GET', '/apis/nope.example.com/v1')).code).toBe(404);
    const post = await request('POST', '/api/v1/namespaces/default/configmaps/named', { body: '{}' });
    expect(post.code).toBe(405);
    expect(post.json).toMatchObject({ reason: 'MethodNotAllowed' });
    const put = await request('PUT', '/api/v1/namespaces/default/configmaps', { body: '{}' });
    expect(put.code).toBe(405);
  });

  it('answers a body over 3 MiB with 413 and an unsupported body type with 415', async () => {
    const big = JSON.stringify({ metadata: { name: 'big' }, data: { x: 'a'.repeat(3 * 1024 * 1024 + 10) } });
    const r = await request('POST', '/api/v1/namespaces/default/configmaps', { body: big });
    expect(r.code).toBe(413);
    expect(r.json).toMatchObject({ reason: 'RequestEntityTooLarge' });
    const proto = await request('POST', '/api/v1/namespaces/default/configmaps', {
      body: 'x',
      headers: { 'content-type': 'application/vnd.kubernetes.protobuf' },
    });
    expect(proto.code).toBe(415);
    const patch = await request('PATCH', '/api/v1/namespaces/default/pods/x', {
      body: '{}',
      headers: { 'content-type': 'application/apply-patch+yaml' },
    });
    expect(patch.code).toBe(415);
  });

  it('accepts YAML bodies, as the real server does', async () => {
    const r = await request('POST', '/api/v1/namespaces/default/configmaps', {
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: "1"\n',
      headers: { 'content-type': 'application/yaml' },
    });
    expect(r.code).toBe(201);
    expect(r.json.data).toEqual({ a: '1' });
  });

  it('survives a handler failure with a 500 Status', async () => {
    emu.setAllocationHandler(async () => {
      throw new Error('allocator exploded');
    });
    const r = await request(
      'POST',
      '/apis/allocation.agones.dev/v1/namespaces/default/gameserverallocations',
      { body: '{}' },
    );
    expect(r.code).toBe(500);
    expect(r.json).toMatchObject({
      kind: 'Status',
      reason: 'InternalError',
      message: 'Internal error occurred: allocator exploded',
    });
    emu.setAllocationHandler(undefined);
    expect((await request('GET', '/api/v1/namespaces')).code).toBe(200);
  });
});

describe('discovery', () => {
  it('serves /version, /api, /apis and resource lists with subresources', async () => {
    expect((await request('GET', '/version')).json).toMatchObject({ major: '1', minor: '34' });
    expect((await request('GET', '/api')).json).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await request('GET', '/apis')).json;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: any) => g.name)).toEqual(
      expect.arrayContaining([
        'agones.dev',
        'allocation.agones.dev',
        'policy',
        'coordination.k8s.io',
        'events.k8s.io',
        'rbac.authorization.k8s.io',
        'apps',
        'admissionregistration.k8s.io',
      ]),
    );
    const core = (await request('GET', '/api/v1')).json;
    const byName = Object.fromEntries(core.resources.map((r: any) => [r.name, r]));
    expect(byName.pods).toMatchObject({
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      shortNames: ['po'],
      categories: ['all'],
    });
    expect(byName['pods/eviction']).toMatchObject({
      group: 'policy',
      version: 'v1',
      kind: 'Eviction',
      verbs: ['create'],
    });
    expect(byName['pods/status'].verbs).toEqual(['get', 'patch', 'update']);
    expect(byName.nodes.namespaced).toBe(false);
    const agones = (await request('GET', '/apis/agones.dev/v1')).json;
    expect(agones.resources.find((r: any) => r.name === 'gameservers')).toMatchObject({
      shortNames: ['gs'],
      kind: 'GameServer',
    });
    expect(agones.resources.some((r: any) => r.name === 'gameservers/status')).toBe(false);
    const gsa = (await request('GET', '/apis/allocation.agones.dev/v1')).json.resources[0];
    expect(gsa.verbs).toEqual(['create']);
  });

  it('answers aggregated-discovery requests with plain JSON so kubectl falls back', async () => {
    const r = await request('GET', '/apis', {
      headers: {
        accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
      },
    });
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json.kind).toBe('APIGroupList');
  });
});

describe('tables', () => {
  it('serves the node and pod printer columns to Table requests', async () => {
    const c = emu.client();
    await c.create({ group: '', version: 'v1', resource: 'nodes' }, node('table-node'));
    await c.patch({ group: '', version: 'v1', resource: 'nodes', name: 'table-node' }, 'merge', {
      spec: { unschedulable: true },
    });
    const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
    const t = (
      await request('GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dtable-node', { headers: { accept } })
    ).json;
    expect(t.kind).toBe('Table');
    expect(t.columnDefinitions.map((c: any) => c.name)).toEqual([
      'Name',
      'Status',
      'Roles',
      'Age',
      'Version',
      'Internal-IP',
      'External-IP',
      'OS-Image',
      'Kernel-Version',
      'Container-Runtime',
    ]);
    expect(t.rows[0].cells.slice(0, 3)).toEqual(['table-node', 'Ready,SchedulingDisabled', '<none>']);
    expect(t.rows[0].object).toMatchObject({
      kind: 'PartialObjectMetadata',
      metadata: { name: 'table-node' },
    });
    await c.create(
      { group: '', version: 'v1', resource: 'pods', namespace: 'default' },
      pod('table-pod', { nodeName: 'table-node' }),
    );
    const p = (await request('GET', '/api/v1/namespaces/default/pods/table-pod', { headers: { accept } }))
      .json;
    expect(p.columnDefinitions.map((c: any) => c.name).slice(0, 7)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
      'IP',
      'Node',
    ]);
    expect(p.rows[0].cells.slice(0, 4)).toEqual(['table-pod', '0/1', 'Pending', '0']);
    expect(p.rows[0].cells[6]).toBe('table-node');
  });
});

describe('admission', () => {
  it('runs mutating admission before the conflict check of an update, and returns its warnings', async () => {
    const seen: AdmissionAttributes[] = [];
    emu.setAdmission({
      async admit(attrs) {
        seen.push(attrs);
        if (attrs.operation === 'UPDATE' && attrs.resource.resource === 'configmaps') {
          const object = structuredClone(attrs.object!);
          object.metadata.annotations = { ...object.metadata.annotations, mutated: 'yes' };
          return { object, warnings: ['configmap mutated'] };
        }
        if (attrs.operation === 'CREATE' && attrs.object?.metadata.name === 'rejected')
          throw new ApiError(
            400,
            'BadRequest',
            'admission webhook "deny.example.com" denied the request: no',
          );
        return { warnings: [] };
      },
    });
    try {
      const c = emu.client();
      const ref = { group: '', version: 'v1', resource: 'configmaps', namespace: 'default' };
      const cm = await c.create(ref, { metadata: { name: 'adm' } });
      const ok = await request('PUT', '/api/v1/namespaces/default/configmaps/adm', {
        body: JSON.stringify(cm),
      });
      expect(ok.code).toBe(200);
      expect(ok.json.metadata.annotations).toEqual({ mutated: 'yes' });
      expect(ok.headers.warning).toBe('299 - "configmap mutated"');
      seen.length = 0;
      // A stale update: admission sees it (with the current object as oldObject), then the 409.
      const stale = await request('PUT', '/api/v1/namespaces/default/configmaps/adm', {
        body: JSON.stringify(cm),
      });
      expect(stale.code).toBe(409);
      expect(seen.map((s) => [s.operation, s.name, s.oldObject?.metadata.resourceVersion])).toEqual([
        ['UPDATE', 'adm', ok.json.metadata.resourceVersion],
      ]);
      const rejected = await request('POST', '/api/v1/namespaces/default/configmaps', {
        body: JSON.stringify({ metadata: { name: 'rejected' } }),
      });
      expect(rejected.code).toBe(400);
      expect(rejected.json.message).toBe('admission webhook "deny.example.com" denied the request: no');
    } finally {
      emu.setAdmission(undefined);
    }
  });
});

describe('slow watchers', () => {
  it('closes an HTTP watch whose client does not read, without stopping other clients', async () => {
    const small = await startEmulator({ watchBufferLimitBytes: 256 * 1024 });
    try {
      const adminToken = small.addIdentity({ username: 'admin', groups: ['system:masters'] });
      const url = new URL(small.url + '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1');
      let closed = false;
      let received = 0;
      const req = https.request(
        {
          hostname: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          ca: small.ca,
          headers: { authorization: `Bearer ${adminToken}` },
        },
        (res) => {
          res.pause(); // never reads: the server's socket buffer fills up
          res.on('data', (c) => (received += c.length));
          res.on('close', () => (closed = true));
          res.on('error', () => (closed = true));
        },
      );
      req.on('error', () => (closed = true));
      req.end();
      await eventually(() => small.store.watcherCount() === 1, 5000, 'watch open');
      const c = small.client();
      const ref = { group: '', version: 'v1', resource: 'configmaps', namespace: 'default' };
      const payload = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 200 && small.store.watcherCount() > 0; i++) {
        await c.create(ref, { metadata: { name: `big-${i}` }, data: { payload } });
        await new Promise((r) => setImmediate(r));
      }
      await eventually(() => small.store.watcherCount() === 0, 5000, 'slow watcher dropped');
      req.destroy();
      expect(received).toBeLessThan(200 * 64 * 1024);
      expect((await c.list(ref)).items.length).toBeGreaterThan(0);
      void closed;
    } finally {
      await small.stop();
    }
  });
});
