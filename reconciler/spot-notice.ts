// The instance's own Spot interruption notice, read from instance metadata (IMDSv2) every few seconds,
// as AWS Node Termination Handler does. It does not depend on pubsub, Redis or FleetIQ: when any of
// them is down or late, the notice still reaches the agent within one poll, and the agent treats it
// exactly as FleetIQ's SPOT_TERMINATING.
//
// The same poll, with the same token, reads the EC2 rebalance recommendation
// (`/latest/meta-data/events/recommendations/rebalance`: 404 while there is none, then
// `{"noticeTime": "<RFC 3339>"}`): EC2's best-effort signal that the instance is at elevated risk of
// interruption, often minutes before the notice, sometimes together with it. It stays in metadata
// once posted, so an agent restarted later reads it again (decide() is level-triggered on it).
//
// One job: poll, and say whether a notice (a recommendation) is present. Nothing it reads can crash
// it: a timeout, a refused or expired token (401: a new token, once per poll), an unreachable service,
// or an answer that is not the documented document are counted and logged (once per change, per
// document), and the state the monitor reports stays what the last readable answer said.
import { parseJsonObject } from '../shared/json-object.js';
import type { Logger } from '../shared/logger.js';

export type SpotAction = 'terminate' | 'stop' | 'hibernate';
const ACTIONS: readonly string[] = ['terminate', 'stop', 'hibernate'];

/** A Spot interruption notice as the agent holds it. */
export interface SpotNotice {
  action: SpotAction;
  /** Epoch ms at which EC2 interrupts the instance. */
  interruptAt: number;
  /** Epoch ms of the first poll that saw this notice. */
  firstSeenAt: number;
  /** Epoch ms of the latest poll that still saw it (its freshness). */
  lastSeenAt: number;
}

/** An EC2 rebalance recommendation as the agent holds it. */
export interface RebalanceRecommendation {
  /** Epoch ms at which EC2 issued the recommendation (the document's noticeTime). */
  noticeTime: number;
  /** Epoch ms of the first poll that saw it. */
  firstSeenAt: number;
  /** Epoch ms of the latest poll that still saw it. */
  lastSeenAt: number;
}

export const INSTANCE_ACTION_PATH = '/latest/meta-data/spot/instance-action';
export const REBALANCE_PATH = '/latest/meta-data/events/recommendations/rebalance';

/** Outcome of one poll, for metrics: `none` (404), `notice`, or an error kind. */
export type PollResult =
  'none' | 'notice' | 'token_error' | 'timeout' | 'unreachable' | 'http_error' | 'invalid';

export const POLL_RESULTS: readonly PollResult[] = [
  'none',
  'notice',
  'token_error',
  'timeout',
  'unreachable',
  'http_error',
  'invalid',
];

/** Parses the instance-action document; anything but the documented shape is refused with the reason. */
export function parseInstanceAction(
  body: string,
): { ok: true; action: SpotAction; interruptAt: number } | { ok: false; error: string } {
  const parsed = parseJsonObject(body, 4096);
  if (!parsed.ok) return parsed;
  const doc = parsed.value;
  const { action, time } = doc;
  if (typeof action !== 'string' || !ACTIONS.includes(action))
    return {
      ok: false,
      error: `action ${JSON.stringify(action)?.slice(0, 40)} is not terminate, stop or hibernate`,
    };
  if (!isRfc3339(time))
    return { ok: false, error: `time ${JSON.stringify(time)?.slice(0, 40)} is not an RFC 3339 time` };
  return { ok: true, action: action as SpotAction, interruptAt: Date.parse(time) };
}

/** Parses the rebalance recommendation document; anything but the documented shape is refused. */
export function parseRebalanceRecommendation(
  body: string,
): { ok: true; noticeTime: number } | { ok: false; error: string } {
  const parsed = parseJsonObject(body, 4096);
  if (!parsed.ok) return parsed;
  const doc = parsed.value;
  const { noticeTime } = doc;
  if (!isRfc3339(noticeTime))
    return {
      ok: false,
      error: `noticeTime ${JSON.stringify(noticeTime)?.slice(0, 40)} is not an RFC 3339 time`,
    };
  return { ok: true, noticeTime: Date.parse(noticeTime) };
}

/** RFC 3339 with a zone, as EC2 writes it; Date.parse alone would accept local times and other forms. */
function isRfc3339(v: unknown): v is string {
  return (
    typeof v === 'string' &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) &&
    !Number.isNaN(Date.parse(v))
  );
}

export interface SpotNoticeMonitorOptions {
  /** Base URL of instance metadata, no path (IMDS_ENDPOINT). */
  endpoint: string;
  /** Per request (IMDS_TIMEOUT). */
  timeoutMs: number;
  /** Between the end of one poll and the start of the next (SPOT_NOTICE_POLL_INTERVAL). */
  intervalMs: number;
  /** Lifetime asked for each session token; a new one is fetched before it runs out. */
  tokenTtlSeconds?: number;
  /** A notice appeared or went away. */
  onChange: (notice: SpotNotice | undefined) => void;
  /** A rebalance recommendation appeared, changed or went away. */
  onRebalanceChange?: (recommendation: RebalanceRecommendation | undefined) => void;
  logger: Logger;
  now?: () => number;
}

