// An emulated EC2 instance metadata service (IMDSv2 only), one per emulated instance, on loopback.
//
// What the node agent relies on, as the real service behaves (see README.md in this folder):
// - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..21600` returns a session
//   token; a missing or out-of-range TTL is a 400, and a request carrying `X-Forwarded-For` is refused
//   (403): the real service does not hand tokens out through a proxy.
// - Every `GET /latest/meta-data/...` needs `X-aws-ec2-metadata-token` with a live token: without one,
//   or with an expired or unknown one, the answer is 401 (IMDSv1 is disabled, as it should be).
// - `GET /latest/meta-data/spot/instance-action` is 404 until a Spot interruption notice exists, then
//   `{"action":"terminate"|"stop"|"hibernate","time":"<RFC 3339>"}`.
// - `GET /latest/meta-data/events/recommendations/rebalance` is 404 until EC2 issues a rebalance
//   recommendation, then `{"noticeTime":"<RFC 3339>"}`; it stays until the instance goes.
//
// The control (in process, and over HTTP under `/control/` for the sandbox's operator) posts and clears
// a Spot notice and a rebalance recommendation, revokes every token (the agent must fetch a new one on 401) and injects faults
// (5xx, answers that never come, garbage bodies), so the agent's monitor is tested against each.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export type SpotAction = 'terminate' | 'stop' | 'hibernate';
export const SPOT_ACTIONS: readonly SpotAction[] = ['terminate', 'stop', 'hibernate'];

export interface SpotNoticeDocument {
  action: SpotAction;
  /** RFC 3339, when the instance will be interrupted (about two minutes after the notice). */
  time: string;
}

export interface RebalanceRecommendationDocument {
  /** RFC 3339, when EC2 issued the recommendation. */
  noticeTime: string;
}

/**
 * `unavailable`: every request answers 503; `hang`: requests get no answer until the fault is
 * cleared; `garbage`: the instance-action and rebalance documents are not JSON (200); `token-unavailable`: only the
 * token request fails (503).
 */
export type ImdsFault = 'unavailable' | 'hang' | 'garbage' | 'token-unavailable';

export interface ImdsEmulatorOptions {
  instanceId: string;
  /** Loopback only; port 0 picks a free one. */
  port?: number;
  /** Epoch ms; tokens expire on this clock (default Date.now). */
  now?: () => number;
}

export interface ImdsRequestCounts {
  token: number;
  metadata: number;
  /** Answers 401 (no token, unknown or expired token). */
  unauthorized: number;
}

export interface ImdsControl {
  /** Posts a Spot interruption notice; `time` defaults to two minutes from now. */
  postSpotNotice(o?: { action?: SpotAction; time?: Date }): SpotNoticeDocument;
  clearSpotNotice(): void;
  spotNotice(): SpotNoticeDocument | undefined;
  /** Issues a rebalance recommendation; `noticeTime` defaults to now. */
  postRebalanceRecommendation(o?: { noticeTime?: Date }): RebalanceRecommendationDocument;
  clearRebalanceRecommendation(): void;
  rebalanceRecommendation(): RebalanceRecommendationDocument | undefined;
  /** Every token issued so far is refused from now on (the real service forgets tokens, e.g. on stop/start). */
  revokeTokens(): void;
  setFault(fault: ImdsFault | undefined): void;
  requests(): ImdsRequestCounts;
}

export interface ImdsEmulator {
  readonly url: string;
  readonly port: number;
  readonly instanceId: string;
  readonly control: ImdsControl;
  stop(): Promise<void>;
}

const MAX_TTL_SECONDS = 21_600;
const TOKEN_PATH = '/latest/api/token';
const METADATA_PREFIX = '/latest/meta-data/';

