// `fleetiq-sandbox emulator kube` as a child process: ready line, kubeconfig, JSON logs, signals, flags.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { eventually } from './support.js';
import { runSandboxCli } from '../../helpers/cli.js';

// tsx's shebang runs the first `node` on PATH: make it this (Node 24) one.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, LOG_LEVEL: 'info' };
let dir: string;

const run = (args: string[]) => runSandboxCli(['emulator', 'kube', ...args], { env });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kube-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('emulator kube', () => {
  it('serves, writes an admin kubeconfig, prints one ready line, logs JSON to stderr and exits 0 on SIGTERM', async () => {
    const kubeconfig = join(dir, 'admin.yaml');
    const p = run(['--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig]);
    try {
      await eventually(() => p.out().includes('\n'), 20_000, 'ready line');
      const lines = p.out().trim().split('\n');
      expect(lines).toHaveLength(1);
      const m = /^ready (https:\/\/127\.0\.0\.1:\d+)$/.exec(lines[0]);
      expect(m).not.toBeNull();
      const kc = new k8s.KubeConfig();
      kc.loadFromString(await readFile(kubeconfig, 'utf8'));
      expect(kc.getCurrentCluster()!.server).toBe(m![1]);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const ns = await core.listNamespace();
      expect(ns.items.map((n) => n.metadata!.name)).toContain('kube-node-lease');
      const logs = p
        .err()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(logs.some((l) => l.component === 'kube-emulator' && l.msg === 'kube emulator serving')).toBe(
        true,
      );
    } finally {
      p.child.kill('SIGTERM');
    }
    expect(await p.exit).toBe(0);
  });

  it('rejects a bad flag naming it', async () => {
    const cases = [
      [['--listen', 'nowhere'], '--listen'],
      [['--authorization', 'maybe'], '--authorization'],
      [['--speed', '0'], '--speed'],
    ] as const;
    // In parallel: each start of tsx takes seconds.
    await Promise.all(
      cases.map(async ([args, flag]) => {
        const p = run([...args]);
        const code = await p.exit;
        expect(code).not.toBe(0);
        expect(p.err()).toContain(flag);
        expect(p.out()).toBe('');
      }),
    );
  });
});
