// Reaching in-process servers through a Service, as a real cluster's API server does. A real
// kube-apiserver reaches an admission webhook (or an aggregated API) registered by Service reference
// at that Service's endpoint addresses (with --enable-aggregator-routing), and Endpoints may not hold
// loopback addresses. So the test bed makes a network namespace of its own with one veth pair: the
// namespace's end has a private address that Endpoints accept, and a small forwarder inside the
// namespace passes each connection on that address, through a Unix socket (which crosses network
// namespaces), to a server of ours on loopback. Nothing listens outside loopback or the namespace;
// `stop()` removes the namespace (and with it the veth pair), and a namespace left by a killed run
// is removed at the next start.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SetupError } from '../run/redis-process.js';

const NETNS_PREFIX = 'fleetiq-tb-';

function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new SetupError(`the test bed's service network needs iproute2 (ip): ${r.error.message}`);
  if (r.status !== 0) throw new SetupError(`ip ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Whether this machine can make network namespaces (root with iproute2). */
export function serviceNetworkSupported(): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  const r = spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** Removes namespaces of earlier runs whose process is gone (the name carries its pid). */
export function sweepStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const line of ip(['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue;
    } catch {
      // Its owner is gone.
    }
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    removed.push(name);
  }
  return removed;
}

// Runs inside the namespace: TCP on the namespace's address → the Unix socket.
const FORWARDER = `
const net = require('node:net');
const [host, port, path] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect(path);
  c.pipe(u).pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
}).listen(Number(port), host, () => process.stdout.write('listening\\n'));
`;

export interface ServiceNetwork {
  /** The namespace's address, for Endpoints. */
  readonly address: string;
  readonly namespace: string;
  /** Serves `target` (a loopback TCP server) at `address:port`. */
  expose(port: number, target: { host: string; port: number }): Promise<void>;
  stop(): Promise<void>;
}

export async function startServiceNetwork(): Promise<ServiceNetwork> {
  if (!serviceNetworkSupported())
    throw new SetupError(
      'the real control plane reaches webhooks through a network namespace of its own: run as root with iproute2 (ip)',
    );
  sweepStaleNamespaces();
  const id = randomInt(0, 0xffff).toString(16);
  const namespace = `${NETNS_PREFIX}${process.pid}-${id}`;
  // A /30 in 10.253.0.0/16 not used on this machine: host end .1, namespace end .2.
  const used = ip(['-o', '-4', 'addr']);
  let subnet = '';
  for (let tries = 0; tries < 50 && !subnet; tries++) {
    const candidate = `10.253.${randomInt(0, 256)}.${randomInt(0, 64) * 4}`;
    const [a, b, c, d] = candidate.split('.').map(Number) as [number, number, number, number];
    if (!used.includes(`${a}.${b}.${c}.${d + 1}/`)) subnet = candidate;
  }
  const [a, b, c, d] = subnet.split('.').map(Number) as [number, number, number, number];
  const hostAddr = `${a}.${b}.${c}.${d + 1}`;
  const nsAddr = `${a}.${b}.${c}.${d + 2}`;
  const hostIf = `fq${id}h`;
  const nsIf = `fq${id}n`;
  const socketDir = mkdtempSync(join(tmpdir(), 'fleetiq-svcnet-'));
  const forwarders: ChildProcess[] = [];
  const bridges: net.Server[] = [];
  // Every connection through a bridge: closing a server waits for its connections, so stop() ends them.
  const sockets = new Set<net.Socket>();

  ip(['netns', 'add', namespace]);
  const stop = async () => {
    for (const f of forwarders) f.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    await Promise.all(bridges.map((s) => new Promise((r) => s.close(() => r(undefined)))));
    spawnSync('ip', ['netns', 'del', namespace], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', hostIf], { stdio: 'ignore' });
    rmSync(socketDir, { recursive: true, force: true });
  };
  try {
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    ip(['link', 'set', nsIf, 'netns', namespace]);
    ip(['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['netns', 'exec', namespace, 'ip', 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf]);
    ip(['netns', 'exec', namespace, 'ip', 'link', 'set', nsIf, 'up']);
    ip(['netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    address: nsAddr,
    namespace,
    async expose(port, target) {
      const path = join(socketDir, `${port}.sock`);
      const bridge = net.createServer((conn) => {
        const upstream = net.connect(target.port, target.host);
        for (const s of [conn, upstream]) {
          sockets.add(s);
          s.once('close', () => sockets.delete(s));
        }
        conn.pipe(upstream).pipe(conn);
        // pipe() passes on an end, not a reset: a side that goes away takes the other with it.
        conn.once('close', () => upstream.destroy());
        upstream.once('close', () => conn.destroy());
        conn.on('error', () => upstream.destroy());
        upstream.on('error', () => conn.destroy());
      });
      await new Promise<void>((resolve, reject) => {
        bridge.once('error', reject);
        bridge.listen(path, resolve);
      });
      bridges.push(bridge);
      // setpriv: the forwarder dies with us, even if we are killed.
      const child = spawn(
        'setpriv',
        [
          '--pdeathsig',
          'KILL',
          '--',
          'ip',
          'netns',
          'exec',
          namespace,
          process.execPath,
          '-e',
          FORWARDER,
          nsAddr,
          String(port),
          path,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      forwarders.push(child);
      await new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (x) => (err += x));
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) =>
          reject(new SetupError(`the forwarder on ${nsAddr}:${port} exited (${code}): ${err.trim()}`)),
        );
      });
    },
    stop,
  };
}
