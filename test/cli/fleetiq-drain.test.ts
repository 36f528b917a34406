// `kubectl fleetiq drain` and `undrain` against the Kubernetes API server emulator (HTTPS, RBAC, a
// kubeconfig as kubectl hands it over). The node agents are played by the test: a loop that moves each
// requested node one drain phase a step, as the agent records them, and a node group that replaces a
// drained node with a new one outside the selection. The real agent acting on a request is covered
// by the sandbox's upgrade scenario (test/sandbox/run/upgrade.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, runFleetIQPlugin } from '../../cli/plugin.js';
import { undrainMessage } from '../../cli/fleetiq-drain.js';
import { startKubeEmulator, type KubeEmulator } from '../../sandbox/kube/emulator.js';
import { waitFor } from '../helpers/wait.js';
import { PHASE, REASON, REQUEST, REQUESTED_AT, STARTED, DrainTestCluster } from './drain-support.js';

let emu: KubeEmulator;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  emu = await startKubeEmulator({ authorization: 'rbac' });
  dir = mkdtempSync(join(tmpdir(), 'fleetiq-drain-'));
  kubeconfig = join(dir, 'kubeconfig');
  await emu.writeKubeconfig(kubeconfig);
});

afterAll(async () => {
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const cluster = () => new DrainTestCluster(emu.client());
const admin = () => emu.client();
const addNode = (...a: Parameters<DrainTestCluster['addNode']>) => cluster().addNode(...a);
const addSession = (...a: Parameters<DrainTestCluster['addSession']>) => cluster().addSession(...a);
const annotations = (name: string) => cluster().annotations(name);
const playAgents = (o?: Parameters<DrainTestCluster['playAgents']>[0]) => cluster().playAgents(o);

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env: {},
    },
    text: () => out.join(''),
    lines: () => out.join('').trim().split('\n'),
  };
};

const plugin = (args: string[], c = capture(), signal?: AbortSignal) =>
  runFleetIQPlugin([...args, '--kubeconfig', kubeconfig], c.io, signal).then((code) => ({ code, c }));

beforeEach(() => cluster().clear());

