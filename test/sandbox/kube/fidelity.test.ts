// What the differential test (test/sandbox/control-plane/differential.test.ts) found the emulator doing
// otherwise than kube-apiserver 1.34, pinned here on the emulator alone so that it stays fixed
// without a control plane: unknown fields, the OpenAPI v2 document kubectl falls back to, the
// bookmark before a watch's deadline, delete answers, list counts, 415 messages, patch order.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import https from 'node:https';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { ADMIN_USER } from '../../../sandbox/kube/emulator.js';
import { node, pod, startEmulator } from './support.js';

let emu: KubeEmulator;
let token: string;

beforeAll(async () => {
  emu = await startEmulator();
  token = emu.addIdentity(ADMIN_USER);
  await emu.client().create({ group: '', version: 'v1', resource: 'nodes' }, node('fid-node'));
});

afterAll(async () => {
  await emu.stop();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  raw: Buffer;
  body: any;
}

function req(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const r = https.request(
      new URL(path, emu.url),
      {
        method,
        ca: emu.ca,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(data !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          let parsed: any;
          try {
            parsed = JSON.parse(raw.toString('utf8'));
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, body: parsed });
        });
      },
    );
    r.on('error', reject);
    r.end(data);
  });
}

/** The Warning headers' texts (Node joins repeated headers with ", "). */
const warnings = (r: Reply): string[] => {
  const w = r.headers.warning;
  const list = w === undefined ? [] : Array.isArray(w) ? w : w.split(/,(?=\s*299 )/);
  return list.map((x) => JSON.parse(x.trim().replace(/^299 - /, '')) as string);
};

const CMS = '/api/v1/namespaces/default/configmaps';
const PODS = '/api/v1/namespaces/default/pods';
const GSS = '/apis/agones.dev/v1/namespaces/default/gameservers';

describe('unknown fields', () => {
  const cm = (name: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, extra: 1 },
    data: { a: 'b' },
    bogus: true,
  });

  it('by default and with Warn: dropped from the object, one Warning each', async () => {
    for (const [name, query] of [
      ['fid-default', ''],
      ['fid-warn', '?fieldValidation=Warn'],
    ]) {
      const r = await req('POST', `${CMS}${query}`, cm(name));
      expect(r.status).toBe(201);
      expect(warnings(r)).toEqual(['unknown field "metadata.extra"', 'unknown field "bogus"']);
      expect(r.body.bogus).toBeUndefined();
      expect(r.body.metadata.extra).toBeUndefined();
      expect((await req('GET', `${CMS}/${name}`)).body.bogus).toBeUndefined();
    }
  });

  it('Ignore: dropped without a word', async () => {
    const r = await req('POST', `${CMS}?fieldValidation=Ignore`, cm('fid-ignore'));
    expect(r.status).toBe(201);
    expect(r.headers.warning).toBeUndefined();
    expect(r.body.bogus).toBeUndefined();
  });

  it('Strict: 400 naming every field, nested ones by their path; nothing is created', async () => {
    const r = await req('POST', `${PODS}?fieldValidation=Strict`, {
      ...pod('fid-strict'),
      spec: {
        containers: [
          { name: 'main', image: 'game:1.0', imagePullPolicyX: 'x', ports: [{ containerPort: 1, zz: 1 }] },
        ],
        tolerations: [{ key: 'a', operator: 'Exists', q: 1 }],
      },
    });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      reason: 'BadRequest',
      message:
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagePullPolicyX", unknown field "spec.containers[0].ports[0].zz", unknown field "spec.tolerations[0].q"',
    });
    expect((await req('GET', `${PODS}/fid-strict`)).status).toBe(404);
  });

  it('applies to updates and to what a patch produces', async () => {
    const created = (await req('POST', CMS, { metadata: { name: 'fid-upd' } })).body;
    const put = await req('PUT', `${CMS}/fid-upd`, { ...created, surplus: 1 });
    expect(put.status).toBe(200);
    expect(warnings(put)).toEqual(['unknown field "surplus"']);
    const patched = await req(
      'PATCH',
      `${CMS}/fid-upd?fieldValidation=Strict`,
      { surplus: 2 },
      {
        'content-type': 'application/merge-patch+json',
      },
    );
    expect(patched.status).toBe(400);
    expect(patched.body.message).toContain('strict decoding error: unknown field "surplus"');
  });

  it('custom resources declare apiVersion, kind, metadata, spec and status, and keep all under spec', async () => {
    const r = await req('POST', GSS, {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name: 'fid-gs' },
      spec: { anything: { goes: 1 } },
      top: 1,
    });
    expect(r.status).toBe(201);
    expect(warnings(r)).toEqual(['unknown field "top"']);
    expect(r.body.spec.anything).toEqual({ goes: 1 });
  });

  it('a fieldValidation it does not know is a 422 on the options of the verb', async () => {
    const r = await req('POST', `${CMS}?fieldValidation=strict`, { metadata: { name: 'fid-bad' } });
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({
      reason: 'Invalid',
      message:
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"',
      details: { group: 'meta.k8s.io', kind: 'CreateOptions' },
    });
    const p = await req(
      'PATCH',
      `${CMS}/fid-upd?fieldValidation=x`,
      {},
      {
        'content-type': 'application/merge-patch+json',
      },
    );
    expect(p.body.message).toMatch(/^PatchOptions\.meta\.k8s\.io "" is invalid/);
  });
});

