// `fleetiq-sandbox emulator kube` with the simulated cluster's flags, as a child process: a fresh
// emulator with --nodes and --fleet shows the fleet's GameServers Ready on its nodes to the real
// kubectl; bad flags fail before anything serves, naming the flag.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import {
  clusterFlags,
  parseFleet,
  parseNodeCount,
  parseNodeLabels,
  parseSeed,
} from '../../../sandbox/cluster/cli-extension.js';
import { ConfigError } from '../../../shared/ops-server.js';
import { runSandboxCli } from '../../helpers/cli.js';
import { waitFor } from '../../helpers/wait.js';

const KUBECTL = '/usr/bin/kubectl';
// tsx's shebang runs the first `node` on PATH: make it this (Node 24) one.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, LOG_LEVEL: 'warn' };
let dir: string;

const run = (args: string[]) => runSandboxCli(['emulator', 'kube', ...args], { env });

function kubectl(
  kubeconfig: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      KUBECTL,
      ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

const eventually = <T>(fn: () => Promise<T> | T, timeoutMs: number, what: string) =>
  waitFor(what, fn, timeoutMs);

/** The columns of a kubectl table, as objects keyed by header. */
function table(out: string): Array<Record<string, string>> {
  const [header, ...lines] = out.trim().split('\n');
  if (!header) return [];
  const cols = header.trim().split(/\s+/);
  return lines.map((l) => {
    const cells = l.trim().split(/\s+/);
    return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cluster-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('emulator kube --nodes --fleet', () => {
  it("serves a cluster whose fleet's GameServers kubectl sees Ready on the nodes, and exits 0 on SIGTERM", async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    const p = run([
      '--listen',
      '127.0.0.1:0',
      '--kubeconfig',
      kubeconfig,
      '--nodes',
      '3',
      '--node-labels',
      'team=blue,example.com/pool=spot-a',
      '--fleet',
      'simple=6:Packed',
      '--fleet',
      'spread=2:Distributed',
      '--speed',
      '20',
      '--seed',
      '1',
    ]);
    try {
      await eventually(() => p.out().includes('\n'), 30_000, `the ready line (stderr: ${p.err()})`);
      expect(p.out()).toMatch(/^ready https:\/\/127\.0\.0\.1:\d+\n$/);

      const nodes = table(
        (await kubectl(kubeconfig, 'get', 'nodes', '-l', 'team=blue,role=game-servers')).stdout,
      );
      expect(nodes).toHaveLength(3);
      expect(nodes.every((n) => n.STATUS === 'Ready')).toBe(true);
      const nodeNames = new Set(nodes.map((n) => n.NAME));

      const ready = (await eventually(
        async () => {
          const r = await kubectl(kubeconfig, 'get', 'gs', '-l', 'agones.dev/fleet=simple');
          if (r.code !== 0) throw new Error(r.stderr);
          const rows = table(r.stdout).filter((g) => g.STATE === 'Ready' && nodeNames.has(g.NODE));
          return rows.length === 6 ? rows : undefined;
        },
        30_000,
        '6 Ready GameServers of fleet simple on the nodes',
      ))!;
      // Packed: one node takes them all while it has room.
      expect(new Set(ready.map((g) => g.NODE)).size).toBe(1);
      const all = table((await kubectl(kubeconfig, 'get', 'gs')).stdout);
      await eventually(
        async () =>
          table((await kubectl(kubeconfig, 'get', 'gs', '-l', 'agones.dev/fleet=spread')).stdout).filter(
            (g) => g.STATE === 'Ready' && nodeNames.has(g.NODE),
          ).length === 2,
        30_000,
        '2 Ready GameServers of fleet spread',
      );
      expect(all.length).toBeGreaterThanOrEqual(6);
      const fleets = table((await kubectl(kubeconfig, 'get', 'fleets')).stdout);
      expect(fleets.map((f) => [f.NAME, f.SCHEDULING, f.DESIRED])).toEqual([
        ['simple', 'Packed', '6'],
        ['spread', 'Distributed', '2'],
      ]);
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exit).toBe(0);
  });

  it('without --nodes is a plain API server (no nodes, no Agones)', async () => {
    const kubeconfig = join(dir, 'plain');
    const p = run(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig]);
    try {
      await eventually(() => p.out().includes('\n'), 30_000, 'the ready line');
      const r = await kubectl(kubeconfig, 'get', 'nodes');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exit).toBe(0);
  });

  it('rejects each bad flag with a non-zero exit naming it, and no ready line', async () => {
    // One per flag (the parsers' every rule is covered below, in-process): each start of tsx costs
    // seconds of CPU. The last is refused after the API server started, and stops it again.
    const cases: Array<[string[], string]> = [
      [['--nodes', '0'], '--nodes'],
      [['--nodes', '2', '--node-labels', 'bad key=v'], '--node-labels'],
      [['--nodes', '2', '--fleet', 'simple=3:Spread'], '--fleet'],
      [['--nodes', '2', '--seed', '1.5'], '--seed'],
      [['--fleet', 'simple=3'], '--fleet'],
    ];
    // In parallel: each start of tsx takes seconds.
    await Promise.all(
      cases.map(async ([args, flag]) => {
        const p = run(['--listen', '127.0.0.1:0', ...args]);
        const code = await p.exit;
        expect({ args, code: code === 0 ? 0 : 'non-zero' }).toEqual({ args, code: 'non-zero' });
        expect(p.err()).toContain(flag);
        expect(p.out()).toBe('');
      }),
    );
  });

  it('describes every flag in --help', async () => {
    const p = run(['--help']);
    expect(await p.exit).toBe(0);
    const help = p.out();
    for (const flag of [
      '--nodes <n>',
      '--node-labels <k=v,...>',
      '--fleet <name=replicas[:Packed|Distributed]>',
      '--speed <x>',
      '--seed <s>',
    ])
      expect(help).toContain(flag);
    expect(help).toContain('plain API server');
    expect(help).toContain('repeatable');
  });
});

describe('flag parsing', () => {
  const rejects = (fn: () => unknown, pattern: RegExp) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(pattern);
  };

  it('--nodes is a positive integer', () => {
    expect(parseNodeCount('1000')).toBe(1000);
    for (const bad of ['0', '-1', '1.5', '', 'x', '1e3'])
      rejects(() => parseNodeCount(bad), /^--nodes must be a positive integer/);
  });

  it('--node-labels are key=value pairs with label syntax', () => {
    expect(parseNodeLabels('team=blue,example.com/pool=spot-a,empty=')).toEqual({
      team: 'blue',
      'example.com/pool': 'spot-a',
      empty: '',
    });
    rejects(() => parseNodeLabels('team'), /key=value pairs/);
    rejects(() => parseNodeLabels('-team=blue'), /label key/);
    rejects(() => parseNodeLabels('team=-blue'), /label value/);
    rejects(() => parseNodeLabels(`team=${'v'.repeat(64)}`), /label value/);
    rejects(() => parseNodeLabels('a=1,a=2'), /twice/);
  });

  it('--fleet is NAME=REPLICAS with an optional scheduling', () => {
    expect(parseFleet('simple=6')).toEqual({ name: 'simple', replicas: 6, scheduling: 'Packed' });
    expect(parseFleet('a.b=0:Distributed')).toEqual({ name: 'a.b', replicas: 0, scheduling: 'Distributed' });
    rejects(() => parseFleet('simple'), /NAME=REPLICAS/);
    rejects(() => parseFleet('simple=-1'), /NAME=REPLICAS/);
    rejects(() => parseFleet('simple=2:packed'), /NAME=REPLICAS/);
    rejects(() => parseFleet('Simple=2'), /not a valid Fleet name/);
    rejects(() => parseFleet('simple=99999999999'), /at most 2147483647/);
  });

  it('--seed is an integer', () => {
    expect(parseSeed('42')).toBe(42);
    expect(parseSeed('-7')).toBe(-7);
    for (const bad of ['1.5', 'x', '']) rejects(() => parseSeed(bad), /^--seed must be an integer/);
  });

  it('checks the flags that need --nodes, and duplicate fleets', () => {
    expect(clusterFlags({})).toEqual({
      nodes: undefined,
      nodeLabels: { role: 'game-servers' },
      fleets: [],
      seed: 1,
    });
    expect(clusterFlags({ nodes: 2, nodeLabels: { role: 'other', team: 'x' }, seed: 9 })).toEqual({
      nodes: 2,
      nodeLabels: { role: 'other', team: 'x' },
      fleets: [],
      seed: 9,
    });
    const fleet = { name: 'a', replicas: 1, scheduling: 'Packed' };
    for (const [flags, setting] of [
      [{ fleet: [fleet] }, '--fleet'],
      [{ nodeLabels: { a: 'b' } }, '--node-labels'],
      [{ seed: 3 }, '--seed'],
      [{ nodes: 1, fleet: [fleet, fleet] }, '--fleet'],
    ] as const) {
      let err: unknown;
      try {
        clusterFlags(flags as Record<string, unknown>);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).setting).toBe(setting);
    }
  });
});