describe('kubectl fleetiq drain NODE', () => {
  it('writes the request and its time on each node, and says so; a second run finds it there', async () => {
    await addNode('gs-1');
    await addNode('gs-2');
    await addSession('s1', 'gs-1');
    const { code, c } = await plugin(['drain', 'gs-1', 'gs-2']);
    expect(code).toBe(EXIT_OK);
    expect(c.lines()).toEqual([
      expect.stringMatching(
        /^\d\d:\d\d:\d\d {2}node\/gs-1 drain requested \(drain\): 1 session to wait for$/,
      ),
      expect.stringMatching(/node\/gs-2 drain requested \(drain\): 0 sessions to wait for$/),
    ]);
    const a = await annotations('gs-1');
    expect(a[REQUEST]).toBe('drain');
    expect(Date.now() - Date.parse(a[REQUESTED_AT]!)).toBeLessThan(60_000);
    const again = await plugin(['drain', 'gs-1']);
    expect(again.c.text()).toMatch(/node\/gs-1 already requested \(drain\)/);
    expect((await annotations('gs-1'))[REQUESTED_AT]).toBe(a[REQUESTED_AT]);
    // --deregister raises it, keeping the time of the first request.
    await plugin(['drain', 'gs-1', '--deregister']);
    expect(await annotations('gs-1')).toMatchObject({
      [REQUEST]: 'deregister',
      [REQUESTED_AT]: a[REQUESTED_AT],
    });
  });

  it('refuses a node that is not a game server node, or does not exist, and then writes nothing at all', async () => {
    await addNode('gs-1');
    await addNode('system-1', { 'node-role': 'system' });
    const { code, c } = await plugin(['drain', 'gs-1', 'system-1', 'nope']);
    expect(code).toBe(EXIT_ERROR);
    expect(c.err.join('')).toBe(
      'error: node "system-1" is not a game server node (no label role=game-servers): no fleetiq-agones node agent ' +
        'runs there to drain it; use kubectl drain for other nodes\n' +
        'error: node "nope" not found\n' +
        'error: nothing was changed\n',
    );
    expect((await annotations('gs-1'))[REQUEST]).toBeUndefined();
  });

  it('--dry-run says what would happen and the sessions on each node, and writes nothing', async () => {
    await addNode('gs-1');
    await addNode('gs-2', undefined, { [PHASE]: 'Tainted', [REASON]: 'fleetiq', [REQUEST]: 'drain' });
    await addSession('s1', 'gs-1');
    await addSession('s2', 'gs-1');
    await addSession('r1', 'gs-1', 'Ready');
    const { code, c } = await plugin(['drain', 'gs-1', 'gs-2', '--dry-run']);
    expect(code).toBe(EXIT_OK);
    expect(c.lines()).toEqual([
      'node/gs-1 would be requested to drain (drain): phase Active, 2 sessions to wait for, 1 Ready game server to shut down now (dry run)',
      'node/gs-2 already requested (drain): phase Tainted (fleetiq), 0 sessions to wait for, 0 Ready game servers to shut down now (dry run)',
    ]);
    expect((await annotations('gs-1'))[REQUEST]).toBeUndefined();
    const json = await plugin(['drain', 'gs-1', '--dry-run', '--deregister', '-o', 'json']);
    expect(JSON.parse(json.c.text())).toEqual({
      kind: 'DrainPlan',
      nodes: [
        {
          node: 'gs-1',
          wouldRequest: true,
          mode: 'deregister',
          phase: 'Active',
          reason: null,
          request: null,
          sessions: 2,
          ready: 1,
        },
      ],
    });
  });

  it('--watch follows phase and sessions until each node is drained, then exits 0', async () => {
    await addNode('gs-1');
    await addNode('gs-2');
    await addSession('s1', 'gs-1');
    // gs-1 holds at Tainted until its session ends.
    const held = new Set(['gs-1']);
    const agents = playAgents({ held });
    try {
      const c = capture();
      const done = plugin(['drain', 'gs-1', 'gs-2', '--watch', '--interval', '0.05', '-o', 'json'], c);
      await waitFor('gs-1 Tainted in the output', () => c.text().includes('"node":"gs-1","phase":"Tainted"'));
      expect(c.text()).not.toContain('"event":"complete"');
      await admin().delete({
        group: 'agones.dev',
        version: 'v1',
        resource: 'gameservers',
        namespace: 'default',
        name: 's1',
      });
      held.clear();
      const { code } = await done;
      expect(code).toBe(EXIT_OK);
      const events = c.lines().map((l) => JSON.parse(l));
      expect(events.filter((e) => e.event === 'requested').map((e) => e.node)).toEqual(['gs-1', 'gs-2']);
      const gs1 = events.filter((e) => e.node === 'gs-1' && e.event !== 'requested');
      // Phases in order, the session count falling to 0 before Drained.
      expect(gs1.map((e) => e.phase).filter((p, i, all) => p !== all[i - 1])).toEqual(
        expect.arrayContaining(['Tainted', 'Drained']),
      );
      expect(gs1.at(-1)).toMatchObject({ event: 'done', phase: 'Drained', sessions: 0, reason: 'request' });
      expect(events.at(-1)).toMatchObject({ event: 'complete', nodes: 2 });
    } finally {
      await agents.stop();
    }
  });

  it('--watch interrupted before the nodes are drained exits 3 and leaves the requests', async () => {
    await addNode('gs-1');
    const controller = new AbortController();
    const c = capture();
    const done = plugin(['drain', 'gs-1', '--watch', '--interval', '0.05'], c, controller.signal);
    await waitFor('the first state line', () => c.text().includes('node/gs-1 Active'));
    controller.abort();
    const { code } = await done;
    expect(code).toBe(EXIT_INTERRUPTED);
    expect(c.lines().at(-1)).toMatch(/interrupted: the drain requests stay on the nodes/);
    expect((await annotations('gs-1'))[REQUEST]).toBe('drain');
  });
});

describe('kubectl fleetiq undrain', () => {
  it('removes the request and says whether a drain for another reason continues', async () => {
    await addNode('gs-1', undefined, {
      [REQUEST]: 'drain',
      [REQUESTED_AT]: new Date().toISOString(),
      [PHASE]: 'Tainted',
      [REASON]: 'request',
    });
    await addNode('gs-2', undefined, { [REQUEST]: 'drain', [PHASE]: 'Tainted', [REASON]: 'fleetiq' });
    await addNode('gs-3');
    const { code, c } = await plugin(['undrain', 'gs-1', 'gs-2', 'gs-3']);
    expect(code).toBe(EXIT_OK);
    expect(c.lines().map((l) => l.slice(10))).toEqual([
      'node/gs-1 drain request removed; the node agent undoes the drain (phase Tainted): taint off, its own cordon lifted',
      'node/gs-2 drain request removed; the drain for fleetiq (phase Tainted) continues regardless',
      'node/gs-3 has no drain request',
    ]);
    for (const n of ['gs-1', 'gs-2']) {
      const a = await annotations(n);
      expect(a[REQUEST]).toBeUndefined();
      expect(a[REQUESTED_AT]).toBeUndefined();
    }
    // The agent's record is the agent's to undo.
    expect((await annotations('gs-1'))[PHASE]).toBe('Tainted');
  });

  it('says what each case means', () => {
    const row = (drainPhase: string, drainReason: string) =>
      ({ node: 'n', drainPhase, drainReason, drainRequest: 'drain' }) as Parameters<typeof undrainMessage>[0];
    expect(undrainMessage(row('Active', '-'), true)).toEqual({
      text: 'drain request removed (the drain had not started)',
      continues: false,
    });
    expect(undrainMessage(row('Deregistered', 'request'), true).text).toMatch(
      /registers the instance with FleetIQ again/,
    );
    expect(undrainMessage(row('SpotEvicting', 'spot'), true)).toEqual({
      text: 'drain request removed; the drain for spot (phase SpotEvicting) continues regardless',
      continues: true,
    });
    expect(undrainMessage(row('Drained', 'rebalance'), false)).toEqual({
      text: "has no drain request; its drain for rebalance (phase Drained) is not the plugin's to undo",
      continues: true,
    });
  });
});