describe('pod defaults', () => {
  it('the Priority plugin gives a pod without a class priority 0 and PreemptLowerPriority', async () => {
    const r = await req('POST', PODS, pod('fid-priority'));
    expect(r.body.spec).toMatchObject({ priority: 0, preemptionPolicy: 'PreemptLowerPriority' });
  });
});

describe('ValidatingAdmissionPolicies', () => {
  it('are stored (with their bindings) so that manifests apply, and not enforced', async () => {
    const base = '/apis/admissionregistration.k8s.io/v1';
    const policy = await req('POST', `${base}/validatingadmissionpolicies`, {
      metadata: { name: 'fid-policy' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] },
          ],
        },
        validations: [{ expression: 'false', message: 'never' }],
      },
    });
    expect(policy.status).toBe(201);
    const binding = await req('POST', `${base}/validatingadmissionpolicybindings`, {
      metadata: { name: 'fid-policy' },
      spec: { policyName: 'fid-policy', validationActions: ['Deny'] },
    });
    expect(binding.status).toBe(201);
    expect((await req('POST', CMS, { metadata: { name: 'fid-not-enforced' } })).status).toBe(201);
  });
});

describe('Tables', () => {
  it('a node that has not reported its versions: an empty VERSION and <unknown> system fields', async () => {
    await req('POST', '/api/v1/nodes', { metadata: { name: 'fid-bare' } });
    const t = await req('GET', '/api/v1/nodes/fid-bare', undefined, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    const cells = t.body.rows[0].cells as string[];
    const col = (name: string) => cells[t.body.columnDefinitions.findIndex((c: any) => c.name === name)];
    expect([col('Version'), col('OS-Image'), col('Kernel-Version'), col('Container-Runtime')]).toEqual([
      '',
      '<unknown>',
      '<unknown>',
      '<unknown>',
    ]);
    expect(col('Internal-IP')).toBe('<none>');
  });
});

describe('OpenAPI v2', () => {
  it('serves an empty document, as protobuf to kubectl and as JSON otherwise', async () => {
    const json = await req('GET', '/openapi/v2');
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ swagger: '2.0', paths: {}, definitions: {} });
    const pb = await req('GET', '/openapi/v2', undefined, {
      accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
    });
    expect(pb.status).toBe(200);
    expect(pb.headers['content-type']).toBe('application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    // Field 1 (swagger) = "2.0", then field 2 (info) and an empty field 8 (paths).
    expect([...pb.raw.subarray(0, 5)]).toEqual([0x0a, 3, 0x32, 0x2e, 0x30]);
    expect([...pb.raw.subarray(-2)]).toEqual([0x42, 0]);
  });
});

describe('watch bookmarks', () => {
  const watch = (path: string): Promise<any[]> =>
    new Promise((resolve, reject) => {
      const r = https.request(
        new URL(path, emu.url),
        { ca: emu.ca, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (buf += c));
          res.on('end', () =>
            resolve(
              buf
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l)),
            ),
          );
        },
      );
      r.on('error', reject);
      r.end();
    });

  it('sends one 2 s before the deadline when the resource moved on, none when it did not', async () => {
    const rv = (await req('GET', CMS)).body.metadata.resourceVersion;
    const path = `${CMS}?watch=1&labelSelector=app%3Dfid-bm&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=${rv}`;
    const quiet = await watch(path);
    expect(quiet).toEqual([]);
    const moving = watch(path);
    const other = (await req('POST', CMS, { metadata: { name: 'fid-bm-other' } })).body;
    const events = await moving;
    expect(events).toEqual([
      {
        type: 'BOOKMARK',
        object: {
          kind: 'ConfigMap',
          apiVersion: 'v1',
          metadata: { resourceVersion: other.metadata.resourceVersion },
        },
      },
    ]);
  });
});

