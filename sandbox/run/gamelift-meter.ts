// GameLift API calls per component. Each component's GameLift client signs with its own access key id
// (AKID...<COMPONENT>); this pass-through proxy in front of the FleetIQ emulator reads the key id from
// the SigV4 Authorization header and the operation from x-amz-target, counts, and forwards the request
// untouched. The emulator's own counts are per operation only; this says who made them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MeteredCalls {
  /** Requests per operation (every SDK attempt, retries included). */
  calls: Record<string, number>;
  /** Answers with an HTTP status >= 300, per operation. */
  errors: Record<string, number>;
}

export interface GameLiftMeter {
  /** The endpoint to give the components' GameLift clients. */
  url: string;
  /** The credentials a component signs with, so the meter knows it. */
  credentials(component: string): { accessKeyId: string; secretAccessKey: string };
  counts(): Record<string, MeteredCalls>;
  /**
   * From now on, answers `component`'s calls of `operation` itself with AccessDeniedException (HTTP
   * 400), without forwarding them: an IAM policy denying that action to the component's role.
   */
  deny(component: string, operation: string): void;
  close(): Promise<void>;
}

const KEY_PREFIX = 'AKIDSANDBOX';

/** The component named by a SigV4 Authorization header (`Credential=<key id>/...`), if it is one of ours. */
export function componentOfAuthorization(header: string | undefined): string | undefined {
  const m = /Credential=([^/,\s]+)\//.exec(header ?? '');
  if (!m || !m[1]!.startsWith(KEY_PREFIX)) return undefined;
  return m[1]!.slice(KEY_PREFIX.length).toLowerCase() || undefined;
}

export async function startGameLiftMeter(
  target: string,
  /** Told of each call as it arrives (before it is forwarded). */
  onCall?: (component: string, operation: string) => void,
): Promise<GameLiftMeter> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const counts = new Map<string, MeteredCalls>();
  const denied = new Set<string>();
  const entry = (component: string) => {
    let c = counts.get(component);
    if (!c) counts.set(component, (c = { calls: {}, errors: {} }));
    return c;
  };
  const server = http.createServer((req, res) => {
    const component = componentOfAuthorization(req.headers.authorization) ?? 'other';
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('GameLift.') ? target.slice('GameLift.'.length) : target || 'unknown';
    const c = entry(component);
    c.calls[operation] = (c.calls[operation] ?? 0) + 1;
    onCall?.(component, operation);
    if (denied.has(`${component} ${operation}`)) {
      c.errors[operation] = (c.errors[operation] ?? 0) + 1;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          __type: 'AccessDeniedException',
          message: `User is not authorized to perform: gamelift:${operation} with an explicit deny`,
        }),
      );
      return;
    }
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        agent,
      },
      (answer) => {
        if ((answer.statusCode ?? 500) >= 300) c.errors[operation] = (c.errors[operation] ?? 0) + 1;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (err) => {
      c.errors[operation] = (c.errors[operation] ?? 0) + 1;
      // The emulator went away (the sandbox is stopping): a 503 the SDK treats as transient.
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'ServiceUnavailableException', message: err.message }));
    });
    req.pipe(forward);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    credentials: (component) => ({
      accessKeyId: `${KEY_PREFIX}${component.toUpperCase()}`,
      secretAccessKey: 'sandbox-secret-not-checked',
    }),
    counts: () => Object.fromEntries([...counts].map(([k, v]) => [k, structuredClone(v)])),
    deny: (component, operation) => void denied.add(`${component.toLowerCase()} ${operation}`),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