describe('kubectl fleetiq drain --selector (rolling)', () => {
  it('drains every selected node, never more than --max-unavailable at once, while the node group replaces them', async () => {
    for (const n of ['old-1', 'old-2', 'old-3', 'old-4', 'old-5']) await addNode(n);
    await addNode('other', { role: 'game-servers', 'eks.amazonaws.com/nodegroup': 'other' });
    await addSession('s1', 'old-1');
    const agents = playAgents({ replace: true });
    try {
      const { code, c } = await plugin([
        'drain',
        '--selector',
        'eks.amazonaws.com/nodegroup=old',
        '--max-unavailable',
        '2',
        '--interval',
        '0.05',
        '-o',
        'json',
      ]);
      expect(code).toBe(EXIT_OK);
      const events = c.lines().map((l) => JSON.parse(l));
      const requested = events.filter((e) => e.event === 'requested').map((e) => e.node);
      expect([...requested].sort()).toEqual(['old-1', 'old-2', 'old-3', 'old-4', 'old-5']);
      // The node with a session goes last; the empty ones first.
      expect(requested.at(-1)).toBe('old-1');
      expect(agents.max()).toBeLessThanOrEqual(2);
      // Each one seen drained, or already replaced when read (the last may be seen Drained and not yet gone).
      const finished = events.filter((e) => e.event === 'done' || e.event === 'gone').map((e) => e.node);
      expect([...new Set(finished)].sort()).toEqual(['old-1', 'old-2', 'old-3', 'old-4', 'old-5']);
      expect(events.filter((e) => e.event === 'gone').length).toBeGreaterThanOrEqual(1);
      expect(events.at(-1)).toMatchObject({ event: 'complete', nodes: 5 });
      expect(events.filter((e) => e.event === 'progress').at(0)).toMatchObject({ selected: 5 });
      // Outside the selection: untouched.
      expect((await annotations('other'))[REQUEST]).toBeUndefined();
    } finally {
      await agents.stop();
    }
  });

  it('counts a node draining for FleetIQ against the budget, and continues after an interruption from what the nodes show', async () => {
    for (const n of ['old-1', 'old-2', 'old-3']) await addNode(n);
    await addNode('old-4', undefined, {
      [PHASE]: 'Tainted',
      [REASON]: 'fleetiq',
      [STARTED]: new Date().toISOString(),
    });
    // No agents yet: the first run requests, then is interrupted.
    const controller = new AbortController();
    const first = capture();
    const running = plugin(
      ['drain', '-l', 'eks.amazonaws.com/nodegroup=old', '--max-unavailable', '2', '--interval', '0.05'],
      first,
      controller.signal,
    );
    await waitFor('the first progress line', () => first.text().includes('progress:'));
    controller.abort();
    expect((await running).code).toBe(EXIT_INTERRUPTED);
    const requested = async () => {
      const out: string[] = [];
      for (const n of ['old-1', 'old-2', 'old-3', 'old-4']) if ((await annotations(n))[REQUEST]) out.push(n);
      return out;
    };
    // old-4 (FleetIQ's drain) took one slot: the request is written on it, and on one more.
    expect(await requested()).toEqual(['old-1', 'old-4']);
    expect(first.text()).toMatch(/progress: 0\/4 done, 2 draining, 2 waiting/);
    // Run again: nothing more is requested while two are unavailable...
    const again = capture();
    const controller2 = new AbortController();
    const second = plugin(
      ['drain', '-l', 'eks.amazonaws.com/nodegroup=old', '--max-unavailable', '2', '--interval', '0.05'],
      again,
      controller2.signal,
    );
    await waitFor('the second run to look', () => again.text().includes('progress:'));
    expect(await requested()).toEqual(['old-1', 'old-4']);
    // ...and once the agents work, it finishes the rollout.
    const agents = playAgents({ replace: true });
    try {
      expect((await second).code).toBe(EXIT_OK);
      expect(agents.max()).toBeLessThanOrEqual(2);
    } finally {
      await agents.stop();
    }
  });

  it('reports a node stuck past --stuck-after and never exceeds the budget for it', async () => {
    await addNode('old-1', undefined, {
      [REQUEST]: 'drain',
      [PHASE]: 'Tainted',
      [REASON]: 'request',
      [STARTED]: new Date(Date.now() - 2 * 3_600_000).toISOString(),
    });
    await addNode('old-2');
    await addSession('s1', 'old-1');
    const controller = new AbortController();
    const c = capture();
    const running = plugin(
      ['drain', '-l', 'eks.amazonaws.com/nodegroup=old', '--interval', '0.05', '--stuck-after', '1h'],
      c,
      controller.signal,
    );
    await waitFor('the stuck line', () => c.text().includes('stuck'));
    controller.abort();
    expect((await running).code).toBe(EXIT_INTERRUPTED);
    expect(c.text()).toMatch(
      /node\/old-1 stuck: unavailable for 2h, phase Tainted, 1 session left; it keeps its place under max-unavailable/,
    );
    expect((await annotations('old-2'))[REQUEST]).toBeUndefined();
  });

  it('--dry-run prints the plan and writes nothing; yaml output is documents', async () => {
    for (const n of ['old-1', 'old-2', 'old-3']) await addNode(n);
    await addSession('s1', 'old-1');
    const { code, c } = await plugin([
      'drain',
      '-l',
      'eks.amazonaws.com/nodegroup=old',
      '--max-unavailable',
      '2',
      '--dry-run',
    ]);
    expect(code).toBe(EXIT_OK);
    expect(c.lines()).toEqual([
      'dry run: 3 game server nodes match eks.amazonaws.com/nodegroup=old; max-unavailable 2, mode drain',
      'would request now: old-2, old-3',
      '  old-1  waiting  phase Active, 1 session',
      '  old-2  waiting -> requested now  phase Active, 0 sessions',
      '  old-3  waiting -> requested now  phase Active, 0 sessions',
    ]);
    for (const n of ['old-1', 'old-2', 'old-3']) expect((await annotations(n))[REQUEST]).toBeUndefined();
    const yaml = await plugin(['drain', '-l', 'eks.amazonaws.com/nodegroup=old', '--dry-run', '-o', 'yaml']);
    const docs = parseAllDocuments(yaml.c.text()).map((d) => d.toJS());
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ kind: 'RollingDrainPlan', maxUnavailable: 1, requestNow: ['old-2'] });
  });

  it('exits 0 at once when no node matches', async () => {
    await addNode('gs-1');
    const { code, c } = await plugin([
      'drain',
      '-l',
      'eks.amazonaws.com/nodegroup=none',
      '--interval',
      '0.05',
    ]);
    expect(code).toBe(EXIT_OK);
    expect(c.text()).toMatch(/complete: no selected game server node is left to drain/);
  });
});