export class SpotNoticeMonitor {
  private readonly now: () => number;
  private readonly ttlSeconds: number;
  private token?: { value: string; refreshAt: number };
  private notice?: SpotNotice;
  private rebalance?: RebalanceRecommendation;
  private timer?: NodeJS.Timeout;
  private running = false;
  private inFlight?: Promise<PollResult>;
  /** The last problem logged, per document (`token` for the token itself). */
  private readonly lastProblem = new Map<string, string>();
  private readonly abort = new AbortController();
  /**
   * Polls by result (see PollResult): of the instance-action document (`polls`) and of the rebalance
   * recommendation (`rebalancePolls`, where `notice` means a recommendation); tokens fetched.
   */
  readonly stats: {
    polls: Record<PollResult, number>;
    rebalancePolls: Record<PollResult, number>;
    tokens: number;
  } = {
    polls: Object.fromEntries(POLL_RESULTS.map((r) => [r, 0])) as Record<PollResult, number>,
    rebalancePolls: Object.fromEntries(POLL_RESULTS.map((r) => [r, 0])) as Record<PollResult, number>,
    tokens: 0,
  };

  constructor(private readonly o: SpotNoticeMonitorOptions) {
    this.now = o.now ?? Date.now;
    this.ttlSeconds = o.tokenTtlSeconds ?? 21_600;
  }

  /** The notice as of the last readable answer (undefined: none). */
  current(): SpotNotice | undefined {
    return this.notice;
  }

  /** The rebalance recommendation as of the last readable answer (undefined: none). */
  currentRebalance(): RebalanceRecommendation | undefined {
    return this.rebalance;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.inFlight?.catch(() => undefined);
  }

