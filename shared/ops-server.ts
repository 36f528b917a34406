import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';

export interface ReadinessCheck {
  /** Short name shown in /readyz output. */
  name: string;
  /** Returns true when this part is ready; a string is a reason it is not. */
  check: () => boolean | string;
}

export interface OpsServer {
  url: string;
  registry: Registry;
  close(): Promise<void>;
}

/**
 * The operational endpoints every long-running component serves on a plain-HTTP port of its own:
 * `/healthz` (the process is alive), `/readyz` (every readiness check passes; 503 with reasons
 * otherwise) and `/metrics` (Prometheus text format from the component's registry).
 */
export async function startOpsServer(options: {
  listen: { host: string; port: number };
  registry?: Registry;
  readiness?: ReadinessCheck[];
  defaultMetrics?: boolean;
}): Promise<OpsServer> {
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const readiness = options.readiness ?? [];

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const failing = readiness
        .map((r) => ({ name: r.name, result: r.check() }))
        .filter((r) => r.result !== true)
        .map((r) => `${r.name}: ${r.result === false ? 'not ready' : r.result}`);
      if (failing.length === 0) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end(failing.join('\n') + '\n');
      return;
    }
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
        .catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message));
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try /healthz, /readyz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.listen.host.includes(':') ? `[${options.listen.host}]` : options.listen.host;
  return {
    url: `http://${host}:${port}`,
    registry,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Parses `host:port` (or `:port`) as used by every `--listen`-style flag, naming the setting on error. */
export function parseListen(value: string, setting: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(setting, `expected host:port, got "${value}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** An invalid setting: the message names the setting so the operator knows what to fix. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    problem: string,
  ) {
    super(`invalid configuration ${setting}: ${problem}`);
    this.name = 'ConfigError';
  }
}
