// `fleetiq-sandbox emulator fleetiq` as a child process: one ready line, JSON logs on stderr,
// served until SIGTERM, flags checked by name.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeGameServerInstancesCommand, DescribeGameServerGroupCommand } from '@aws-sdk/client-gamelift';
import { Command } from 'commander';
import { registerFleetIQEmulatorCommand } from '../../../sandbox/fleetiq/cli.js';
import { gameLift, waitFor } from './helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const children: ChildProcess[] = [];

function run(args: string[]) {
  const child = spawn(
    path.join(root, 'node_modules/.bin/tsx'),
    ['sandbox/cli.ts', 'emulator', 'fleetiq', ...args],
    {
      cwd: root,
      env: {
        ...process.env,
        PATH: `${path.join(root, 'node_modules/.bin')}:${process.env.PATH}`,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  const out = { stdout: '', stderr: '', code: undefined as number | null | undefined };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => resolve((out.code = code))),
  );
  return { child, out, exited };
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('fleetiq-sandbox emulator fleetiq', () => {
  it('prints one ready line, serves the SDK, logs JSON on stderr and exits 0 on SIGTERM', async () => {
    const { child, out, exited } = run([
      '--listen',
      '127.0.0.1:0',
      '--group',
      'cli-a',
      '--group',
      'cli-b',
      '--instances',
      '3',
      '--speed',
      '10',
      '--seed',
      '4',
    ]);
    const url = await waitFor(
      'the ready line',
      () => /^ready (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out.stdout)?.[1],
      20_000,
    );
    const client = gameLift(url);
    try {
      for (const group of ['cli-a', 'cli-b']) {
        const { GameServerInstances } = await client.send(
          new DescribeGameServerInstancesCommand({ GameServerGroupName: group }),
        );
        expect(GameServerInstances).toHaveLength(3);
        for (const i of GameServerInstances!) expect(i.InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
      }
      const { GameServerGroup } = await client.send(
        new DescribeGameServerGroupCommand({ GameServerGroupName: 'cli-a' }),
      );
      expect(GameServerGroup?.GameServerGroupArn).toBe(
        'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/cli-a',
      );
    } finally {
      client.destroy();
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.stdout).toBe(`ready ${url}\n`);
    const logs = out.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { component: string; msg: string });
    expect(logs.some((l) => l.component === 'fleetiq-emulator' && /serving/.test(l.msg))).toBe(true);
    expect(logs.some((l) => /shutting down/.test(l.msg))).toBe(true);
  });

  it('exits non-zero with the flag named on stderr when a flag is bad', async () => {
    const { out, exited } = run(['--group', 'g', '--instances', 'lots']);
    expect(await exited).not.toBe(0);
    expect(out.stderr).toMatch(/invalid configuration --instances: must be an integer/);
    expect(out.stdout).toBe('');
  });

  it.each<[string[], RegExp]>([
    [['--instances', '-1', '--group', 'g'], /--instances/],
    [['--speed', '0'], /--speed/],
    [['--listen', 'nowhere'], /--listen/],
    [['--group', 'bad name'], /--group/],
    [['--group', 'twice', '--group', 'twice'], /--group/],
    [['--seed', 'abc'], /--seed/],
    [['--protection', 'SOME'], /--protection/],
    [['--balancing', 'SOME'], /--balancing/],
    [['--region', 'US EAST'], /--region/],
    [['--health-check-timeout', '0'], /--health-check-timeout/],
    [['--spot-market-rate', 'fast'], /--spot-market-rate/],
    [['--log-level', 'loud'], /--log-level/],
  ])('validates %j before serving', async (args, flag) => {
    // In-process: a bad flag is rejected before anything listens, so nothing needs stopping.
    const program = new Command('fleetiq-agones').exitOverride();
    registerFleetIQEmulatorCommand(program.command('emulator'));
    await expect(program.parseAsync(['emulator', 'fleetiq', ...args], { from: 'user' })).rejects.toThrow(
      flag,
    );
  });
});