  /**
   * One poll now (the loop's step; tests call it directly): the instance-action document, then the
   * rebalance recommendation with the same token. Returns the first one's result. Never throws.
   */
  async poll(): Promise<PollResult> {
    const run = this.pollOnce().catch((err: unknown): { action: PollResult; rebalance: PollResult } => {
      this.problem('token', `unexpected: ${(err as Error)?.message}`);
      return { action: 'unreachable', rebalance: 'unreachable' };
    });
    this.inFlight = run.then((r) => r.action);
    const result = await run;
    this.stats.polls[result.action]++;
    this.stats.rebalancePolls[result.rebalance]++;
    return result.action;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.poll().finally(() => this.schedule(this.o.intervalMs));
    }, delayMs);
    this.timer.unref?.();
  }

  private async pollOnce(): Promise<{ action: PollResult; rebalance: PollResult }> {
    const action = await this.fetchDocument(INSTANCE_ACTION_PATH);
    const actionResult = this.applyInstanceAction(action);
    // No token, or the service not answering: the second document would fail the same way (and a
    // hanging service would double the poll's length), so it is not asked for and counts the same.
    if ('result' in action) return { action: actionResult, rebalance: actionResult };
    const rebalance = this.applyRebalance(await this.fetchDocument(REBALANCE_PATH));
    return { action: actionResult, rebalance };
  }

  /** GET one metadata document with the session token (a refused token is replaced once). */
  private async fetchDocument(
    path: string,
  ): Promise<{ status: number; body: string } | { result: PollResult }> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.sessionToken();
      if (typeof token !== 'string') return token;
      const res = await this.request('GET', path, { 'X-aws-ec2-metadata-token': token });
      if ('result' in res) return res;
      if (res.status === 401 && attempt === 0) {
        // The token was refused (expired early, or the service forgot it): one new token, once.
        this.token = undefined;
        continue;
      }
      if (res.status === 401) this.token = undefined;
      return res;
    }
    this.problem(path, `${path} refused two tokens in a row (HTTP 401)`);
    return { result: 'token_error' };
  }

  private applyInstanceAction(res: { status: number; body: string } | { result: PollResult }): PollResult {
    const key = INSTANCE_ACTION_PATH;
    if ('result' in res) return res.result;
    if (res.status === 404) {
      this.recovered(key);
      if (this.notice) {
        this.o.logger.warn({ notice: this.notice }, 'spot notice: the Spot interruption notice is gone');
        this.notice = undefined;
        this.o.onChange(undefined);
      }
      return 'none';
    }
    if (res.status !== 200) {
      this.problem(key, `instance-action answered HTTP ${res.status}`);
      return 'http_error';
    }
    const parsed = parseInstanceAction(res.body);
    if (!parsed.ok) {
      this.problem(key, `instance-action document refused: ${parsed.error}`);
      return 'invalid';
    }
    this.recovered(key);
    const now = this.now();
    const previous = this.notice;
    const same = previous && previous.action === parsed.action && previous.interruptAt === parsed.interruptAt;
    this.notice = {
      action: parsed.action,
      interruptAt: parsed.interruptAt,
      firstSeenAt: same ? previous.firstSeenAt : now,
      lastSeenAt: now,
    };
    if (!same) {
      this.o.logger.warn(
        { action: parsed.action, interruptAt: new Date(parsed.interruptAt).toISOString() },
        'spot notice: Spot interruption notice in instance metadata',
      );
      this.o.onChange(this.notice);
    }
    return 'notice';
  }

  private applyRebalance(res: { status: number; body: string } | { result: PollResult }): PollResult {
    const key = REBALANCE_PATH;
    if ('result' in res) return res.result;
    if (res.status === 404) {
      this.recovered(key);
      if (this.rebalance) {
        this.o.logger.info(
          { noticeTime: new Date(this.rebalance.noticeTime).toISOString() },
          'spot notice: the rebalance recommendation is gone',
        );
        this.rebalance = undefined;
        this.o.onRebalanceChange?.(undefined);
      }
      return 'none';
    }
    if (res.status !== 200) {
      this.problem(key, `rebalance recommendation answered HTTP ${res.status}`);
      return 'http_error';
    }
    const parsed = parseRebalanceRecommendation(res.body);
    if (!parsed.ok) {
      this.problem(key, `rebalance recommendation refused: ${parsed.error}`);
      return 'invalid';
    }
    this.recovered(key);
    const now = this.now();
    const same = this.rebalance?.noticeTime === parsed.noticeTime;
    this.rebalance = {
      noticeTime: parsed.noticeTime,
      firstSeenAt: same ? this.rebalance!.firstSeenAt : now,
      lastSeenAt: now,
    };
    if (!same) {
      this.o.logger.warn(
        { noticeTime: new Date(parsed.noticeTime).toISOString() },
        'spot notice: EC2 rebalance recommendation in instance metadata',
      );
      this.o.onRebalanceChange?.(this.rebalance);
    }
    return 'notice';
  }

  private async sessionToken(): Promise<string | { result: PollResult }> {
    if (this.token && this.now() < this.token.refreshAt) return this.token.value;
    const res = await this.request('PUT', '/latest/api/token', {
      'X-aws-ec2-metadata-token-ttl-seconds': String(this.ttlSeconds),
    });
    if ('result' in res) return { result: res.result === 'timeout' ? 'timeout' : res.result };
    const value = res.body.trim();
    if (res.status !== 200 || value === '' || value.length > 1024 || /\s/.test(value)) {
      this.problem(
        'token',
        `token request answered HTTP ${res.status}${res.status === 200 ? ' with no usable token' : ''}`,
      );
      return { result: 'token_error' };
    }
    this.stats.tokens++;
    // Renewed at 90 % of its life (at least a minute early), so a poll never uses a dying token.
    const lifeMs = this.ttlSeconds * 1000;
    this.token = { value, refreshAt: this.now() + Math.max(0, Math.min(lifeMs * 0.9, lifeMs - 60_000)) };
    return value;
  }

  private async request(
    method: 'GET' | 'PUT',
    path: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: string } | { result: PollResult }> {
    const key = method === 'PUT' ? 'token' : path;
    try {
      const res = await fetch(`${this.o.endpoint}${path}`, {
        method,
        headers,
        signal: AbortSignal.any([AbortSignal.timeout(this.o.timeoutMs), this.abort.signal]),
      });
      // Bounded: a document is a few dozen bytes; a huge body is garbage, not a reason to buffer it.
      const body = await readBounded(res, 8192);
      return { status: res.status, body };
    } catch (err) {
      const e = err as Error;
      if (e.name === 'TimeoutError') {
        this.problem(key, `no answer within ${this.o.timeoutMs} ms (${method} ${path})`);
        return { result: 'timeout' };
      }
      const why = (e.cause as Error)?.message ?? e.message;
      // From a pod, IMDSv2 needs hostNetwork or a hop limit of 2: say so, the usual cause.
      this.problem(
        key,
        `${method} ${path} failed: ${why} (from a pod, IMDSv2 needs hostNetwork or a hop limit of 2)`,
      );
      return { result: 'unreachable' };
    }
  }

  /**
   * Logs a problem once until it changes or reads of that document succeed again: a poll every 2 s must
   * not flood the log. Kept per document, so two documents failing differently do not alternate.
   */
  private problem(key: string, what: string): void {
    if (this.lastProblem.get(key) === what || !this.running) return;
    this.lastProblem.set(key, what);
    this.o.logger.warn(
      { endpoint: this.o.endpoint, problem: what },
      'spot notice: polling instance metadata failed',
    );
  }

  private recovered(key: string): void {
    // A document read at all means the token worked too.
    const had = this.lastProblem.delete(key);
    const token = this.lastProblem.delete('token');
    if (had || token) this.o.logger.info({ document: key }, 'spot notice: instance metadata answers again');
  }
}

async function readBounded(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return 'x'.repeat(max + 1);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
