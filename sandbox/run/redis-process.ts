// The sandbox's own redis-server: spawned on a free loopback port, restartable on the same port (the
// "Redis restarted" scenario), stopped with the sandbox. When redis-server is missing it is installed
// the way scripts/ensure-test-deps.sh does it (root + apt-get), or the user is told exactly what to do.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A problem with the machine the user can fix; printed as it is, never as a stack trace. */
export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SetupError';
  }
}

export interface RedisProcess {
  port: number;
  url: string;
  /** Kills the server (an outage); `start()` brings it back, empty, on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  running(): boolean;
}

export const REDIS_INSTALL_HELP =
  'The sandbox needs redis-server (it starts its own on a free loopback port). Install it:\n' +
  '  Debian/Ubuntu:  sudo apt-get install redis-server\n' +
  '  Fedora/RHEL:    sudo dnf install redis\n' +
  '  macOS:          brew install redis\n' +
  'or point the sandbox at a Redis you run: --redis-url host:port (or REDIS_URL).';

function onPath(command: string): boolean {
  const r = spawnSync(command, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/**
 * Makes sure redis-server can be run: as root with apt-get it is installed (as the test suite's
 * pretest does), otherwise a SetupError says how to install it.
 */
export function ensureRedisServer(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (onPath('redis-server')) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !onPath('apt-get')) throw new SetupError(REDIS_INSTALL_HELP);
  log('redis-server is missing: installing it with apt-get (needed by the sandbox)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  const install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'redis-server'], {
    stdio: 'ignore',
    env,
  });
  if (update.status !== 0 || install.status !== 0 || !onPath('redis-server'))
    throw new SetupError(`Installing redis-server with apt-get failed.\n${REDIS_INSTALL_HELP}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new SetupError(`redis-server exited at start (code ${child.exitCode}); is port ${port} taken?`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new SetupError(`redis-server did not listen on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Every redis-server this process started and has not stopped. Whatever way this process ends (an
 * uncaught error, process.exit from a second Ctrl-C), they go with it: a child process outlives its
 * parent otherwise, and a stray redis-server keeps its port.
 */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/** Spawns redis-server (no persistence) on a free loopback port; `requirePass` turns on AUTH. */
export async function startRedisProcess(options: { requirePass?: string } = {}): Promise<RedisProcess> {
  ensureRedisServer();
  const port = await freePort();
  let child: ChildProcess | undefined;
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (alive()) return;
    const c = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxclients',
        '20000',
        ...(options.requirePass ? ['--requirepass', options.requirePass] : []),
      ],
      { stdio: 'ignore' },
    );
    child = c;
    c.once('error', () => undefined);
    killOnExit(c);
    await waitForPort(port, c, 10_000);
  };
  const stop = async () => {
    const c = child;
    if (!c || !alive()) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    running: alive,
  };
}
