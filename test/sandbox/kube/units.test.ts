// The pure decision logic of the emulator: selectors, patches, validation, PDB budgets,
// printing, and the store's history and watch indexing.
import { describe, expect, it } from '@jest/globals';
import { ApiError } from '../../../sandbox/kube/errors.js';
import { budgetStatus, checkEviction } from '../../../sandbox/kube/eviction.js';
import { qualifiedNameErrors, labelValueErrors } from '../../../sandbox/kube/names.js';
import { applyPatch, strategicMerge } from '../../../sandbox/kube/patch.js';
import { ResourceRegistry } from '../../../sandbox/kube/resources.js';
import { matchesLabels, parseFieldSelector, parseLabelSelector } from '../../../sandbox/kube/selectors.js';
import { ObjectStore, type Delivery } from '../../../sandbox/kube/store.js';
import { humanDuration } from '../../../sandbox/kube/tables.js';
import { validateTaints, validateTolerations, validatePodUpdate } from '../../../sandbox/kube/validation.js';
import type { KubeObject } from '../../../sandbox/kube/types.js';

const registry = new ResourceRegistry();
const pods = registry.get('', 'v1', 'pods')!;
const nodes = registry.get('', 'v1', 'nodes')!;
const gameservers = registry.get('agones.dev', 'v1', 'gameservers')!;

const thrown = (fn: () => unknown): ApiError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected an ApiError');
};

describe('label selectors', () => {
  const labels = { app: 'game', tier: 'a', 'agones.dev/fleet': 'f1', count: '5' };
  const m = (s: string) => matchesLabels(parseLabelSelector(s), labels);
  it('matches every operator', () => {
    expect(m('')).toBe(true);
    expect(m('app=game')).toBe(true);
    expect(m('app==game')).toBe(true);
    expect(m('app!=game')).toBe(false);
    expect(m('app!=web')).toBe(true);
    expect(m('nope!=x')).toBe(true);
    expect(m('tier in (a, b)')).toBe(true);
    expect(m('tier notin (a)')).toBe(false);
    expect(m('agones.dev/fleet')).toBe(true);
    expect(m('!agones.dev/fleet')).toBe(false);
    expect(m('!missing,app in (game),tier')).toBe(true);
    expect(m('count>4')).toBe(true);
    expect(m('count<4')).toBe(false);
  });
  it('rejects malformed selectors and invalid keys or values with 400', () => {
    for (const bad of ['app=(', 'a b', 'app in x', ',', 'Bad Key=1', 'k=bad value', 'a/b/c=1'])
      expect(thrown(() => parseLabelSelector(bad)).code).toBe(400);
  });
});

describe('field selectors', () => {
  it('parses =, == and != with escapes, and names an unsupported field', () => {
    expect(
      parseFieldSelector('spec.nodeName=n1,status.phase!=Failed,metadata.name==a\\,b', pods.fieldSelectors),
    ).toEqual([
      { field: 'spec.nodeName', op: '=', value: 'n1' },
      { field: 'status.phase', op: '!=', value: 'Failed' },
      { field: 'metadata.name', op: '=', value: 'a,b' },
    ]);
    const e = thrown(() => parseFieldSelector('spec.nodeName=a,spec.foo=b', pods.fieldSelectors));
    expect([e.code, e.message]).toEqual([400, 'field label not supported: spec.foo']);
    expect(thrown(() => parseFieldSelector('spec.nodeName', pods.fieldSelectors)).code).toBe(400);
    expect(thrown(() => parseFieldSelector('spec.nodeName=n1', gameservers.fieldSelectors)).message).toBe(
      'field label not supported: spec.nodeName',
    );
  });
  it('reads booleans and absent fields as the API server formats them', () => {
    const n = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: {} } as KubeObject;
    expect(nodes.fieldSelectors['spec.unschedulable'](n)).toBe('false');
    n.spec.unschedulable = true;
    expect(nodes.fieldSelectors['spec.unschedulable'](n)).toBe('true');
    expect(pods.fieldSelectors['spec.nodeName']({ apiVersion: 'v1', kind: 'Pod', metadata: {} })).toBe('');
  });
});

