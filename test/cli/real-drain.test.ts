// `kubectl fleetiq drain` and `undrain` on the real kube-apiserver: the merge patches that write and
// remove the request (a null deletes an annotation), the refusal of other nodes, the rolling drain
// against the real server's lists and selectors, and the plugin run by the real kubectl from PATH.
// The node agents are played by the test (drain-support.ts); the real agent's side is the sandbox's
// upgrade scenario.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { EXIT_ERROR, EXIT_OK, runFleetIQPlugin } from '../../cli/plugin.js';
import { remoteClusterHost, type RemoteClusterHost } from '../../sandbox/cluster/remote-host.js';
import { installAgonesResources } from '../../sandbox/control-plane/agones-crds.js';
import { CONTROL_PLANE_START_MS, useControlPlane } from '../helpers/control-plane.js';
import { DrainTestCluster, REQUEST, REQUESTED_AT } from './drain-support.js';

const run = promisify(execFile);
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const cp = useControlPlane();
let host: RemoteClusterHost;
let dir: string;
let cluster: DrainTestCluster;

beforeAll(async () => {
  host = remoteClusterHost({ server: cp().server, caPem: cp().caPem, token: cp().adminToken });
  await installAgonesResources(host.client());
  cluster = new DrainTestCluster(host.client());
  dir = mkdtempSync(join(tmpdir(), 'real-drain-'));
}, CONTROL_PLANE_START_MS);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => cluster.clear());

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return {
    err,
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env: {},
    },
    text: () => out.join(''),
  };
};
const plugin = async (...args: string[]) => {
  const c = capture();
  const code = await runFleetIQPlugin([...args, '--kubeconfig', cp().kubeconfigPath], c.io);
  return { code, c };
};

describe('on the real API server', () => {
  it('kubectl fleetiq drain (the real kubectl, the plugin from PATH) writes the request; undrain removes it', async () => {
    await cluster.addNode('ip-10-0-1-1.ec2.internal');
    await cluster.addSession('gs-1', 'ip-10-0-1-1.ec2.internal');
    const bin = join(dir, 'bin');
    const shim = join(bin, 'kubectl-fleetiq');
    await run('mkdir', ['-p', bin]);
    writeFileSync(
      shim,
      `#!/bin/sh\ncd ${REPO} && exec "${process.execPath}" --import tsx ${join(REPO, 'cli/kubectl-fleetiq.ts')} "$@"\n`,
    );
    chmodSync(shim, 0o755);
    const { stdout } = await run(
      'kubectl',
      ['fleetiq', 'drain', 'ip-10-0-1-1.ec2.internal', '--deregister'],
      {
        env: { ...process.env, KUBECONFIG: cp().kubeconfigPath, PATH: `${bin}:${process.env.PATH}` },
      },
    );
    expect(stdout).toMatch(
      /node\/ip-10-0-1-1\.ec2\.internal drain requested \(deregister\): 1 session to wait for\n$/,
    );
    const a = await cluster.annotations('ip-10-0-1-1.ec2.internal');
    expect(a[REQUEST]).toBe('deregister');
    expect(Number.isNaN(Date.parse(a[REQUESTED_AT]!))).toBe(false);

    const status = await plugin('status', '-o', 'json');
    expect(JSON.parse(status.c.text()).items[0]).toMatchObject({ drainRequest: 'deregister', allocated: 1 });

    const undrain = await plugin('undrain', 'ip-10-0-1-1.ec2.internal');
    expect(undrain.code).toBe(EXIT_OK);
    expect(undrain.c.text()).toMatch(/drain request removed \(the drain had not started\)/);
    const after = await cluster.annotations('ip-10-0-1-1.ec2.internal');
    expect(after[REQUEST]).toBeUndefined();
    expect(after[REQUESTED_AT]).toBeUndefined();
  }, 60_000);

  it('refuses a node without role=game-servers and writes nothing', async () => {
    await cluster.addNode('ip-10-0-1-1.ec2.internal');
    await cluster.addNode('ip-10-0-2-1.ec2.internal', { 'node-role': 'system' });
    const { code, c } = await plugin('drain', 'ip-10-0-1-1.ec2.internal', 'ip-10-0-2-1.ec2.internal');
    expect(code).toBe(EXIT_ERROR);
    expect(c.err.join('')).toMatch(/node "ip-10-0-2-1\.ec2\.internal" is not a game server node/);
    expect((await cluster.annotations('ip-10-0-1-1.ec2.internal'))[REQUEST]).toBeUndefined();
  });

  it('drains a node group two at a time to the end while it is replaced', async () => {
    for (const i of [1, 2, 3, 4]) await cluster.addNode(`ip-10-0-1-${i}.ec2.internal`);
    await cluster.addSession('gs-1', 'ip-10-0-1-3.ec2.internal');
    const agents = cluster.playAgents({ replace: true, everyMs: 100 });
    try {
      const { code, c } = await plugin(
        'drain',
        '-l',
        'eks.amazonaws.com/nodegroup=old',
        '--max-unavailable',
        '2',
        '--deregister',
        '--interval',
        '0.1',
        '-o',
        'json',
      );
      expect(code).toBe(EXIT_OK);
      const events = c
        .text()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(events.filter((e) => e.event === 'requested')).toHaveLength(4);
      // Each one seen Deregistered, or already replaced when read.
      const finished = new Set(
        events.filter((e) => e.event === 'done' || e.event === 'gone').map((e) => e.node),
      );
      expect(finished.size).toBe(4);
      expect(events.filter((e) => e.event === 'done').every((e) => e.phase === 'Deregistered')).toBe(true);
      expect(events.at(-1)).toMatchObject({ event: 'complete', nodes: 4 });
      expect(agents.max()).toBeLessThanOrEqual(2);
    } finally {
      await agents.stop();
    }
  }, 60_000);
});
