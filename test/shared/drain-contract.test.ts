// The drain contract the node agent and the webhook share (pure): the node's drain record, labels and
// annotations; which tolerations tolerate the drain taint; the one guarded patch that adds the
// toleration; who is protected.
import { describe, expect, it } from '@jest/globals';
import {
  CORDONED_BY_AGENT_ANNOTATION,
  DRAIN_ANNOTATIONS,
  DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION,
  DRAIN_PHASE_ANNOTATION,
  DRAIN_REASON_ANNOTATION,
  DRAIN_PHASE_LABEL,
  DRAIN_PHASES,
  DRAIN_STARTED_AT_ANNOTATION,
  FLEETIQ_STATUS_ANNOTATION,
  FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION,
  OBSERVED_STATUS_REFRESH_MS,
  NODE_ANNOTATION_PREFIX,
  SPOT_NOTICE_AT_ANNOTATION,
  drainPhaseLabel,
  drainRecordAnnotations,
  hasAnyDrainKeyTaint,
  hasDrainTaint,
  observedStatusAnnotations,
  readDrainRecord,
  readDrainRequest,
  DRAIN_REASONS,
  DRAIN_REQUEST_ANNOTATION,
  readObservedStatus,
  withDrainPhaseLabel,
  withDrainRecord,
  DEFAULT_PROTECT_RESERVED,
  FENCED_NODE_STATUSES,
  INSTANCE_STATUS_LABEL,
  KARPENTER_DO_NOT_DISRUPT_ANNOTATION,
  CORDONED_NODES_FIELD_SELECTOR,
  NO_SESSION_NODE_SELECTORS,
  nodeRefusesSessions,
  nodeSessionSignals,
  podMarkedDoNotDisrupt,
  sessionPodNeeds,
  sessionPodPatch,
  drainTolerationPatch,
  podToleratesDrain,
  protectedStates,
  toleratesDrainTaint,
  type DrainRecord,
  type NodeView,
  type PodTolerations,
  type Toleration,
} from '../../shared/drain-contract.js';
import {
  DRAIN_TAINT,
  DRAIN_TOLERATION,
  FLEETIQ_STATUSES,
  LEGACY_ACTIVE_TAINT_KEY,
} from '../../shared/contract.js';
import jsonpatch from 'fast-json-patch';
import { matchesLabels, parseLabelSelector } from '../../sandbox/kube/selectors.js';

const NOW = Date.parse('2026-11-21T10:00:00.000Z');