describe('names', () => {
  it('applies the qualified-name and label-value rules', () => {
    expect(qualifiedNameErrors('gamelift.status/draining')).toEqual([]);
    expect(qualifiedNameErrors('-bad')[0]).toMatch(/^name part must consist of alphanumeric characters/);
    expect(qualifiedNameErrors('Bad_Prefix/x')[0]).toMatch(/^prefix part a lowercase RFC 1123 subdomain/);
    expect(qualifiedNameErrors('x'.repeat(64))).toEqual(['name part must be no more than 63 characters']);
    expect(labelValueErrors('')).toEqual([]);
    expect(labelValueErrors('a b')).toHaveLength(1);
  });
});

describe('strategic merge patch', () => {
  const original = {
    metadata: { finalizers: ['a'], ownerReferences: [{ uid: '1', name: 'x' }] },
    spec: {
      containers: [
        { name: 'main', image: 'v1', env: [{ name: 'A', value: '1' }] },
        { name: 'side', image: 's1' },
      ],
      tolerations: [{ key: 't1' }],
      volumes: [{ name: 'v' }],
    },
  };
  const smp = (patch: Record<string, any>) => strategicMerge(original, patch, pods.smp);

  it('merges keyed lists element-wise and recursively', () => {
    const out = smp({
      spec: {
        containers: [
          { name: 'main', env: [{ name: 'B', value: '2' }] },
          { name: 'new', image: 'n' },
        ],
      },
    });
    // apimachinery's order: the patch's elements in its order, the server's others interleaved
    // where the server had them (after `main`, before nothing the patch adds).
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['main', 'new', 'side']);
    expect(out.spec.containers[0]).toEqual({
      name: 'main',
      image: 'v1',
      env: [
        { name: 'B', value: '2' },
        { name: 'A', value: '1' },
      ],
    });
  });
  it('replaces lists without a merge key (tolerations) and unions merge-scalar lists (finalizers)', () => {
    const out = smp({ metadata: { finalizers: ['b', 'a'] }, spec: { tolerations: [{ key: 't2' }] } });
    expect(out.spec.tolerations).toEqual([{ key: 't2' }]);
    expect(out.metadata.finalizers).toEqual(['b', 'a']);
  });
  it('honours $patch: delete and replace, $deleteFromPrimitiveList, $setElementOrder and nulls', () => {
    expect(
      smp({ spec: { containers: [{ name: 'side', $patch: 'delete' }] } }).spec.containers.map(
        (c: any) => c.name,
      ),
    ).toEqual(['main']);
    expect(
      smp({ spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'o' }] } }).spec.containers,
    ).toEqual([{ name: 'only', image: 'o' }]);
    expect(smp({ spec: { $patch: 'replace', tolerations: [] } }).spec).toEqual({ tolerations: [] });
    expect(
      smp({ metadata: { $deleteFromPrimitiveList: undefined, '$deleteFromPrimitiveList/finalizers': ['a'] } })
        .metadata.finalizers,
    ).toEqual([]);
    expect(
      smp({
        spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'main' }] },
      }).spec.containers.map((c: any) => c.name),
    ).toEqual(['side', 'main']);
    expect(smp({ spec: { volumes: null } }).spec.volumes).toBeUndefined();
    expect(
      smp({ metadata: { ownerReferences: [{ uid: '1', $patch: 'delete' }] } }).metadata.ownerReferences,
    ).toEqual([]);
  });
  it('rejects an element without the merge key', () => {
    expect(thrown(() => smp({ spec: { containers: [{ image: 'x' }] } })).code).toBe(400);
  });
  it('replaces node taints whole', () => {
    const n = { spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] } };
    expect(
      applyPatch(nodes, n, 'strategic', { spec: { taints: [{ key: 'b', effect: 'NoExecute' }] } }).spec
        .taints,
    ).toEqual([{ key: 'b', effect: 'NoExecute' }]);
  });
});

describe('JSON and merge patches', () => {
  it('turns a failed test into 422 and does not touch the original', () => {
    const doc = { metadata: { resourceVersion: '5' } };
    const e = thrown(() =>
      applyPatch(pods, doc, 'json', [{ op: 'test', path: '/metadata/resourceVersion', value: '4' }]),
    );
    expect([e.code, e.reason]).toEqual([422, 'Invalid']);
    expect(
      applyPatch(pods, doc, 'json', [{ op: 'replace', path: '/metadata/resourceVersion', value: '6' }]),
    ).toEqual({
      metadata: { resourceVersion: '6' },
    });
    expect(doc.metadata.resourceVersion).toBe('5');
    expect(thrown(() => applyPatch(pods, doc, 'json', { op: 'add' })).code).toBe(400);
  });
  it('applies RFC 7386 merge patches (lists replaced, null removes)', () => {
    expect(applyPatch(pods, { a: { b: 1, c: [1, 2] } }, 'merge', { a: { b: null, c: [3] } })).toEqual({
      a: { c: [3] },
    });
    expect(thrown(() => applyPatch(gameservers, {}, 'strategic', {})).code).toBe(415);
  });
});

