// The MutatingWebhookConfiguration as the API server sees it: valid (the emulator's validation of
// admissionregistration.k8s.io/v1, CEL compilation included), and its matchConditions evaluated with
// kube-apiserver's semantics on the GameServer transitions that matter.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { validateMutatingWebhookConfiguration } from '../../sandbox/kube/admission/index.js';
import { evaluateConditions, toCelValue, type MatchCondition } from '../../sandbox/kube/admission/cel.js';
import type { KubeObject } from '../../sandbox/kube/types.js';
import { findObject, OVERLAYS, renderOverlay } from './render.js';
import { templateOf } from './inspect.js';
import { webhookSettings } from './component-config.js';

const rendered = new Map<string, KubeObject[]>();
beforeAll(async () => {
  for (const overlay of ['base', ...OVERLAYS] as const) rendered.set(overlay, await renderOverlay(overlay));
});

const mwc = (overlay = 'base') =>
  findObject(rendered.get(overlay)!, 'MutatingWebhookConfiguration', 'fleetiq-agones-webhook');

/** A GameServer as Agones writes it; `state: undefined` leaves status out entirely. */
function gameServer(
  state: string | undefined,
  annotations?: Record<string, string>,
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'agones.dev/v1',
    kind: 'GameServer',
    metadata: {
      name: 'gs-1',
      namespace: 'game-servers',
      uid: 'b0a4c3f2-0000-4000-8000-000000000001',
      resourceVersion: '42',
      generation: 7,
      labels: { 'agones.dev/fleet': 'fleet' },
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      ports: [{ name: 'default', containerPort: 7654, portPolicy: 'Dynamic' }],
      health: { periodSeconds: 5 },
    },
    ...(state === undefined
      ? {}
      : { status: { state, nodeName: 'ip-10-0-0-1', ports: [{ name: 'default', port: 7001 }], ...extra } }),
  };
}

function conditionsOf(overlay = 'base'): MatchCondition[] {
  return mwc(overlay).webhooks[0].matchConditions;
}