describe('node drain record', () => {
  it('keeps every annotation under gamelift.status/ (never agones.dev/)', () => {
    for (const a of DRAIN_ANNOTATIONS) expect(a.startsWith(NODE_ANNOTATION_PREFIX)).toBe(true);
  });

  it('round-trips a full record through annotations', () => {
    const record: DrainRecord = {
      phase: 'SpotEvicting',
      reason: 'spot',
      startedAt: NOW - 5000,
      cordonedByAgent: true,
      spotNoticeAt: NOW - 1000,
      maxWaitWarnedAt: NOW,
    };
    const annotations = withDrainRecord({ other: 'kept' }, record);
    expect(annotations).toEqual({
      other: 'kept',
      [DRAIN_PHASE_ANNOTATION]: 'SpotEvicting',
      [DRAIN_REASON_ANNOTATION]: 'spot',
      [DRAIN_STARTED_AT_ANNOTATION]: '2026-11-21T09:59:55.000Z',
      [CORDONED_BY_AGENT_ANNOTATION]: 'true',
      [SPOT_NOTICE_AT_ANNOTATION]: '2026-11-21T09:59:59.000Z',
      [DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION]: '2026-11-21T10:00:00.000Z',
    });
    expect(readDrainRecord(annotations, NOW)).toEqual(record);
  });

  it('removes optional annotations a new record no longer has, and all of them for null', () => {
    const full = withDrainRecord(
      {},
      { phase: 'Tainted', reason: 'fleetiq', startedAt: NOW, cordonedByAgent: false, maxWaitWarnedAt: NOW },
    );
    const patch = drainRecordAnnotations({
      phase: 'Tainted',
      reason: 'fleetiq',
      startedAt: NOW,
      cordonedByAgent: false,
    });
    expect(patch[DRAIN_MAX_WAIT_WARNED_AT_ANNOTATION]).toBeNull();
    expect(withDrainRecord(full, null)).toEqual({});
  });

  it('reads no drain from a node without annotations or marked Active', () => {
    expect(readDrainRecord({}, NOW)).toBeNull();
    expect(readDrainRecord({ [DRAIN_PHASE_ANNOTATION]: 'Active' }, NOW)).toBeNull();
  });

  it('distrusts values someone else wrote', () => {
    expect(
      readDrainRecord(
        {
          [DRAIN_PHASE_ANNOTATION]: 'Exploding',
          [DRAIN_STARTED_AT_ANNOTATION]: 'yesterday',
          [CORDONED_BY_AGENT_ANNOTATION]: 'True',
          [SPOT_NOTICE_AT_ANNOTATION]: 'soon',
        },
        NOW,
      ),
    ).toEqual({ phase: 'Cordoned', reason: 'fleetiq', startedAt: NOW, cordonedByAgent: false });
  });

  it('reads the reason an older agent did not record from the phase, and a garbled one the same way', () => {
    const at = (phase: string, reason?: string) =>
      readDrainRecord(
        {
          [DRAIN_PHASE_ANNOTATION]: phase,
          ...(reason === undefined ? {} : { [DRAIN_REASON_ANNOTATION]: reason }),
        },
        NOW,
      )?.reason;
    expect(at('Tainted')).toBe('fleetiq');
    expect(at('SpotEvicting')).toBe('spot');
    expect(at('Tainted', 'nonsense')).toBe('fleetiq');
    expect(at('SpotEvicting', '')).toBe('spot');
    for (const reason of DRAIN_REASONS) expect(at('Tainted', reason)).toBe(reason);
  });

  it('reads an operator drain request: deregister only when it says so exactly', () => {
    expect(readDrainRequest({})).toBeUndefined();
    expect(readDrainRequest({ [DRAIN_REQUEST_ANNOTATION]: '' })).toBe('drain');
    expect(readDrainRequest({ [DRAIN_REQUEST_ANNOTATION]: 'drain' })).toBe('drain');
    expect(readDrainRequest({ [DRAIN_REQUEST_ANNOTATION]: 'deregister' })).toBe('deregister');
    expect(readDrainRequest({ [DRAIN_REQUEST_ANNOTATION]: ' deregister\n' })).toBe('deregister');
    expect(readDrainRequest({ [DRAIN_REQUEST_ANNOTATION]: 'DEREGISTER-please' })).toBe('drain');
  });

  it('tells the exact drain taint from a malformed one with the same key', () => {
    const node: NodeView = {
      labels: {},
      annotations: {},
      unschedulable: false,
      taints: [{ ...DRAIN_TAINT }],
    };
    expect(hasDrainTaint(node)).toBe(true);
    node.taints = [{ key: 'gamelift.status/draining', value: 'false', effect: 'NoExecute' }];
    expect(hasDrainTaint(node)).toBe(false);
    expect(hasAnyDrainKeyTaint(node)).toBe(true);
    node.taints = [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoSchedule' }];
    expect(hasDrainTaint(node)).toBe(false);
  });
});

describe('drain phase label', () => {
  it('carries every phase as a valid label value, under the same key as the annotation', () => {
    // Kubernetes label values: at most 63 characters, alphanumerics with -_. inside.
    const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
    for (const phase of DRAIN_PHASES.filter((p) => p !== 'Active')) {
      const v = drainPhaseLabel({ phase, reason: 'fleetiq', startedAt: NOW, cordonedByAgent: true });
      expect(v).toBe(phase);
      expect(v).toMatch(labelValue);
    }
    expect(DRAIN_PHASE_LABEL).toBe(DRAIN_PHASE_ANNOTATION);
  });

  it('says Active without a record, other labels kept', () => {
    const labels = withDrainPhaseLabel(
      { role: 'game-servers' },
      { phase: 'Tainted', reason: 'fleetiq', startedAt: NOW, cordonedByAgent: true },
    );
    expect(labels).toEqual({ role: 'game-servers', [DRAIN_PHASE_LABEL]: 'Tainted' });
    expect(withDrainPhaseLabel(labels, null)).toEqual({
      role: 'game-servers',
      [DRAIN_PHASE_LABEL]: 'Active',
    });
    expect(drainPhaseLabel(null)).toBe('Active');
  });
});

describe('observed FleetIQ status', () => {
  const at = (iso: string) => Date.parse(iso);

  it('is recorded when there is none, and read back', () => {
    const patch = observedStatusAnnotations({}, { status: 'DRAINING', observedAt: NOW });
    expect(patch).toEqual({
      [FLEETIQ_STATUS_ANNOTATION]: 'DRAINING',
      [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: '2026-11-21T10:00:00.000Z',
    });
    expect(readObservedStatus(patch!)).toEqual({ status: 'DRAINING', observedAt: NOW });
  });

  it('is rewritten when the status changes, however recently the last one was recorded', () => {
    const recorded = observedStatusAnnotations({}, { status: 'DRAINING', observedAt: NOW })!;
    expect(observedStatusAnnotations(recorded, { status: 'ACTIVE', observedAt: NOW + 1 })).toEqual({
      [FLEETIQ_STATUS_ANNOTATION]: 'ACTIVE',
      [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: '2026-11-21T10:00:00.001Z',
    });
  });

  it('is refreshed for the same status only once the refresh interval has passed', () => {
    const recorded = observedStatusAnnotations({}, { status: 'ACTIVE', observedAt: NOW })!;
    const same = (ms: number) => ({ status: 'ACTIVE' as const, observedAt: NOW + ms });
    expect(observedStatusAnnotations(recorded, same(OBSERVED_STATUS_REFRESH_MS - 1))).toBeNull();
    expect(observedStatusAnnotations(recorded, same(-60_000))).toBeNull();
    expect(observedStatusAnnotations(recorded, same(OBSERVED_STATUS_REFRESH_MS))).not.toBeNull();
    expect(observedStatusAnnotations(recorded, same(10), 10)).not.toBeNull();
  });

  it('writes nothing without a status, and ignores malformed records (rewrites them)', () => {
    expect(observedStatusAnnotations({}, undefined)).toBeNull();
    const junk = { [FLEETIQ_STATUS_ANNOTATION]: 'ON_FIRE', [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: 'now' };
    expect(readObservedStatus(junk)).toBeUndefined();
    expect(
      observedStatusAnnotations(junk, { status: 'ACTIVE', observedAt: at('2026-11-21T10:00:00Z') }),
    ).not.toBeNull();
    expect(
      readObservedStatus({
        [FLEETIQ_STATUS_ANNOTATION]: 'ACTIVE',
        [FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION]: 'later',
      }),
    ).toBeUndefined();
  });

  it('is not drain state: a revert leaves it', () => {
    expect(DRAIN_ANNOTATIONS).not.toContain(FLEETIQ_STATUS_ANNOTATION);
    expect(DRAIN_ANNOTATIONS).not.toContain(FLEETIQ_STATUS_OBSERVED_AT_ANNOTATION);
    expect(FLEETIQ_STATUS_ANNOTATION.startsWith(NODE_ANNOTATION_PREFIX)).toBe(true);
  });
});

describe('tolerating the drain taint', () => {
  it('tolerations match as Kubernetes matches them; tolerationSeconds only delays the eviction', () => {
    expect(toleratesDrainTaint({ ...DRAIN_TOLERATION })).toBe(true);
    expect(toleratesDrainTaint({ key: DRAIN_TAINT.key, operator: 'Exists' })).toBe(true);
    expect(toleratesDrainTaint({ key: DRAIN_TAINT.key, value: 'true' })).toBe(true); // operator defaults to Equal
    expect(toleratesDrainTaint({ operator: 'Exists' })).toBe(true); // tolerates everything
    expect(
      toleratesDrainTaint({ key: DRAIN_TAINT.key, operator: 'Equal', value: 'false', effect: 'NoExecute' }),
    ).toBe(false);
    expect(toleratesDrainTaint({ key: DRAIN_TAINT.key, operator: 'Exists', effect: 'NoSchedule' })).toBe(
      false,
    );
    expect(toleratesDrainTaint({ ...DRAIN_TOLERATION, tolerationSeconds: 30 })).toBe(false);
    expect(toleratesDrainTaint({ key: 'other', operator: 'Exists' })).toBe(false);
    expect(toleratesDrainTaint({ key: '', operator: 'Equal', value: 'true' })).toBe(false);
  });

  it.each([
    [{ ...DRAIN_TOLERATION }, true],
    [{ key: 'gamelift.status/draining', operator: 'Exists', effect: 'NoExecute' }, true],
    [{ key: 'gamelift.status/draining', operator: 'Exists' }, true],
    [{ operator: 'Exists' }, true], // tolerates everything
    [{ key: 'gamelift.status/draining', value: 'true', effect: 'NoExecute' }, true], // operator defaults to Equal
    [{ ...DRAIN_TOLERATION, tolerationSeconds: 300 }, false], // only delays the eviction
    [{ ...DRAIN_TOLERATION, value: 'false' }, false],
    [{ ...DRAIN_TOLERATION, effect: 'NoSchedule' }, false],
    [
      {
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300,
      },
      false,
    ],
    [{ key: 'gamelift.status/active', operator: 'Exists' }, false],
  ])('%j tolerates the drain taint: %s', (t, want) => {
    expect(toleratesDrainTaint(t)).toBe(want);
  });

  it('reads an empty operator as Equal, as Kubernetes does', () => {
    expect(toleratesDrainTaint({ key: DRAIN_TAINT.key, operator: '', value: 'true' })).toBe(true);
    expect(toleratesDrainTaint({ key: DRAIN_TAINT.key, operator: '', value: 'false' })).toBe(false);
    expect(toleratesDrainTaint({ key: '', operator: '' })).toBe(false);
  });

  // Every combination, against Kubernetes' own rule (core/v1 Toleration.ToleratesTaint) spelled out
  // independently, plus the two points where the contract is stricter: a toleration with
  // tolerationSeconds only delays a NoExecute eviction, and one with an empty key that is not Exists
  // is invalid (the API server refuses it) and so trusted with nothing.
  it('agrees with Kubernetes on every combination of key, operator, value, effect and seconds', () => {
    const kubernetesTolerates = (t: Toleration): boolean => {
      if (t.effect !== undefined && t.effect !== '' && t.effect !== DRAIN_TAINT.effect) return false;
      if (t.key !== undefined && t.key !== '' && t.key !== DRAIN_TAINT.key) return false;
      switch (t.operator ?? '') {
        case '':
        case 'Equal':
          return (t.value ?? '') === DRAIN_TAINT.value;
        case 'Exists':
          return true;
        default:
          return false;
      }
    };
    let tolerating = 0;
    let cases = 0;
    for (const key of [undefined, '', DRAIN_TAINT.key, 'gamelift.status/other'])
      for (const operator of [undefined, '', 'Equal', 'Exists', 'In'])
        for (const value of [undefined, '', 'true', 'false'])
          for (const effect of [undefined, '', 'NoExecute', 'NoSchedule', 'PreferNoSchedule'])
            for (const tolerationSeconds of [undefined, null, 0, 300]) {
              const t: Toleration = {
                ...(key !== undefined ? { key } : {}),
                ...(operator !== undefined ? { operator } : {}),
                ...(value !== undefined ? { value } : {}),
                ...(effect !== undefined ? { effect } : {}),
                ...(tolerationSeconds !== undefined ? { tolerationSeconds } : {}),
              };
              const valid = (key ?? '') !== '' || operator === 'Exists';
              const forGood = tolerationSeconds === undefined || tolerationSeconds === null;
              const want = valid && forGood && kubernetesTolerates(t);
              expect([t, toleratesDrainTaint(t)]).toEqual([t, want]);
              cases++;
              if (want) tolerating++;
            }
    expect(cases).toBe(4 * 5 * 4 * 5 * 4);
    expect(tolerating).toBeGreaterThan(0);
  });

  it('tolerates nothing with what is not a toleration, and reads a pod whatever it carries', () => {
    for (const junk of [null, undefined, 'Exists', 7, []])
      expect(toleratesDrainTaint(junk as never)).toBe(false);
    expect(podToleratesDrain({ spec: { tolerations: [null as never, { ...DRAIN_TOLERATION }] } })).toBe(true);
    expect(podToleratesDrain({ spec: { tolerations: { ...DRAIN_TOLERATION } as never } })).toBe(false);
    expect(podToleratesDrain({ spec: null })).toBe(false);
    expect(podToleratesDrain({})).toBe(false);
  });
});

describe('the toleration patch (one, for the webhook and the node agent)', () => {
  const apply = (doc: object, ops: object[]) =>
    jsonpatch.applyPatch(structuredClone(doc), ops as jsonpatch.Operation[], true, false).newDocument as any;

  it('appends the toleration, guarded by the list as read (or the resourceVersion without one)', () => {
    const pod = {
      metadata: { name: 'p', uid: 'u1', resourceVersion: '9' },
      spec: {
        tolerations: [
          {
            key: 'node.kubernetes.io/not-ready',
            operator: 'Exists',
            effect: 'NoExecute',
            tolerationSeconds: 300,
          },
        ],
      },
    };
    const ops = drainTolerationPatch(pod) as jsonpatch.Operation[];
    const out = jsonpatch.applyPatch(structuredClone(pod), ops).newDocument;
    expect(out.spec.tolerations).toEqual([...pod.spec.tolerations, DRAIN_TOLERATION]);
    const changed = structuredClone(pod);
    changed.spec.tolerations.push({
      key: 'x',
      operator: 'Exists',
      effect: 'NoSchedule',
      tolerationSeconds: 1,
    });
    expect(() => jsonpatch.applyPatch(changed, ops, true)).toThrow();
    const none = { metadata: { name: 'p', uid: 'u1', resourceVersion: '9' }, spec: {} as any };
    expect(
      jsonpatch.applyPatch(structuredClone(none), drainTolerationPatch(none) as jsonpatch.Operation[])
        .newDocument.spec.tolerations,
    ).toEqual([DRAIN_TOLERATION]);
  });

  it('pins the uid in every case, so a re-created namesake is never patched', () => {
    const withList: PodTolerations = {
      metadata: { uid: 'u1', resourceVersion: '9' },
      spec: { tolerations: [] },
    };
    const without: PodTolerations = { metadata: { uid: 'u1', resourceVersion: '9' }, spec: {} };
    for (const pod of [withList, without]) {
      const ops = drainTolerationPatch(pod);
      expect(ops[0]).toEqual({ op: 'test', path: '/metadata/uid', value: 'u1' });
      expect(() => apply({ ...pod, metadata: { ...pod.metadata, uid: 'u2' } }, ops)).toThrow();
    }
  });

  it('appends to an empty list, guarded by the list rather than the resourceVersion', () => {
    const pod = { metadata: { uid: 'u1', resourceVersion: '9' }, spec: { tolerations: [] as Toleration[] } };
    const ops = drainTolerationPatch(pod);
    expect(ops).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'u1' },
      { op: 'test', path: '/spec/tolerations', value: [] },
      { op: 'add', path: '/spec/tolerations/-', value: { ...DRAIN_TOLERATION } },
    ]);
    // A kubelet status update (a new resourceVersion) does not make it fail; the result tolerates.
    const updated = apply({ ...pod, metadata: { ...pod.metadata, resourceVersion: '10' } }, ops);
    expect(updated.spec.tolerations).toEqual([DRAIN_TOLERATION]);
    expect(podToleratesDrain(updated)).toBe(true);
  });

  it('never shares the toleration object it adds (a caller mutating it changes no other patch)', () => {
    const pod = { metadata: { uid: 'u1', resourceVersion: '9' }, spec: {} };
    const a = drainTolerationPatch(pod);
    (a[2] as { value: Toleration[] }).value[0]!.value = 'changed';
    expect(drainTolerationPatch(pod)[2]).toEqual({
      op: 'add',
      path: '/spec/tolerations',
      value: [DRAIN_TOLERATION],
    });
    expect(DRAIN_TOLERATION.value).toBe('true');
  });
});

describe('who is protected, and where no session may start', () => {
  it('protects Reserved by default, in both components', () => {
    expect(DEFAULT_PROTECT_RESERVED).toBe(true);
    expect(protectedStates(DEFAULT_PROTECT_RESERVED)).toEqual(['Allocated', 'Reserved']);
    expect(protectedStates(false)).toEqual(['Allocated']);
  });

  it('fences DRAINING and SPOT_TERMINATING nodes, and only those', () => {
    expect(FLEETIQ_STATUSES.filter((s) => FENCED_NODE_STATUSES.has(s))).toEqual([
      'DRAINING',
      'SPOT_TERMINATING',
    ]);
    expect(FENCED_NODE_STATUSES.size).toBe(2);
  });
});

describe('which nodes take no new session', () => {
  // Every value each drain label can take (absent, each known one, one this version does not know),
  // cordoned or not, with the old adapter's taint, another taint or none.
  const STATUSES = [undefined, ...FLEETIQ_STATUSES, 'SOMETHING'];
  const PHASES = [undefined, ...DRAIN_PHASES, 'Reverting'];
  const TAINTS = [
    [],
    [LEGACY_ACTIVE_TAINT_KEY],
    [DRAIN_TAINT.key],
    [DRAIN_TAINT.key, LEGACY_ACTIVE_TAINT_KEY],
  ];
  const grid = STATUSES.flatMap((status) =>
    PHASES.flatMap((phase) =>
      [false, true].flatMap((cordoned) =>
        TAINTS.map((taintKeys) => {
          const labels: Record<string, string> = { 'kubernetes.io/hostname': 'n1' };
          if (status !== undefined) labels[INSTANCE_STATUS_LABEL] = status;
          if (phase !== undefined) labels[DRAIN_PHASE_LABEL] = phase;
          const node = {
            metadata: { labels },
            spec: { unschedulable: cordoned, taints: taintKeys.map((key) => ({ key, effect: 'NoExecute' })) },
          };
          return { status, phase, cordoned, taintKeys, labels, node };
        }),
      ),
    ),
  );

  it.each(
    grid.map(
      (g) =>
        [
          g.status ?? '(none)',
          g.phase ?? '(none)',
          g.cordoned,
          g.taintKeys.join('+') || '(none)',
          g,
        ] as const,
    ),
  )('instance-status %s, drain-phase %s, cordoned %s, taints %s', (_s, _p, _c, _t, g) => {
    const { status, phase, cordoned, taintKeys } = g;
    const fencedStatus = status !== undefined && FENCED_NODE_STATUSES.has(status);
    const draining = phase !== undefined && phase !== 'Active';
    const legacyDraining = cordoned && taintKeys.includes(LEGACY_ACTIVE_TAINT_KEY);
    const why = nodeRefusesSessions(nodeSessionSignals(g.node));
    expect(why !== undefined).toBe(fencedStatus || draining || legacyDraining);
    // FleetIQ's word first; the drain phase next; the old daemon's drain last, named in the message.
    if (fencedStatus) expect(why).toBe(`${status} (${INSTANCE_STATUS_LABEL})`);
    else if (draining) expect(why).toBe(`draining (${DRAIN_PHASE_LABEL}=${phase})`);
    else if (legacyDraining)
      expect(why).toContain(`cordoned with the old adapter's ${LEGACY_ACTIVE_TAINT_KEY} taint`);
  });

  it('reads only the drain labels, the cordon and the taint keys of a Node', () => {
    expect(
      nodeSessionSignals({
        metadata: { labels: { a: 'b', [DRAIN_PHASE_LABEL]: 'Tainted' } },
        spec: { unschedulable: true, taints: [{ key: 'k' }, {}] },
      }),
    ).toEqual({ labels: { [DRAIN_PHASE_LABEL]: 'Tainted' }, cordoned: true, taintKeys: ['k'] });
    expect(nodeSessionSignals({})).toEqual({ labels: {}, cordoned: false, taintKeys: [] });
  });

  it('the selections a cache of those nodes watches hold exactly the nodes refused, each trusted for its own part', () => {
    const selectors = Object.entries(NO_SESSION_NODE_SELECTORS).map(
      ([label, text]) => [label, parseLabelSelector(text)] as const,
    );
    expect(selectors.map(([label]) => label).sort()).toEqual([DRAIN_PHASE_LABEL, INSTANCE_STATUS_LABEL]);
    expect(CORDONED_NODES_FIELD_SELECTOR).toBe('spec.unschedulable=true');
    for (const g of grid) {
      const matching = selectors.filter(([, sel]) => matchesLabels(sel, g.labels));
      const refusal = nodeRefusesSessions(nodeSessionSignals(g.node));
      // Every node refused is in at least one selection.
      if (refusal !== undefined)
        expect({ node: g.node, selected: matching.length > 0 || g.cordoned }).toEqual({
          node: g.node,
          selected: true,
        });
      // A label selection holds a node only where its own label alone refuses it.
      for (const [label] of matching)
        expect(
          nodeRefusesSessions({ labels: { [label]: g.labels[label]! }, cordoned: false, taintKeys: [] }),
        ).toEqual(expect.any(String));
      // Outside the label selections, what the cordoned nodes' selection knows (a node outside it: not
      // cordoned, taints unknown) gives the same answer as the whole node.
      if (!matching.length) {
        const known = g.cordoned
          ? { cordoned: true, taintKeys: g.taintKeys }
          : { cordoned: false, taintKeys: [] };
        expect(nodeRefusesSessions({ labels: {}, ...known })).toBe(refusal);
      }
    }
  });
});

describe("a session pod's protection: the toleration and Karpenter's mark, in one guarded patch", () => {
  const MARK = KARPENTER_DO_NOT_DISRUPT_ANNOTATION;
  // Validating (a failed `test` throws), as the API server applies a JSON Patch.
  const apply = (doc: object, ops: object[]) =>
    jsonpatch.applyPatch(structuredClone(doc), ops as jsonpatch.Operation[], true, false).newDocument as any;
  const OTHER_TOLERATION: Toleration = { key: 'x', operator: 'Exists', effect: 'NoSchedule' };
  // Every shape of pod that matters: toleration list (none, without, with the drain toleration),
  // annotations (none, others only, the mark with each kind of value), and the setting.
  const TOLERATIONS = [undefined, [OTHER_TOLERATION], [OTHER_TOLERATION, { ...DRAIN_TOLERATION }]];
  const ANNOTATIONS = [
    undefined,
    { 'agones.dev/sdk-version': '1.50.0' },
    { [MARK]: 'true' },
    { [MARK]: 'false', other: 'kept' },
    { [MARK]: '5m' },
  ];
  const cases = TOLERATIONS.flatMap((tolerations) =>
    ANNOTATIONS.flatMap((annotations) =>
      [true, false].map((karpenterDoNotDisrupt) => {
        const pod = {
          metadata: {
            uid: 'u1',
            resourceVersion: '9',
            ...(annotations ? { annotations: { ...annotations } } : {}),
          },
          spec: tolerations ? { tolerations: tolerations.map((t) => ({ ...t })) } : {},
        } as PodTolerations & { metadata: { annotations?: Record<string, string> } };
        return {
          pod,
          karpenterDoNotDisrupt,
          name: JSON.stringify({ tolerations, annotations, karpenterDoNotDisrupt }),
        };
      }),
    ),
  );

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, { pod, karpenterDoNotDisrupt }) => {
    const options = { karpenterDoNotDisrupt };
    const ops = sessionPodPatch(pod, options);
    const needs = sessionPodNeeds(pod, options);
    expect(needs).toEqual({
      toleration: !podToleratesDrain(pod),
      doNotDisrupt: karpenterDoNotDisrupt && pod.metadata.annotations?.[MARK] !== 'true',
    });
    if (!needs.toleration && !needs.doNotDisrupt) {
      expect(ops).toEqual([]);
      return;
    }
    // Tests first, the uid always among them.
    const firstAdd = ops.findIndex((o) => o.op !== 'test');
    expect(ops.slice(firstAdd).every((o) => o.op === 'add')).toBe(true);
    expect(ops[0]).toEqual({ op: 'test', path: '/metadata/uid', value: 'u1' });
    const out = apply(pod, ops) as typeof pod;
    // Protected as asked, nothing else changed.
    expect(podToleratesDrain(out)).toBe(true);
    expect(podMarkedDoNotDisrupt(out)).toBe(karpenterDoNotDisrupt || podMarkedDoNotDisrupt(pod));
    expect(out.spec?.tolerations ?? []).toEqual([
      ...(pod.spec?.tolerations ?? []),
      ...(needs.toleration ? [DRAIN_TOLERATION] : []),
    ]);
    const { [MARK]: markAfter, ...othersAfter } = out.metadata.annotations ?? {};
    const { [MARK]: markBefore, ...othersBefore } = pod.metadata.annotations ?? {};
    expect(othersAfter).toEqual(othersBefore);
    expect(markAfter).toBe(needs.doNotDisrupt ? 'true' : markBefore);
    // Applied again to the result, it is nothing more to do.
    expect(sessionPodPatch(out, options)).toEqual([]);
    // Never to a re-created namesake.
    expect(() => apply({ ...pod, metadata: { ...pod.metadata, uid: 'u2' } }, ops)).toThrow();
    // What it creates whole (a list, a map) it guards with the resourceVersion: never replaces a list or
    // map added since the read.
    const createsWhole = ops.some(
      (o) => o.op === 'add' && (o.path === '/spec/tolerations' || o.path === '/metadata/annotations'),
    );
    expect(ops.some((o) => o.op === 'test' && o.path === '/metadata/resourceVersion')).toBe(createsWhole);
    expect(ops.filter((o) => o.path === '/metadata/resourceVersion')).toHaveLength(createsWhole ? 1 : 0);
    if (createsWhole)
      expect(() => apply({ ...pod, metadata: { ...pod.metadata, resourceVersion: '10' } }, ops)).toThrow();
  });

  it('marks by default: the node agent backfills with the same protection as the webhook', () => {
    const pod = {
      metadata: { uid: 'u1', resourceVersion: '9', annotations: { a: 'b' } },
      spec: { tolerations: [] },
    };
    expect(apply(pod, sessionPodPatch(pod)).metadata.annotations).toEqual({ a: 'b', [MARK]: 'true' });
  });

  it('reads anything but exactly "true" as unmarked, and a list or null annotations as none', () => {
    for (const annotations of [{ [MARK]: 'True' }, { [MARK]: '1' }, {}, null, ['true'], 'true'])
      expect(podMarkedDoNotDisrupt({ metadata: { annotations: annotations as never } })).toBe(false);
    expect(podMarkedDoNotDisrupt({ metadata: { annotations: { [MARK]: 'true' } } })).toBe(true);
  });
});
