// Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection package:
// optimistic concurrency on resourceVersion, expiry judged by the local time a record was last seen
// to change (never by comparing clocks across pods), release by emptying holderIdentity.
import { withTimeout } from '../shared/timeout.js';
import { kubeClientFor, type KubeClientConfig } from '../shared/kube-client/client.js';
import { describeKubeError, statusCode } from '../shared/kube-error.js';
import type { Logger } from '../shared/logger.js';
import { ConfigError } from '../shared/ops-server.js';

export interface LeaderElectionSettings {
  namespace: string;
  name: string;
  /** Who we are in holderIdentity: the pod name. */
  identity: string;
  /** How long a lease holds without renewal before others may take it (whole seconds on the wire). */
  leaseDurationMs: number;
  /** A leader that could not renew for this long steps down (must be shorter than the lease). */
  renewDeadlineMs: number;
  /** How often to try to acquire or renew. */
  retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMINGS = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** client-go's JitterFactor: retries are spread over [retryPeriod, 1.2 × retryPeriod). */
const JITTER = 1.2;

/** Rejects timings under which two leaders could overlap, naming the setting (as client-go does). */
export function checkLeaseTimings(
  s: Pick<LeaderElectionSettings, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>,
): void {
  if (!(s.leaseDurationMs >= 1000) || s.leaseDurationMs % 1000 !== 0) {
    throw new ConfigError(
      '--lease-duration',
      `must be a whole number of seconds >= 1, got ${s.leaseDurationMs / 1000}s`,
    );
  }
  if (!(s.retryPeriodMs > 0))
    throw new ConfigError('--retry-period', `must be positive, got ${s.retryPeriodMs / 1000}s`);
  if (!(s.renewDeadlineMs < s.leaseDurationMs)) {
    throw new ConfigError(
      '--renew-deadline',
      `must be shorter than --lease-duration (${s.leaseDurationMs / 1000}s), got ${s.renewDeadlineMs / 1000}s`,
    );
  }
  if (!(s.renewDeadlineMs > JITTER * s.retryPeriodMs)) {
    throw new ConfigError(
      '--renew-deadline',
      `must be longer than ${JITTER} × --retry-period (${s.retryPeriodMs / 1000}s), got ${s.renewDeadlineMs / 1000}s`,
    );
  }
}

/** A coordination.k8s.io/v1 Lease as election reads and writes it (plain JSON; times are MicroTime strings). */
export interface V1Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number | null;
    acquireTime?: string | Date | null;
    renewTime?: string | Date | null;
    leaseTransitions?: number | null;
    [k: string]: unknown;
  };
}

/**
 * A MicroTime as the API requires it: RFC 3339 with exactly six fractional digits (the API server
 * refuses three, which is what Date.toISOString gives).
 */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The fields of a Lease's spec that election reads and writes. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