/** What the API server decides before calling: matches, skipped, or an evaluation error. */
function evaluate(oldObject: unknown, object: unknown, operation = 'UPDATE') {
  return evaluateConditions(conditionsOf(), {
    object: toCelValue(object),
    oldObject: toCelValue(oldObject),
    request: toCelValue({
      operation,
      dryRun: false,
      kind: { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
    }),
  });
}

const T1 = '2026-05-01T10:00:00.123456789Z';
const T2 = '2026-05-01T10:05:00.987654321Z';

describe('MutatingWebhookConfiguration', () => {
  it.each(['base', ...OVERLAYS])('is valid as kube-apiserver validates it, CEL included (%s)', (overlay) => {
    expect(validateMutatingWebhookConfiguration(mwc(overlay))?.message).toBeUndefined();
  });

  it('calls the webhook on GameServer UPDATEs only, with the settings the webhook is built for', () => {
    const [hook] = mwc().webhooks;
    expect(mwc().webhooks).toHaveLength(1);
    expect(hook.rules).toEqual([
      {
        operations: ['UPDATE'],
        apiGroups: ['agones.dev'],
        apiVersions: ['v1'],
        resources: ['gameservers'],
        scope: 'Namespaced',
      },
    ]);
    expect(hook).toMatchObject({
      sideEffects: 'NoneOnDryRun',
      failurePolicy: 'Fail',
      reinvocationPolicy: 'Never',
      admissionReviewVersions: ['v1'],
      matchPolicy: 'Equivalent',
    });
    expect(hook.timeoutSeconds).toBeLessThanOrEqual(5);
    expect(mwc('fail-open').webhooks[0].failurePolicy).toBe('Ignore');
    // The same conditions in every overlay.
    for (const overlay of OVERLAYS) expect(conditionsOf(overlay)).toEqual(conditionsOf());
  });

  it('leaves the webhook’s pod-patch budget well inside timeoutSeconds', () => {
    const config = webhookConfigOf('base');
    expect(config.podPatchTimeoutMs).toBeLessThanOrEqual((mwc().webhooks[0].timeoutSeconds * 1000) / 2);
  });
});

describe('matchConditions', () => {
  it.each([
    ['Ready', 'Allocated'],
    ['Reserved', 'Allocated'],
    ['Ready', 'Reserved'],
    ['Scheduled', 'Allocated'],
  ])('call the webhook for %s → %s', (from, to) => {
    expect(evaluate(gameServer(from), gameServer(to, { 'agones.dev/last-allocated': T1 }))).toEqual({
      matches: true,
    });
  });

  it('call the webhook for a re-allocation of an Allocated GameServer (agones.dev/last-allocated rewritten)', () => {
    expect(
      evaluate(
        gameServer('Allocated', { 'agones.dev/last-allocated': T1 }),
        gameServer('Allocated', { 'agones.dev/last-allocated': T2 }),
      ),
    ).toEqual({
      matches: true,
    });
    // An Allocated GameServer allocated by the SDK first had no annotation at all.
    expect(
      evaluate(gameServer('Allocated'), gameServer('Allocated', { 'agones.dev/last-allocated': T2 })),
    ).toEqual({
      matches: true,
    });
  });

  it.each([
    ['Ready', 'Ready'],
    ['Allocated', 'Shutdown'],
    ['Scheduled', 'Ready'],
    ['RequestReady', 'Ready'],
    ['Allocated', 'Ready'],
    ['Allocated', 'Unhealthy'],
    ['Reserved', 'Ready'],
    ['Creating', 'Starting'],
  ])('skip %s → %s', (from, to) => {
    expect(evaluate(gameServer(from), gameServer(to))).toMatchObject({
      matches: false,
      failedCondition: expect.any(String),
    });
  });

  it('skip the many updates of an Allocated GameServer that are not allocations (SDK labels, players, health)', () => {
    const before = gameServer('Allocated', { 'agones.dev/last-allocated': T1 });
    const after = gameServer(
      'Allocated',
      { 'agones.dev/last-allocated': T1, 'agones.dev/sdk-map': 'round-2' },
      { players: { count: 3, capacity: 10 } },
    );
    expect(evaluate(before, after)).toMatchObject({ matches: false });
    expect(evaluate(gameServer('Allocated'), gameServer('Allocated'))).toMatchObject({ matches: false });
    expect(evaluate(gameServer('Reserved'), gameServer('Reserved'))).toMatchObject({ matches: false });
  });

  it('never error (an error would reject the update under failurePolicy Fail) on objects missing status or state', () => {
    expect(evaluate(gameServer(undefined), gameServer(undefined))).toMatchObject({ matches: false });
    expect(evaluate(gameServer('Ready'), gameServer(undefined))).toMatchObject({ matches: false });
    const noState = { ...gameServer('Ready'), status: {} };
    expect(evaluate(noState, noState)).toMatchObject({ matches: false });
    expect(evaluate(gameServer('Ready'), noState)).toMatchObject({ matches: false });
    // Allocated straight from an object that had no status yet: a transition.
    expect(evaluate(gameServer(undefined), gameServer('Allocated'))).toEqual({ matches: true });
    expect(evaluate(noState, gameServer('Allocated'))).toEqual({ matches: true });
    // The guards are what keeps these from erroring: the same test without them errors.
    const unguarded = [{ name: 'allocated', expression: "object.status.state == 'Allocated'" }];
    expect(
      evaluateConditions(unguarded, {
        object: toCelValue(gameServer(undefined)),
        oldObject: null,
        request: null,
      }),
    ).toMatchObject({ matches: false, error: expect.stringContaining('No such key: status') });
    // A CREATE (oldObject null) cannot reach this rule, but would not error either.
    expect(evaluate(null, gameServer('Allocated'), 'CREATE')).toEqual({ matches: true });
  });

  it('list exactly the states the webhook protects (WEBHOOK_PROTECT_RESERVED) and the reconciler counts as sessions', () => {
    const protectedStates = webhookConfigOf('base').protectedStates;
    expect(protectedStates).toEqual(['Allocated', 'Reserved']);
    for (const state of ['Allocated', 'Reserved']) {
      const called = evaluate(gameServer('Ready'), gameServer(state)).matches;
      expect({ state, called }).toEqual({
        state,
        called: protectedStates.includes(state as 'Allocated' | 'Reserved'),
      });
    }
    const reconciler = templateOf(rendered.get('base')!, 'reconciler').spec.containers[0];
    const protectReserved = reconciler.env.find((e: any) => e.name === 'PROTECT_RESERVED')?.value ?? 'true';
    expect(protectReserved === 'true').toBe(protectedStates.includes('Reserved'));
  });
});

/** The webhook's configuration as its own CLI reads the rendered container's env and args. */
function webhookConfigOf(overlay: string) {
  return webhookSettings(rendered.get(overlay)!).config;
}
