import { describe, expect, it } from '@jest/globals';
import fjp from 'fast-json-patch';
import {
  DRAIN_TOLERATION,
  DRAIN_TOLERATION_ANNOTATION,
  LEGACY_ACTIVE_TAINT_KEY,
} from '../../shared/contract.js';
import {
  checkStoredGameServer,
  classifyRequest,
  decidePod,
  drainAnnotationPatch,
  escapePointerSegment,
  isProtectingTransition,
  podOwnedBy,
  type AdmissionRequest,
  type GameServerRef,
  type PodView,
  type ProtectedState,
} from '../../webhook/decide.js';
import { GAME_SERVER_STATES } from '../../shared/agones.js';
import {
  DRAIN_PHASE_LABEL,
  DRAIN_PHASES,
  INSTANCE_STATUS_LABEL,
  type NodeSessionSignals,
  KARPENTER_DO_NOT_DISRUPT_ANNOTATION,
  drainTolerationPatch,
} from '../../shared/drain-contract.js';

const STATES = [undefined, ...GAME_SERVER_STATES] as const;

const ALLOCATED_ONLY = new Set<ProtectedState>(['Allocated']);
const WITH_RESERVED = new Set<ProtectedState>(['Allocated', 'Reserved']);

function gameServer(
  state: string | undefined,
  extra: { annotations?: Record<string, string> | null; rv?: string } = {},
) {
  return {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: {
      name: 'gs-1',
      namespace: 'games',
      uid: 'gs-uid',
      resourceVersion: extra.rv ?? '10',
      ...(extra.annotations !== undefined ? { annotations: extra.annotations } : {}),
    },
    ...(state ? { status: { state } } : {}),
  };
}