export async function startImdsEmulator(o: ImdsEmulatorOptions): Promise<ImdsEmulator> {
  const now = o.now ?? Date.now;
  const tokens = new Map<string, number>();
  const counts: ImdsRequestCounts = { token: 0, metadata: 0, unauthorized: 0 };
  const hanging = new Set<ServerResponse>();
  let notice: SpotNoticeDocument | undefined;
  let rebalance: RebalanceRecommendationDocument | undefined;
  let fault: ImdsFault | undefined;

  const control: ImdsControl = {
    postSpotNotice(p = {}) {
      notice = {
        action: p.action ?? 'terminate',
        time: rfc3339(p.time ?? new Date(now() + 120_000)),
      };
      return { ...notice };
    },
    clearSpotNotice() {
      notice = undefined;
    },
    spotNotice: () => (notice ? { ...notice } : undefined),
    postRebalanceRecommendation(p = {}) {
      rebalance = { noticeTime: rfc3339(p.noticeTime ?? new Date(now())) };
      return { ...rebalance };
    },
    clearRebalanceRecommendation() {
      rebalance = undefined;
    },
    rebalanceRecommendation: () => (rebalance ? { ...rebalance } : undefined),
    revokeTokens() {
      tokens.clear();
    },
    setFault(f) {
      fault = f;
      if (f !== 'hang') for (const res of hanging) answer(res, 503, 'fault cleared');
      if (f !== 'hang') hanging.clear();
    },
    requests: () => ({ ...counts }),
  };

  const server: Server = createServer((req, res) => {
    // The body is never needed; drain it so the connection can be reused.
    req.resume();
    req.on('error', () => undefined);
    try {
      handle(req, res);
    } catch {
      answer(res, 500, 'internal error');
    }
  });
  server.keepAliveTimeout = 5_000;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith('/control/')) return handleControl(req, res, path);
    if (fault === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (fault === 'unavailable') return answer(res, 503, 'Service Unavailable');
    if (path === TOKEN_PATH) {
      if (req.method !== 'PUT') return answer(res, 405, 'Method Not Allowed');
      counts.token++;
      if (fault === 'token-unavailable') return answer(res, 503, 'Service Unavailable');
      if (req.headers['x-forwarded-for'] !== undefined) return answer(res, 403, 'Forbidden');
      const ttlRaw = header(req, 'x-aws-ec2-metadata-token-ttl-seconds');
      const ttl = ttlRaw !== undefined && /^\d+$/.test(ttlRaw) ? Number(ttlRaw) : NaN;
      if (!(ttl >= 1 && ttl <= MAX_TTL_SECONDS)) return answer(res, 400, 'Bad Request');
      const token = randomBytes(32).toString('base64url');
      tokens.set(token, now() + ttl * 1000);
      res.setHeader('X-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return answer(res, 200, token);
    }
    if (!path.startsWith(METADATA_PREFIX) && path !== '/latest/meta-data')
      return answer(res, 404, 'Not Found');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'Method Not Allowed');
    counts.metadata++;
    const token = header(req, 'x-aws-ec2-metadata-token');
    const expires = token === undefined ? undefined : tokens.get(token);
    if (expires === undefined || expires <= now()) {
      if (token !== undefined && expires !== undefined) tokens.delete(token);
      counts.unauthorized++;
      return answer(res, 401, 'Unauthorized');
    }
    switch (path.replace(/\/$/, '')) {
      case '/latest/meta-data/instance-id':
        return answer(res, 200, o.instanceId);
      case '/latest/meta-data/spot/instance-action':
        if (!notice) return answer(res, 404, 'Not Found');
        if (fault === 'garbage') return answer(res, 200, '<html>not json', 'text/html');
        return answer(res, 200, JSON.stringify(notice), 'text/plain');
      case '/latest/meta-data/events/recommendations/rebalance':
        if (!rebalance) return answer(res, 404, 'Not Found');
        if (fault === 'garbage') return answer(res, 200, '<html>not json', 'text/html');
        return answer(res, 200, JSON.stringify(rebalance), 'text/plain');
      default:
        return answer(res, 404, 'Not Found');
    }
  }

  function handleControl(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (path === '/control/rebalance-recommendation') return handleRebalanceControl(req, res);
    if (path !== '/control/spot-notice') return answer(res, 404, 'Not Found');
    if (req.method === 'DELETE') {
      control.clearSpotNotice();
      return answer(res, 204, '');
    }
    if (req.method !== 'POST') return answer(res, 405, 'Method Not Allowed');
    const url = new URL(req.url ?? '/', 'http://imds');
    const action = url.searchParams.get('action') ?? 'terminate';
    if (!(SPOT_ACTIONS as readonly string[]).includes(action))
      return answer(res, 400, `action must be one of ${SPOT_ACTIONS.join(', ')}`);
    const timeRaw = url.searchParams.get('time');
    const time = timeRaw === null ? undefined : new Date(timeRaw);
    if (time !== undefined && Number.isNaN(time.getTime()))
      return answer(res, 400, 'time must be an RFC 3339 time');
    const doc = control.postSpotNotice({ action: action as SpotAction, ...(time ? { time } : {}) });
    return answer(res, 201, JSON.stringify(doc), 'application/json');
  }

  function handleRebalanceControl(req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'DELETE') {
      control.clearRebalanceRecommendation();
      return answer(res, 204, '');
    }
    if (req.method !== 'POST') return answer(res, 405, 'Method Not Allowed');
    const timeRaw = new URL(req.url ?? '/', 'http://imds').searchParams.get('time');
    const noticeTime = timeRaw === null ? undefined : new Date(timeRaw);
    if (noticeTime !== undefined && Number.isNaN(noticeTime.getTime()))
      return answer(res, 400, 'time must be an RFC 3339 time');
    const doc = control.postRebalanceRecommendation(noticeTime ? { noticeTime } : {});
    return answer(res, 201, JSON.stringify(doc), 'application/json');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    instanceId: o.instanceId,
    control,
    async stop() {
      for (const res of hanging) res.destroy();
      hanging.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** As EC2 writes times: RFC 3339 in UTC, whole seconds. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function answer(res: ServerResponse, status: number, body: string, type = 'text/plain'): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  if (status !== 204) res.setHeader('Content-Type', type);
  res.end(status === 204 ? undefined : body);
}