export function recordOf(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  const time = (t: unknown) =>
    t === undefined || t === null ? undefined : t instanceof Date ? t.toISOString() : String(t);
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: time(spec.acquireTime),
    renewTime: time(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

export type LeaseDecision =
  { action: 'wait'; holder: string } | { action: 'renew' } | { action: 'takeover'; previousHolder: string };

/**
 * Whether we may write the lease now. `observedAt` is when WE first saw the current record (local
 * clock): the holder's renewTime is another pod's clock, so it is never compared with ours.
 */
export function decideLease(
  record: LeaseRecord,
  observedAt: number,
  now: number,
  identity: string,
): LeaseDecision {
  if (record.holderIdentity === identity) return { action: 'renew' };
  const valid = record.holderIdentity !== '' && observedAt + record.leaseDurationSeconds * 1000 > now;
  if (valid) return { action: 'wait', holder: record.holderIdentity };
  return { action: 'takeover', previousHolder: record.holderIdentity };
}

/** The three Lease calls election makes, so it can run on any client (tests use the Kube emulator). */
export interface LeaseApi {
  /** The lease, or undefined when it does not exist. */
  get(): Promise<V1Lease | undefined>;
  create(lease: V1Lease): Promise<V1Lease>;
  /** Replace with optimistic concurrency: fails (409) when metadata.resourceVersion is stale. */
  replace(lease: V1Lease): Promise<V1Lease>;
}

export function leaseApiFor(kubeConfig: KubeClientConfig, namespace: string, name: string): LeaseApi {
  // Renewed every few seconds for as long as the process lives: one kept-alive connection, not a
  // TLS handshake per renewal.
  const client = kubeClientFor(kubeConfig);
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const path = `${collection}/${encodeURIComponent(name)}`;
  return {
    get: async () => {
      try {
        return await client.request<V1Lease>('readNamespacedLease', { method: 'GET', path });
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
    create: (body) =>
      client.request<V1Lease>('createNamespacedLease', { method: 'POST', path: collection, body }),
    replace: (body) => client.request<V1Lease>('replaceNamespacedLease', { method: 'PUT', path, body }),
  };
}

export interface LeaderCallbacks {
  /** We became the leader; `signal` aborts the moment we stop being it. */
  onStartedLeading(signal: AbortSignal): void;
  /** We are no longer the leader (lost, or released): stop leading work at once. */
  onStoppedLeading(): void;
  /** Someone (maybe us) holds the lease now. */
  onNewLeader?(identity: string): void;
}

/**
 * Runs the election: tries to acquire every retry period; once leader, renews every retry period and
 * steps down when it could not renew within the renew deadline or sees someone else holding the
 * lease. After stepping down it becomes a candidate again.
 */
export class LeaderElector {
  private observed?: { raw: string; record: LeaseRecord; at: number };
  private leading?: AbortController;
  private lastRenew = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private knownLeader = '';
  private lastError = '';

  constructor(
    private readonly api: LeaseApi,
    private readonly settings: LeaderElectionSettings,
    private readonly callbacks: LeaderCallbacks,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    checkLeaseTimings(settings);
  }

  isLeader(): boolean {
    return this.leading !== undefined;
  }

  /** The holder as last seen ('' when unknown or released). */
  leader(): string {
    return this.knownLeader;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /**
   * Stops the election. With `release`, a leader empties holderIdentity (and shortens the lease to
   * 1 s) so that a follower takes over on its next try instead of waiting out the lease.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    const wasLeader = this.isLeader();
    this.stepDown('stopping');
    if (options.release && wasLeader) await this.release();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
        this.lastError = '';
      } catch (err) {
        // The same failure every retry period (API server down, RBAC missing): log it when it changes.
        const text = errorText(err);
        if (text !== this.lastError)
          this.logger.warn({ err: text, lease: this.leaseName() }, 'leader election: lease call failed');
        this.lastError = text;
      }
      if (this.isLeader() && this.now() - this.lastRenew > this.settings.renewDeadlineMs) {
        this.stepDown(`could not renew the lease within ${this.settings.renewDeadlineMs} ms`);
      }
      if (this.stopped) break;
      const period = this.settings.retryPeriodMs * (this.isLeader() ? 1 : 1 + Math.random() * (JITTER - 1));
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, period);
      });
    }
  }

  private leaseName(): string {
    return `${this.settings.namespace}/${this.settings.name}`;
  }

  /** One try to acquire or renew (client-go's tryAcquireOrRenew). */
  private async tick(): Promise<void> {
    const timeoutMs = Math.max(this.settings.retryPeriodMs, this.settings.renewDeadlineMs / 2);
    const lease = await withTimeout(this.api.get(), timeoutMs, 'get lease');
    const now = this.now();
    if (!lease) {
      const created = await withTimeout(
        this.api.create({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.settings.name, namespace: this.settings.namespace },
          spec: this.spec({ acquireTime: now, renewTime: now, leaseTransitions: 0 }),
        }),
        timeoutMs,
        'create lease',
      );
      this.observe(created, now);
      this.won(now);
      return;
    }
    this.observe(lease, now);
    const record = this.observed!.record;
    const decision = decideLease(record, this.observed!.at, now, this.settings.identity);
    if (decision.action === 'wait') {
      if (this.isLeader()) this.stepDown(`the lease is held by ${decision.holder}`);
      return;
    }
    const spec =
      decision.action === 'renew'
        ? this.spec({
            acquireTime: record.acquireTime ?? now,
            renewTime: now,
            leaseTransitions: record.leaseTransitions,
          })
        : this.spec({ acquireTime: now, renewTime: now, leaseTransitions: record.leaseTransitions + 1 });
    const updated = await withTimeout(
      this.api.replace({ ...lease, spec: { ...lease.spec, ...spec } }),
      timeoutMs,
      'update lease',
    );
    this.observe(updated, now);
    if (decision.action === 'takeover') {
      this.logger.info(
        { lease: this.leaseName(), previousHolder: decision.previousHolder || '(released)' },
        'leader election: took over the lease',
      );
    }
    this.won(now);
  }

  private spec(t: { acquireTime: number | string; renewTime: number; leaseTransitions: number }) {
    return {
      holderIdentity: this.settings.identity,
      leaseDurationSeconds: Math.round(this.settings.leaseDurationMs / 1000),
      acquireTime: microTime(typeof t.acquireTime === 'string' ? Date.parse(t.acquireTime) : t.acquireTime),
      renewTime: microTime(t.renewTime),
      leaseTransitions: t.leaseTransitions,
    };
  }

  private observe(lease: V1Lease, now: number): void {
    const record = recordOf(lease);
    const raw = JSON.stringify(record);
    if (this.observed?.raw !== raw) this.observed = { raw, record, at: now };
    if (record.holderIdentity !== this.knownLeader) {
      this.knownLeader = record.holderIdentity;
      if (record.holderIdentity) this.callbacks.onNewLeader?.(record.holderIdentity);
    }
  }

  private won(now: number): void {
    this.lastRenew = now;
    if (this.leading || this.stopped) return;
    this.leading = new AbortController();
    this.logger.info(
      { lease: this.leaseName(), identity: this.settings.identity },
      'leader election: became the leader',
    );
    this.callbacks.onStartedLeading(this.leading.signal);
  }

  private stepDown(reason: string): void {
    const leading = this.leading;
    if (!leading) return;
    this.leading = undefined;
    this.logger.warn({ lease: this.leaseName(), reason }, 'leader election: stopped leading');
    leading.abort(new Error(`lost leadership: ${reason}`));
    this.callbacks.onStoppedLeading();
  }

  private async release(): Promise<void> {
    try {
      const lease = await withTimeout(this.api.get(), this.settings.renewDeadlineMs, 'get lease');
      if (!lease || recordOf(lease).holderIdentity !== this.settings.identity) return;
      const now = this.now();
      await withTimeout(
        this.api.replace({
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: microTime(now),
            renewTime: microTime(now),
          },
        }),
        this.settings.renewDeadlineMs,
        'release lease',
      );
      this.logger.info({ lease: this.leaseName() }, 'leader election: released the lease');
    } catch (err) {
      this.logger.warn(
        { err: errorText(err), lease: this.leaseName() },
        'leader election: could not release the lease',
      );
    }
  }
}

function errorText(err: unknown): string {
  return describeKubeError(err);
}
