// Event pacing: a step retried every few hundred milliseconds raises its Warning once per interval,
// and Events wait while the agent is acting (at most maxDeferMs) so they never compete with a drain.
import { describe, expect, it } from '@jest/globals';
import { NodeEventRecorder } from '../../reconciler/events.js';
import type { AgentKubeApi } from '../../reconciler/kube-api.js';
import { silent, waitFor } from './helpers.js';

function recorder(opts: { deferWhile?: () => boolean; maxDeferMs?: number } = {}) {
  let now = 0;
  const written: { reason: string; type: string }[] = [];
  const api = {
    createEvent: async (_ns: string, e: { reason: string; type: string }) => {
      written.push({ reason: e.reason, type: e.type });
    },
  } as unknown as AgentKubeApi;
  const r = new NodeEventRecorder({
    api,
    nodeName: 'node-a',
    logger: silent,
    now: () => now,
    failureIntervalMs: 30_000,
    ...opts,
  });
  return { r, written, at: (t: number) => (now = t) };
}

describe('NodeEventRecorder', () => {
  it('raises a failure Warning at most once per reason per interval', async () => {
    const t = recorder();
    t.r.emitFailure('CordonFailed', 'cordoning failed: 403');
    t.at(10_000);
    t.r.emitFailure('CordonFailed', 'cordoning failed: 403');
    t.r.emitFailure('TaintFailed', 'tainting failed: 500');
    t.at(29_999);
    t.r.emitFailure('CordonFailed', 'cordoning failed: 403');
    t.at(30_000);
    t.r.emitFailure('CordonFailed', 'cordoning failed: 403');
    await t.r.flush(1000);
    expect(t.written).toEqual([
      { reason: 'CordonFailed', type: 'Warning' },
      { reason: 'TaintFailed', type: 'Warning' },
      { reason: 'CordonFailed', type: 'Warning' },
    ]);
  });

  it('holds Events while the agent acts, and sends them once it is idle', async () => {
    let acting = true;
    const t = recorder({ deferWhile: () => acting, maxDeferMs: 60_000 });
    t.r.emit('Normal', 'Cordoned', 'cordoned');
    await new Promise((r) => setImmediate(r));
    expect(t.written).toEqual([]);
    acting = false;
    t.r.notifyIdle();
    await waitFor('the Event written', () => t.written.length === 1);
    expect(t.written).toEqual([{ reason: 'Cordoned', type: 'Normal' }]);
  });
});