describe('usage', () => {
  it('exits 2 on what cannot be meant', async () => {
    for (const [args, message] of [
      [['drain'], 'name at least one node, or give --selector'],
      [['drain', 'a', '-l', 'x=y'], 'give node names or --selector, not both'],
      [['drain', '-l', 'x=y', '--max-unavailable', '0'], '--max-unavailable must be a whole number >= 1'],
      [['drain', '-l', 'x=y', '--max-unavailable', '2.5'], '--max-unavailable must be a whole number >= 1'],
      [['drain', 'a', '--max-unavailable', '2'], '--max-unavailable applies to a rolling drain (--selector)'],
      [['drain', '-l', ' '], '--selector must not be empty'],
      [['drain', 'a', '--stuck-after', 'soon'], '--stuck-after'],
      [['drain', 'a', '--interval', '0'], '--interval must be a positive number of seconds'],
      [['drain', 'a', '-o', 'xml'], "argument 'xml' is invalid"],
      [['undrain'], "missing required argument 'nodes'"],
    ] as const) {
      const c = capture();
      expect([args.join(' '), await runFleetIQPlugin([...args], c.io)]).toEqual([args.join(' '), EXIT_USAGE]);
      expect(c.err.join('')).toContain(message);
    }
    const help = capture();
    expect(await runFleetIQPlugin(['drain', '--help'], help.io)).toBe(EXIT_OK);
    expect(help.text()).toContain('3 interrupted while following');
  });
});