describe('validation', () => {
  it('validates taints: effect, key, value, key+effect uniqueness', () => {
    const errs = validateTaints(
      [
        { key: 'ok', value: 'v', effect: 'NoExecute' },
        { key: 'ok', value: 'w', effect: 'NoExecute' },
        { key: '', effect: 'NoSchedule' },
        { key: 'k', value: 'bad value', effect: 'Never' },
      ],
      'spec.taints',
    );
    expect(errs.map((e) => `${e.field}: ${e.message.split(':')[0]}`)).toEqual([
      'spec.taints[1]: Duplicate value',
      'spec.taints[2].key: Required value',
      'spec.taints[3].value: Invalid value',
      'spec.taints[3].effect: Unsupported value',
    ]);
  });
  it('validates tolerations', () => {
    expect(
      validateTolerations(
        [
          { operator: 'Exists' },
          { key: 'k', operator: 'Equal', value: 'v', effect: 'NoExecute', tolerationSeconds: 30 },
        ],
        't',
      ),
    ).toEqual([]);
    expect(validateTolerations([{ operator: 'Equal', value: 'v' }], 't')[0].message).toMatch(
      /operator must be Exists when `key` is empty/,
    );
    expect(validateTolerations([{ key: 'k', operator: 'In' }], 't')[0].message).toBe(
      'Unsupported value: "In": supported values: "Equal", "Exists"',
    );
  });
  it('allows only image, activeDeadlineSeconds and toleration additions on pod updates', () => {
    const base: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: {
        containers: [{ name: 'c', image: 'a' }],
        tolerations: [{ key: 'x', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      },
    };
    const change = (f: (s: any) => void) => {
      const next = structuredClone(base);
      f(next.spec);
      return validatePodUpdate(next, base);
    };
    expect(change((s) => (s.containers[0].image = 'b'))).toEqual([]);
    expect(change((s) => (s.activeDeadlineSeconds = 10))).toEqual([]);
    expect(change((s) => s.tolerations.push({ key: 'y', operator: 'Exists' }))).toEqual([]);
    expect(change((s) => (s.tolerations[0].tolerationSeconds = 10))).toEqual([]);
    expect(change((s) => (s.tolerations[0].key = 'changed')).map((e) => e.message)).toEqual([
      'Forbidden: existing toleration can not be modified except its tolerationSeconds',
    ]);
    expect(change((s) => (s.nodeName = 'n'))[0].message).toMatch(
      /pod updates may not change fields other than/,
    );
    expect(change((s) => s.containers.push({ name: 'd', image: 'x' }))[0].field).toBe('spec');
  });
});

describe('PodDisruptionBudget arithmetic', () => {
  const p = (name: string, ready: boolean, extra: Record<string, any> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'x' }, ...extra },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  const pdb = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'b' },
    spec: { selector: { matchLabels: { app: 'x' } }, ...spec },
  });
  const four = [p('a', true), p('b', true), p('c', true), p('d', false)];
  it('computes allowed disruptions from minAvailable and maxUnavailable, ints and percentages rounded up', () => {
    expect(budgetStatus(pdb({ minAvailable: 2 }), four)).toEqual({
      expectedPods: 4,
      currentHealthy: 3,
      desiredHealthy: 2,
      disruptionsAllowed: 1,
    });
    expect(budgetStatus(pdb({ minAvailable: '50%' }), four).desiredHealthy).toBe(2);
    expect(budgetStatus(pdb({ maxUnavailable: 1 }), four).disruptionsAllowed).toBe(0);
    expect(budgetStatus(pdb({ maxUnavailable: '30%' }), four).desiredHealthy).toBe(2);
    expect(budgetStatus(pdb({ maxUnavailable: '0%' }), four).disruptionsAllowed).toBe(0);
    const terminating = [p('a', true, { deletionTimestamp: 'x' }), p('b', true)];
    expect(budgetStatus(pdb({ minAvailable: 1 }), terminating).currentHealthy).toBe(1);
  });
  it('decides evictions as the Eviction API does', () => {
    expect(() => checkEviction(four[0], [pdb({ minAvailable: 2 })], four)).not.toThrow();
    expect(thrown(() => checkEviction(four[0], [pdb({ minAvailable: 3 })], four)).code).toBe(429);
    // An unready pod may go while the budget is met.
    expect(() => checkEviction(four[3], [pdb({ minAvailable: 3 })], four)).not.toThrow();
    expect(() =>
      checkEviction({ ...four[0], status: { phase: 'Pending' } }, [pdb({ maxUnavailable: 0 })], four),
    ).not.toThrow();
    expect(
      thrown(() => checkEviction(four[0], [pdb({ minAvailable: 1 }), pdb({ minAvailable: 1 })], four)).code,
    ).toBe(500);
  });
});