function update(
  from: string | undefined,
  to: string | undefined,
  extra: Partial<AdmissionRequest> = {},
): AdmissionRequest {
  return {
    uid: 'req-1',
    kind: { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
    name: 'gs-1',
    namespace: 'games',
    operation: 'UPDATE',
    object: gameServer(to),
    oldObject: gameServer(from),
    ...extra,
  };
}

describe('transitions into a protected state (every pair of states)', () => {
  /** The rule, stated independently: into a protected state from outside, or a re-allocation. */
  const expected = (from: string | undefined, to: string | undefined, prot: Set<ProtectedState>) =>
    to !== undefined &&
    prot.has(to as ProtectedState) &&
    (from === undefined || !prot.has(from as ProtectedState) || (from === 'Allocated' && to === 'Allocated'));

  for (const prot of [ALLOCATED_ONLY, WITH_RESERVED]) {
    const label = [...prot].join('+');
    it(`classifies all ${STATES.length ** 2} pairs with ${label} protected`, () => {
      let transitions = 0;
      for (const from of STATES) {
        for (const to of STATES) {
          const want = expected(from, to, prot);
          expect(isProtectingTransition(from, to, prot)).toBe(want);
          const c = classifyRequest(update(from, to), { protectedStates: prot });
          expect({ from, to, kind: c.kind }).toEqual({ from, to, kind: want ? 'transition' : 'skip' });
          if (want) transitions++;
        }
      }
      // Into Allocated from the 11 other "states" (10 + none) plus Allocated→Allocated; with Reserved
      // protected: into Allocated from 10, into Reserved from 10, plus Allocated→Allocated.
      expect(transitions).toBe(prot.size === 1 ? 11 + 1 : 10 + 10 + 1);
    });
  }

  it('spells out the notable cases', () => {
    expect(isProtectingTransition('Ready', 'Allocated', ALLOCATED_ONLY)).toBe(true);
    expect(isProtectingTransition('Allocated', 'Allocated', ALLOCATED_ONLY)).toBe(true); // re-allocation
    expect(isProtectingTransition('Reserved', 'Allocated', ALLOCATED_ONLY)).toBe(true);
    expect(isProtectingTransition('Reserved', 'Allocated', WITH_RESERVED)).toBe(false); // tolerated at Reserved
    expect(isProtectingTransition('Ready', 'Reserved', ALLOCATED_ONLY)).toBe(false);
    expect(isProtectingTransition('Ready', 'Reserved', WITH_RESERVED)).toBe(true);
    expect(isProtectingTransition('Reserved', 'Reserved', WITH_RESERVED)).toBe(false);
    expect(isProtectingTransition('Allocated', 'Ready', WITH_RESERVED)).toBe(false);
    expect(isProtectingTransition('Allocated', 'Shutdown', ALLOCATED_ONLY)).toBe(false);
  });
});

describe('classifyRequest: what needs no work (and so no API call)', () => {
  const opts = { protectedStates: ALLOCATED_ONLY };

  it('skips other kinds and groups', () => {
    expect(
      classifyRequest(
        update('Ready', 'Allocated', { kind: { group: '', version: 'v1', kind: 'Pod' } }),
        opts,
      ),
    ).toEqual({
      kind: 'skip',
      reason: 'not-a-gameserver',
    });
    expect(
      classifyRequest(
        update('Ready', 'Allocated', { kind: { group: 'other.dev', version: 'v1', kind: 'GameServer' } }),
        opts,
      ).kind,
    ).toBe('skip');
    expect(
      classifyRequest(
        update('Ready', 'Allocated', { kind: { group: 'agones.dev', version: 'v1', kind: 'Fleet' } }),
        opts,
      ).kind,
    ).toBe('skip');
  });

  it.each(['CREATE', 'DELETE', 'CONNECT'] as const)('skips %s', (operation) => {
    expect(classifyRequest(update('Ready', 'Allocated', { operation }), opts)).toEqual({
      kind: 'skip',
      reason: 'not-an-update',
    });
  });

  it('skips subresources', () => {
    expect(classifyRequest(update('Ready', 'Allocated', { subResource: 'status' }), opts)).toEqual({
      kind: 'skip',
      reason: 'subresource',
    });
  });

  it('skips a dry run (no side effects allowed)', () => {
    expect(classifyRequest(update('Ready', 'Allocated', { dryRun: true }), opts)).toEqual({
      kind: 'skip',
      reason: 'dry-run',
    });
    expect(classifyRequest(update('Ready', 'Allocated', { dryRun: false }), opts).kind).toBe('transition');
  });

  it('skips an update doomed to a 409 (its resourceVersion is not the stored one)', () => {
    const req = update('Ready', 'Allocated', { object: gameServer('Allocated', { rv: '9' }) });
    expect(classifyRequest(req, opts)).toEqual({ kind: 'skip', reason: 'stale-update' });
    // An update without resourceVersion is unconditional: not doomed.
    const unconditional = update('Ready', 'Allocated');
    delete (unconditional.object!.metadata as { resourceVersion?: string }).resourceVersion;
    expect(classifyRequest(unconditional, opts).kind).toBe('transition');
  });

  it('skips development GameServers (they have no pod)', () => {
    const req = update('Ready', 'Allocated', {
      object: gameServer('Allocated', { annotations: { 'agones.dev/dev-address': '10.0.0.1' } }),
    });
    expect(classifyRequest(req, opts)).toEqual({ kind: 'skip', reason: 'development-gameserver' });
  });

  it('skips objects without a state', () => {
    expect(classifyRequest(update(undefined, undefined), opts)).toEqual({
      kind: 'skip',
      reason: 'not-a-transition',
    });
    const weird = update('Ready', 'Allocated', { object: { metadata: {}, status: { state: 42 } } });
    expect(classifyRequest(weird, opts).kind).toBe('skip');
  });

  it('describes a transition with the GameServer and the annotation patch', () => {
    const c = classifyRequest(update('Ready', 'Allocated'), opts);
    expect(c).toEqual({
      kind: 'transition',
      gameServer: {
        namespace: 'games',
        name: 'gs-1',
        uid: 'gs-uid',
        stored: { uid: 'gs-uid', resourceVersion: '10', state: 'Ready' },
      },
      from: 'Ready',
      to: 'Allocated',
      annotationPatch: [
        { op: 'add', path: '/metadata/annotations', value: { [DRAIN_TOLERATION_ANNOTATION]: 'true' } },
      ],
    });
  });
});

describe('a review checked against the stored GameServer (forged reviews patch nothing)', () => {
  const ref = (stored: GameServerRef['stored']): GameServerRef => ({
    namespace: 'games',
    name: 'gs-1',
    uid: 'gs-uid',
    stored,
  });
  const asSent = { uid: 'gs-uid', resourceVersion: '10', state: 'Ready' };

  it('passes exactly what the API server sends: the stored object as oldObject', () => {
    expect(checkStoredGameServer(gameServer('Ready'), ref(asSent))).toBe(true);
    // A re-allocation: the stored object is already Allocated, and so is the oldObject.
    expect(checkStoredGameServer(gameServer('Allocated'), ref({ ...asSent, state: 'Allocated' }))).toBe(true);
    // Without an expectation (callers that are not answering a review) nothing is checked.
    expect(checkStoredGameServer(undefined, { namespace: 'games', name: 'gs-1', uid: 'gs-uid' })).toBe(true);
  });

  it.each([
    ['no such GameServer', undefined, asSent, /does not exist/],
    ['another uid (deleted and recreated, or made up)', gameServer('Ready'), asSent, null],
    ['oldObject uid differs from object uid', gameServer('Ready'), { ...asSent, uid: 'other' }, /uid/],
    ['another resourceVersion', gameServer('Ready', { rv: '11' }), asSent, /resourceVersion 11.*at 10/],
    [
      'no resourceVersion in the review',
      gameServer('Ready'),
      { ...asSent, resourceVersion: undefined },
      /no resourceVersion/,
    ],
    ['stored already Allocated, review says Ready', gameServer('Allocated'), asSent, /is Allocated.*Ready/],
    ['stored Shutdown, review says Ready', gameServer('Shutdown'), asSent, /is Shutdown/],
    ['stored without a state', gameServer(undefined), asSent, /without a state/],
  ])('refuses %s', (_what, stored, expected, message) => {
    const gs = _what.startsWith('another uid') ? { ...ref(expected), uid: 'forged-uid' } : ref(expected);
    const result = checkStoredGameServer(stored, gs);
    expect(result).not.toBe(true);
    if (message) expect(result).toMatch(message);
  });
});

describe('the GameServer annotation patch', () => {
  const apply = (obj: object, patch: object[]) =>
    fjp.applyPatch(structuredClone(obj), patch as fjp.Operation[], true, false).newDocument as ReturnType<
      typeof gameServer
    >;

  it('escapes the slash of the annotation key (RFC 6901)', () => {
    expect(escapePointerSegment(DRAIN_TOLERATION_ANNOTATION)).toBe('gamelift.status~1drain-toleration');
    expect(escapePointerSegment('a~b/c')).toBe('a~0b~1c');
  });

  it('creates the annotations map when absent or null', () => {
    for (const annotations of [undefined, null] as const) {
      const gs = gameServer('Allocated', annotations === null ? { annotations: null } : {});
      const out = apply(gs, drainAnnotationPatch(gs));
      expect((out.metadata as { annotations?: Record<string, string> }).annotations).toEqual({
        [DRAIN_TOLERATION_ANNOTATION]: 'true',
      });
    }
  });

  it('adds to existing annotations without touching the others', () => {
    const gs = gameServer('Allocated', { annotations: { 'agones.dev/last-allocated': 'x' } });
    const out = apply(gs, drainAnnotationPatch(gs));
    expect((out.metadata as { annotations?: Record<string, string> }).annotations).toEqual({
      'agones.dev/last-allocated': 'x',
      [DRAIN_TOLERATION_ANNOTATION]: 'true',
    });
  });

  it('is empty when already annotated (re-allocation), and fixes a wrong value', () => {
    expect(
      drainAnnotationPatch(
        gameServer('Allocated', { annotations: { [DRAIN_TOLERATION_ANNOTATION]: 'true' } }),
      ),
    ).toEqual([]);
    const wrong = gameServer('Allocated', { annotations: { [DRAIN_TOLERATION_ANNOTATION]: 'false' } });
    expect(
      (apply(wrong, drainAnnotationPatch(wrong)).metadata as { annotations: Record<string, string> })
        .annotations[DRAIN_TOLERATION_ANNOTATION],
    ).toBe('true');
  });
});

describe('the backing pod', () => {
  const gs: GameServerRef = { namespace: 'games', name: 'gs-1', uid: 'gs-uid' };
  const pod = (
    overrides: {
      tolerations?: PodView['spec'] extends infer S
        ? S extends { tolerations?: infer T }
          ? T
          : never
        : never;
      owner?: object[];
      deleting?: boolean;
      name?: string;
      namespace?: string;
      annotations?: Record<string, string>;
    } = {},
  ): PodView => ({
    metadata: {
      name: overrides.name ?? 'gs-1',
      namespace: overrides.namespace ?? 'games',
      uid: 'pod-uid',
      resourceVersion: '77',
      ...(overrides.annotations ? { annotations: overrides.annotations } : {}),
      ...(overrides.deleting ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}),
      ownerReferences: (overrides.owner as never) ?? [
        { apiVersion: 'agones.dev/v1', kind: 'GameServer', name: 'gs-1', uid: 'gs-uid', controller: true },
      ],
    },
    spec: {
      nodeName: 'node-a',
      ...(overrides.tolerations !== undefined ? { tolerations: overrides.tolerations } : {}),
    },
  });
  // Karpenter's mark off where a test is about the toleration alone (its own tests below turn it on).
  const fence = { fence: true, karpenterDoNotDisrupt: false };
  const marking = { fence: true, karpenterDoNotDisrupt: true };
  const node = (
    labels: Record<string, string>,
    more: { cordoned?: boolean; taintKeys?: string[] } = {},
  ): NodeSessionSignals => ({ labels, cordoned: more.cordoned ?? false, taintKeys: more.taintKeys ?? [] });
  const status = (s: string | undefined): NodeSessionSignals =>
    node(s === undefined ? {} : { [INSTANCE_STATUS_LABEL]: s });

  describe('ownership guard', () => {
    it('accepts the pod controlled by this GameServer', () => {
      expect(podOwnedBy(pod(), gs)).toBe(true);
    });
    it.each([
      [
        'another uid (a re-created namesake)',
        pod({ owner: [{ kind: 'GameServer', name: 'gs-1', uid: 'other', controller: true }] }),
      ],
      ['no controller reference', pod({ owner: [{ kind: 'GameServer', name: 'gs-1', uid: 'gs-uid' }] })],
      ['no owner references', pod({ owner: [] })],
      [
        'a controller of another kind',
        pod({ owner: [{ kind: 'ReplicaSet', name: 'gs-1', uid: 'gs-uid', controller: true }] }),
      ],
      ['a different name', pod({ name: 'gs-2' })],
      ['a different namespace', pod({ namespace: 'other' })],
    ])('refuses %s', (_what, p) => {
      expect(podOwnedBy(p, gs)).toBe(false);
      expect(decidePod(gs, p, undefined, fence)).toMatchObject({
        kind: 'not-owned',
        message: expect.stringContaining('not controlled'),
      });
    });
    it('refuses when the GameServer uid is unknown', () => {
      expect(podOwnedBy(pod(), { ...gs, uid: '' })).toBe(false);
    });
  });

  describe('fence', () => {
    it('refuses a terminating pod', () => {
      expect(decidePod(gs, pod({ deleting: true }), undefined, fence)).toMatchObject({
        kind: 'fence',
        message: expect.stringMatching(/terminating/),
      });
    });
    it.each(['DRAINING', 'SPOT_TERMINATING'])('refuses a node that is %s', (s) => {
      expect(decidePod(gs, pod(), status(s), fence)).toMatchObject({
        kind: 'fence',
        message: expect.stringContaining(s),
      });
    });
    it('lets ACTIVE, unlabelled and unknown-status nodes through, and an unknown node', () => {
      for (const s of ['ACTIVE', undefined, 'SOMETHING'])
        expect(decidePod(gs, pod(), status(s), fence).kind).toBe('patch-pod');
      expect(decidePod(gs, pod(), undefined, fence).kind).toBe('patch-pod');
    });
    it.each(DRAIN_PHASES.filter((p) => p !== 'Active'))(
      'refuses a node in drain phase %s while its instance-status is still ACTIVE',
      (phase) => {
        const labels = { [INSTANCE_STATUS_LABEL]: 'ACTIVE', [DRAIN_PHASE_LABEL]: phase };
        expect(decidePod(gs, pod(), node(labels), fence)).toEqual({
          kind: 'fence',
          message: `the node node-a of GameServer games/gs-1 is draining (${DRAIN_PHASE_LABEL}=${phase}): allocate another game server`,
        });
      },
    );
    it('lets a node in drain phase Active through', () => {
      const labels = { [INSTANCE_STATUS_LABEL]: 'ACTIVE', [DRAIN_PHASE_LABEL]: 'Active' };
      expect(decidePod(gs, pod(), node(labels), fence).kind).toBe('patch-pod');
    });
    it("refuses a node the old adapter's daemon drains: cordoned with its gamelift.status/active taint", () => {
      const legacyDraining = node({}, { cordoned: true, taintKeys: [LEGACY_ACTIVE_TAINT_KEY] });
      expect(decidePod(gs, pod(), legacyDraining, fence)).toEqual({
        kind: 'fence',
        message: `the node node-a of GameServer games/gs-1 is cordoned with the old adapter's ${LEGACY_ACTIVE_TAINT_KEY} taint (its daemon drains it): allocate another game server`,
      });
    });
    it("lets through a cordoned node without the old daemon's taint, and the old daemon's node uncordoned", () => {
      const cordoned = node({}, { cordoned: true, taintKeys: ['other'] });
      expect(decidePod(gs, pod(), cordoned, fence).kind).toBe('patch-pod');
      const legacyRunning = node({}, { taintKeys: [LEGACY_ACTIVE_TAINT_KEY] });
      expect(decidePod(gs, pod(), legacyRunning, fence).kind).toBe('patch-pod');
    });
    it('fences a re-allocation on a draining node even though the pod already tolerates', () => {
      const tolerating = pod({ tolerations: [{ ...DRAIN_TOLERATION }] });
      expect(decidePod(gs, tolerating, status('DRAINING'), fence).kind).toBe('fence');
      expect(decidePod(gs, tolerating, node({ [DRAIN_PHASE_LABEL]: 'Tainted' }), fence).kind).toBe('fence');
    });
    it('treats a missing pod as going away', () => {
      expect(decidePod(gs, undefined, undefined, fence)).toMatchObject({
        kind: 'fence',
        message: expect.stringMatching(/no pod/),
      });
    });
    it('is off when configured off', () => {
      const off = { fence: false, karpenterDoNotDisrupt: false };
      expect(decidePod(gs, pod({ deleting: true }), status('DRAINING'), off).kind).toBe('patch-pod');
      expect(decidePod(gs, pod(), node({ [DRAIN_PHASE_LABEL]: 'Tainted' }), off).kind).toBe('patch-pod');
      expect(decidePod(gs, undefined, undefined, off).kind).toBe('pod-missing');
    });
    it('checks ownership before fencing (never judges a pod that is not ours)', () => {
      expect(decidePod(gs, pod({ deleting: true, owner: [] }), status('DRAINING'), fence).kind).toBe(
        'not-owned',
      );
    });
  });

  describe('toleration', () => {
    it('does nothing when already tolerating (idempotent)', () => {
      expect(decidePod(gs, pod({ tolerations: [{ ...DRAIN_TOLERATION }] }), status('ACTIVE'), fence)).toEqual(
        {
          kind: 'already-tolerating',
        },
      );
    });

    it('reads an empty operator as Equal, as Kubernetes does (no second toleration added)', () => {
      const emptyOperator = { key: DRAIN_TOLERATION.key, operator: '', value: 'true', effect: 'NoExecute' };
      expect(decidePod(gs, pod({ tolerations: [emptyOperator] }), status('ACTIVE'), fence)).toEqual({
        kind: 'already-tolerating',
      });
    });

    const applyToPod = (p: PodView, patch: object[]) =>
      fjp.applyPatch(structuredClone(p), patch as fjp.Operation[], true, false).newDocument;

    it('appends to existing tolerations, guarded by the uid and the list as read', () => {
      const existing = [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ];
      const p = pod({ tolerations: existing });
      const d = decidePod(gs, p, undefined, fence);
      expect(d).toMatchObject({ kind: 'patch-pod', addsToleration: true, marks: false });
      const patch = (d as { patch: object[] }).patch;
      expect(patch).toEqual([
        { op: 'test', path: '/metadata/uid', value: 'pod-uid' },
        { op: 'test', path: '/spec/tolerations', value: existing },
        { op: 'add', path: '/spec/tolerations/-', value: { ...DRAIN_TOLERATION } },
      ]);
      expect(applyToPod(p, patch).spec!.tolerations).toEqual([...existing, { ...DRAIN_TOLERATION }]);
    });

    it('creates the list when there is none, guarded by the resourceVersion', () => {
      const p = pod();
      const patch = drainTolerationPatch(p);
      expect(patch[1]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '77' });
      expect(applyToPod(p, patch).spec!.tolerations).toEqual([{ ...DRAIN_TOLERATION }]);
    });

    it('cannot touch a different pod or a changed list (the tests fail)', () => {
      const p = pod({ tolerations: [] });
      const patch = drainTolerationPatch(p);
      const recreated = { ...p, metadata: { ...p.metadata, uid: 'new-uid' } };
      expect(() => applyToPod(recreated, patch)).toThrow();
      const changed = pod({ tolerations: [{ key: 'x', operator: 'Exists' }] });
      expect(() => applyToPod(changed, patch)).toThrow();
      const noList = drainTolerationPatch(pod());
      const bumped = { ...pod(), metadata: { ...pod().metadata, resourceVersion: '78' } };
      expect(() => applyToPod(bumped, noList)).toThrow();
    });
  });

  describe("Karpenter's mark", () => {
    const MARK = `/metadata/annotations/${escapePointerSegment(KARPENTER_DO_NOT_DISRUPT_ANNOTATION)}`;
    const applyToPod = (p: PodView, patch: object[]) =>
      fjp.applyPatch(structuredClone(p), patch as fjp.Operation[], true, false).newDocument;

    it('adds the toleration and the mark in one guarded patch', () => {
      const p = pod({ tolerations: [], annotations: { 'agones.dev/sdk-version': '1.50.0' } });
      const d = decidePod(gs, p, undefined, marking);
      expect(d).toEqual({
        kind: 'patch-pod',
        addsToleration: true,
        marks: true,
        patch: [
          { op: 'test', path: '/metadata/uid', value: 'pod-uid' },
          { op: 'test', path: '/spec/tolerations', value: [] },
          { op: 'add', path: '/spec/tolerations/-', value: { ...DRAIN_TOLERATION } },
          { op: 'add', path: MARK, value: 'true' },
        ],
      });
      const out = applyToPod(p, (d as { patch: object[] }).patch);
      expect(out.metadata.annotations).toEqual({
        'agones.dev/sdk-version': '1.50.0',
        [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: 'true',
      });
    });

    it('marks a pod that already tolerates (allocated while the mark was off, or by an older webhook)', () => {
      const p = pod({ tolerations: [{ ...DRAIN_TOLERATION }] });
      const d = decidePod(gs, p, status('ACTIVE'), marking);
      expect(d).toEqual({
        kind: 'patch-pod',
        addsToleration: false,
        marks: true,
        patch: [
          { op: 'test', path: '/metadata/uid', value: 'pod-uid' },
          { op: 'test', path: '/metadata/resourceVersion', value: '77' },
          {
            op: 'add',
            path: '/metadata/annotations',
            value: { [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: 'true' },
          },
        ],
      });
    });

    it.each(['false', '5m', 'TRUE', ' true', ''])(
      'does not trust a mark the pod template set to %j: it is set to "true"',
      (value) => {
        const p = pod({
          tolerations: [{ ...DRAIN_TOLERATION }],
          annotations: { [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: value },
        });
        const d = decidePod(gs, p, undefined, marking);
        expect(d).toMatchObject({ kind: 'patch-pod', addsToleration: false, marks: true });
        const out = applyToPod(p, (d as { patch: object[] }).patch);
        expect(out.metadata.annotations).toEqual({ [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: 'true' });
      },
    );

    it('does nothing to a pod that tolerates and is marked "true" (idempotent)', () => {
      const p = pod({
        tolerations: [{ ...DRAIN_TOLERATION }],
        annotations: { [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: 'true' },
      });
      expect(decidePod(gs, p, undefined, marking)).toEqual({ kind: 'already-tolerating' });
    });

    it('leaves the annotations alone when the mark is off', () => {
      const p = pod({ tolerations: [], annotations: { [KARPENTER_DO_NOT_DISRUPT_ANNOTATION]: 'false' } });
      const d = decidePod(gs, p, undefined, fence);
      expect(d).toMatchObject({ kind: 'patch-pod', addsToleration: true, marks: false });
      expect((d as { patch: { path: string }[] }).patch.map((o) => o.path)).not.toContainEqual(
        expect.stringContaining('annotations'),
      );
      expect(decidePod(gs, pod({ tolerations: [{ ...DRAIN_TOLERATION }] }), undefined, fence)).toEqual({
        kind: 'already-tolerating',
      });
    });
  });
});
