// `fleetiq-sandbox` as a process, the way people run it: through npm, piped into head, stopped
// with Ctrl-C or SIGTERM. Whatever ends it, the report is written and nothing it started (redis-server
// above all) outlives it; an unknown flag is a usage error (2), never "a session was lost" (1).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { waitFor } from '../../helpers/wait.js';
import { processGroupOf } from '../../../sandbox/run/cli.js';

const REPO = process.cwd();
/** A small, slow run: it is stopped long before its end. */
const SMALL = ['--no-ui', '--nodes', '2', '--fleet-replicas', '4', '--duration', '30m'];

let dir: string;
let started: ChildProcess[] = [];

afterEach(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null && c.pid) kill(-c.pid, 'SIGKILL');
  started = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function kill(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Spawns in a process group of its own (as a shell job), collecting its output. */
function start(command: string, args: string[]) {
  dir = mkdtempSync(join(tmpdir(), 'sandbox-process-'));
  const report = join(dir, 'report.json');
  const child = spawn(command, [...args, '--report', report, '--log-file', join(dir, 'log')], {
    cwd: REPO,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, report, out: () => out, err: () => err, exit };
}

/** The redis-server processes among the descendants of `pid`. */
function redisUnder(pid: number): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,ppid=,comm='], { encoding: 'utf8' }).stdout;
  const rows = ps
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .map(([p, pp, comm]) => ({ pid: Number(p), ppid: Number(pp), comm: comm ?? '' }));
  const tree = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows)
      if (tree.has(r.ppid) && !tree.has(r.pid)) {
        tree.add(r.pid);
        grew = true;
      }
  }
  return rows.filter((r) => tree.has(r.pid) && r.comm.startsWith('redis-server')).map((r) => r.pid);
}

/** Once the sandbox is up (its kubectl hint follows the start-up), and its redis-server pids. */
async function running(p: ReturnType<typeof start>): Promise<number[]> {
  await waitFor('the sandbox to be running', () => p.out().includes('--kubeconfig PATH'), 90_000);
  const redis = redisUnder(p.child.pid!);
  expect(redis.length).toBe(1);
  return redis;
}

function expectReport(p: ReturnType<typeof start>): void {
  expect(existsSync(p.report)).toBe(true);
  expect(JSON.parse(readFileSync(p.report, 'utf8')).sessions.lost).toBe(0);
  expect(existsSync(p.report.replace(/json$/, 'svg'))).toBe(true);
}

const gone = (pids: number[]) => pids.every((pid) => !kill(pid, 0));

describe('the sandbox process', () => {
  it('stopped by SIGTERM sent to npm (npm start), writes its report and leaves nothing running', async () => {
    const npm = process.env.npm_execpath;
    const p = npm
      ? start(process.execPath, [npm, 'start', '--', ...SMALL])
      : start('npm', ['start', '--', ...SMALL]);
    const redis = await running(p);
    kill(p.child.pid!, 'SIGTERM');
    await waitFor('the report', () => existsSync(p.report), 30_000);
    await p.exit;
    await waitFor('every process of the run gone', () => !kill(-p.child.pid!, 0) && gone(redis), 30_000);
    expectReport(p);
    expect(p.err()).toContain('Stopping early: writing the report');
  }, 150_000);

  it('started with npx, stops and writes its report when npx is sent SIGTERM (its sh does not pass it on)', async () => {
    const npm = process.env.npm_execpath;
    const args = ['exec', '--', 'tsx', 'sandbox/cli.ts', 'sandbox', ...SMALL];
    const p = npm ? start(process.execPath, [npm, ...args]) : start('npx', args.slice(2));
    const redis = await running(p);
    kill(p.child.pid!, 'SIGTERM');
    await waitFor('the report', () => existsSync(p.report), 30_000);
    await waitFor('every process of the run gone', () => !kill(-p.child.pid!, 0) && gone(redis), 30_000);
    expectReport(p);
  }, 150_000);

  it('takes a Ctrl-C that reaches it twice at once (from the terminal and relayed) as one', async () => {
    const p = start(process.execPath, ['--import', 'tsx', 'sandbox/cli.ts', 'sandbox', ...SMALL]);
    const redis = await running(p);
    // What a terminal does on Ctrl-C: SIGINT to the whole foreground group, twice when relayed.
    kill(-p.child.pid!, 'SIGINT');
    kill(-p.child.pid!, 'SIGINT');
    expect(await p.exit).toBe(0);
    expectReport(p);
    expect(gone(redis)).toBe(true);
  }, 150_000);

  it('piped into a reader that goes away (npm start | head), stops early without EPIPE', async () => {
    const p = start(process.execPath, ['--import', 'tsx', 'sandbox/cli.ts', 'sandbox', ...SMALL]);
    const redis = await running(p);
    p.child.stdout!.destroy();
    expect(await p.exit).toBe(0);
    expectReport(p);
    expect(gone(redis)).toBe(true);
    expect(p.err()).not.toMatch(/EPIPE|\n\s+at /);
  }, 150_000);

  it('exits 2, not 1, on an unknown flag', async () => {
    const p = start(process.execPath, ['--import', 'tsx', 'sandbox/cli.ts', 'sandbox', '--chaos-monkey']);
    const code = await p.exit;
    expect({ code, err: p.err().slice(0, 300) }).toEqual({ code: 2, err: expect.any(String) });
    expect(p.err()).toContain("unknown option '--chaos-monkey'");
    expect(existsSync(p.report)).toBe(false);
  }, 60_000);
});

describe('processGroupOf', () => {
  it('reads the process group from /proc/<pid>/stat, whatever the command name holds', () => {
    expect(processGroupOf('4242 (node) S 4200 4100 4100 0 -1 4194560 1 0')).toBe(4100);
    expect(processGroupOf('4242 (tsx (x) y) S 4200 4101 4101 0 -1')).toBe(4101);
    expect(processGroupOf('garbage')).toBeUndefined();
  });
});