describe('printing', () => {
  it('formats ages as kubectl shows them', () => {
    const s = 1000;
    expect(
      [
        5 * s,
        119 * s,
        150 * s,
        600 * s,
        3 * 3600 * s,
        5 * 3600 * s + 120 * s,
        50 * 3600 * s,
        3 * 86400 * s,
      ].map(humanDuration),
    ).toEqual(['5s', '119s', '2m30s', '10m', '3h', '5h2m', '2d2h', '3d']);
  });
});

describe('store', () => {
  const obj = (name: string, nodeName: string, labels: Record<string, string> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns', labels },
    spec: { nodeName },
  });
  const sink = (out: string[]) => ({
    deliver: (d: Delivery) =>
      out.push(`${d.type} ${d.stored.obj.metadata.name} ${d.stored.obj.spec.nodeName}`),
    bookmark: () => out.push('BOOKMARK'),
    error: (e: Error) => out.push(`ERROR ${e.message}`),
  });

  it('keeps one global resourceVersion, bounded history and 410 for compacted versions', () => {
    const store = new ObjectStore({ historySize: 4 });
    try {
      store.put('/pods', obj('a', 'n1'));
      store.put('/configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'c', namespace: 'ns' },
      });
      expect(store.get('/pods', 'ns/a')!.obj.metadata.resourceVersion).toBe('1');
      expect(store.resourceVersion).toBe(2);
      for (let i = 0; i < 10; i++) store.put('/pods', obj('a', 'n1', { i: String(i) }));
      const out: string[] = [];
      store.watch(
        '/pods',
        { labels: [], fields: [], getters: pods.fieldSelectors, resourceVersion: '1' },
        sink(out),
      );
      expect(out[0]).toMatch(/^ERROR too old resource version: 1 \(\d+\)$/);
      const ok: string[] = [];
      store.watch(
        '/pods',
        {
          labels: [],
          fields: [],
          getters: pods.fieldSelectors,
          resourceVersion: String(store.resourceVersion - 2),
        },
        sink(ok),
      );
      expect(ok).toEqual(['MODIFIED a n1', 'MODIFIED a n1']);
    } finally {
      store.close();
    }
  });

  it('delivers to indexed watchers only what can match, including a move between index values', () => {
    const store = new ObjectStore();
    try {
      const on1: string[] = [];
      const on2: string[] = [];
      const all: string[] = [];
      const spec = (value?: string) => ({
        labels: [],
        fields: value ? [{ field: 'spec.nodeName', op: '=' as const, value }] : [],
        getters: pods.fieldSelectors,
        resourceVersion: '0',
      });
      store.watch('/pods', spec('n1'), sink(on1));
      store.watch('/pods', spec('n2'), sink(on2));
      store.watch('/pods', spec(), sink(all));
      store.put('/pods', obj('p', 'n1'));
      store.put('/pods', obj('p', 'n2'));
      store.remove('/pods', 'ns/p');
      store.flush();
      expect(on1).toEqual(['ADDED p n1', 'DELETED p n1']);
      expect(on2).toEqual(['ADDED p n2', 'DELETED p n2']);
      expect(all).toEqual(['ADDED p n1', 'MODIFIED p n2', 'DELETED p n2']);
    } finally {
      store.close();
    }
  });
});