describe('delete answers', () => {
  it('200 with the object for a deletion still pending; 202 only with orphanDependents=false', async () => {
    for (const name of ['fid-del-1', 'fid-del-2'])
      expect(
        (await req('POST', PODS, { ...pod(name), spec: { ...pod(name).spec, nodeName: 'fid-node' } })).status,
      ).toBe(201);
    const first = await req('DELETE', `${PODS}/fid-del-1`);
    expect(first.status).toBe(200);
    expect(first.body.metadata).toMatchObject({ deletionGracePeriodSeconds: 30 });
    const orphan = await req('DELETE', `${PODS}/fid-del-2`, { orphanDependents: false });
    expect(orphan.status).toBe(202);
  });

  it('a pod deleted at once answers with the deletionTimestamp and a period of 0', async () => {
    expect((await req('POST', PODS, pod('fid-del-now'))).status).toBe(201);
    const r = await req('DELETE', `${PODS}/fid-del-now`);
    expect(r.status).toBe(200);
    expect(r.body.metadata.deletionGracePeriodSeconds).toBe(0);
    expect(r.body.metadata.deletionTimestamp).toBeDefined();
    expect((await req('GET', `${PODS}/fid-del-now`)).status).toBe(404);
  });

  it('preconditions name the kind, as rest.BeforeDelete does', async () => {
    await req('POST', CMS, { metadata: { name: 'fid-pre' } });
    const r = await req('DELETE', `${CMS}/fid-pre`, { preconditions: { resourceVersion: '1' } });
    expect(r.status).toBe(409);
    expect(r.body.message).toMatch(
      /^Operation cannot be fulfilled on ConfigMap "fid-pre": the ResourceVersion in the precondition \(1\) does not match the ResourceVersion in record \(\d+\)\. The object might have been modified$/,
    );
    expect(r.body.details).toEqual({ name: 'fid-pre', kind: 'ConfigMap' });
  });
});

describe('lists and patches', () => {
  it('remainingItemCount only when no selector filters the list', async () => {
    for (const n of ['a', 'b', 'c'])
      await req('POST', CMS, { metadata: { name: `fid-page-${n}`, labels: { app: 'fid-page' } } });
    const filtered = await req('GET', `${CMS}?labelSelector=app%3Dfid-page&limit=1`);
    expect(filtered.body.metadata.continue).toBeTruthy();
    expect(filtered.body.metadata.remainingItemCount).toBeUndefined();
    const all = await req('GET', `${CMS}?limit=1`);
    expect(all.body.metadata.remainingItemCount).toBeGreaterThan(0);
  });

  it('415: a content type that is no patch fails negotiation; SMP of a custom resource lists what is accepted', async () => {
    const plain = await req('PATCH', `${CMS}/fid-page-a`, '{}', { 'content-type': 'text/plain' });
    expect(plain.status).toBe(415);
    expect(plain.body).toMatchObject({ message: '415: Unsupported Media Type', details: {} });
    const smp = await req('PATCH', `${GSS}/fid-gs`, '{}', {
      'content-type': 'application/strategic-merge-patch+json',
    });
    expect(smp.body.message).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    );
  });

  it('a strategic merge patch puts what it names first', async () => {
    await req('POST', CMS, { metadata: { name: 'fid-order', finalizers: ['example.com/a'] } });
    const r = await req(
      'PATCH',
      `${CMS}/fid-order`,
      { metadata: { finalizers: ['example.com/b'] } },
      {
        'content-type': 'application/strategic-merge-patch+json',
      },
    );
    expect(r.body.metadata.finalizers).toEqual(['example.com/b', 'example.com/a']);
  });

  it('a patch that changes metadata.uid is 422 (field is immutable), a PUT with another uid 409', async () => {
    const cm = (await req('POST', CMS, { metadata: { name: 'fid-uid' } })).body;
    const other = '00000000-0000-0000-0000-000000000000';
    const patched = await req(
      'PATCH',
      `${CMS}/fid-uid`,
      { metadata: { uid: other } },
      {
        'content-type': 'application/merge-patch+json',
      },
    );
    expect(patched.status).toBe(422);
    expect(patched.body.message).toBe(
      `ConfigMap "fid-uid" is invalid: metadata.uid: Invalid value: "${other}": field is immutable`,
    );
    expect(patched.body.details.causes).toHaveLength(2);
    const put = await req('PUT', `${CMS}/fid-uid`, { ...cm, metadata: { ...cm.metadata, uid: other } });
    expect(put.status).toBe(409);
    expect(put.body.message).toBe(
      `Operation cannot be fulfilled on configmaps "fid-uid": StorageError: invalid object, Code: 4, Key: /registry/configmaps/default/fid-uid, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${other}, UID in object meta: ${cm.metadata.uid}`,
    );
  });

  it('an invalid object without a name has no name in its details', async () => {
    const r = await req('POST', CMS, { metadata: {} });
    expect(r.status).toBe(422);
    expect(r.body.details).toEqual({
      kind: 'ConfigMap',
      causes: [
        {
          reason: 'FieldValueRequired',
          message: 'Required value: name or generateName is required',
          field: 'metadata.name',
        },
      ],
    });
  });
});
