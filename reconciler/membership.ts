// The agent's game server in FleetIQ: registration, health reports and utilization. decide() says WHAT
// to do (register, mark UTILIZED, become AVAILABLE again, deregister); this module does it against
// GameLift and keeps the one thing decide() reads from here: the registration as last seen.
//
// Every call goes through one queue, so a health report never interleaves with a deregister/register
// pair, and whatever FleetIQ answers (a health report returns the game server, utilization included)
// updates the view. A health report that meets NotFoundException marks the game server absent and
// tells the agent, whose next decision re-registers it unless the node is draining.
import {
  ClaimGameServerCommand,
  DeregisterGameServerCommand,
  RegisterGameServerCommand,
  UpdateGameServerCommand,
  type GameLiftClient,
  type GameServer,
} from '@aws-sdk/client-gamelift';
import { StepGate, type BackoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';
import { describeAction, failureReason, type MembershipAction, type RegistrationView } from './decide.js';
import { errorText } from '../shared/scoped-informer.js';

/** The GameLift calls the agent makes about its own game server (game server id = instance id). */
export interface GameServerApi {
  register(): Promise<GameServer | undefined>;
  /** UpdateGameServer: a health report and/or a utilization change. */
  update(input: { healthy?: boolean; utilized?: boolean }): Promise<GameServer | undefined>;
  claim(): Promise<void>;
  deregister(): Promise<void>;
}

export function gameLiftGameServerApi(
  client: Pick<GameLiftClient, 'send'>,
  ids: { gameServerGroup: string; instanceId: string; connectionInfo?: string },
): GameServerApi {
  const key = { GameServerGroupName: ids.gameServerGroup, GameServerId: ids.instanceId };
  return {
    register: async () =>
      (
        await client.send(
          new RegisterGameServerCommand({
            ...key,
            InstanceId: ids.instanceId,
            ...(ids.connectionInfo ? { ConnectionInfo: ids.connectionInfo } : {}),
          }),
        )
      ).GameServer,
    update: async ({ healthy, utilized }) =>
      (
        await client.send(
          new UpdateGameServerCommand({
            ...key,
            ...(healthy ? { HealthCheck: 'HEALTHY' } : {}),
            ...(utilized ? { UtilizationStatus: 'UTILIZED' } : {}),
          }),
        )
      ).GameServer,
    claim: async () => {
      await client.send(new ClaimGameServerCommand(key));
    },
    deregister: async () => {
      await client.send(new DeregisterGameServerCommand(key));
    },
  };
}

/** The wait before the next health report: interval × U[0.8, 1.2], never above 60 s (FleetIQ's advice). */
export function nextHealthDelay(intervalMs: number, random: number): number {
  return Math.min(60_000, Math.round(intervalMs * (0.8 + 0.4 * random)));
}

export interface MembershipOptions {
  api: GameServerApi;
  healthIntervalMs: number;
  logger: Logger;
  /** The registration view changed (e.g. FleetIQ forgot the game server): decide again. */
  onChange?: (view: RegistrationView) => void;
  random?: () => number;
}

export interface MembershipStats {
  healthReports: number;
  healthReportFailures: number;
  registrations: number;
  deregistrations: number;
  notFound: number;
}

const errorName = (err: unknown): string => (err as { name?: string })?.name ?? 'Error';

export class Membership {
  private view: RegistrationView = { state: 'unknown' };
  private queue: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private running = false;
  /** Deregistered for good (the drain finished): no more health reports, ever, from this agent. */
  private finished = false;
  private readonly random: () => number;
  readonly stats: MembershipStats = {
    healthReports: 0,
    healthReportFailures: 0,
    registrations: 0,
    deregistrations: 0,
    notFound: 0,
  };

  constructor(private readonly o: MembershipOptions) {
    this.random = o.random ?? Math.random;
  }

  registration(): RegistrationView {
    return this.view;
  }

  /** start() was called (and stop() not since). */
  started(): boolean {
    return this.running;
  }

  /** Health reports are running (started, not stopped, not deregistered). */
  reporting(): boolean {
    return this.running && !this.finished;
  }

  /** Starts health reports, the first one at once: it also tells whether FleetIQ knows the game server. */
  start(): void {
    if (this.running || this.finished) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops health reports; deregisters nothing (a restarting agent must not give its instance up). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.queue.catch(() => undefined);
  }

  /** Carries out one of decide()'s FleetIQ steps (`deregister` included). Throws when FleetIQ fails. */
  execute(action: MembershipAction | { kind: 'deregister' }): Promise<void> {
    switch (action.kind) {
      case 'register':
        return this.enqueue(async () => {
          await this.register();
          this.revive();
        });
      case 'markUtilized':
        return this.enqueue(() => this.markUtilized(action.claim));
      case 'reregisterAvailable':
        return this.enqueue(async () => {
          await this.deregisterCall();
          await this.register();
        });
      case 'deregister':
        return this.enqueue(async () => {
          await this.deregisterCall();
          this.finished = true;
          clearTimeout(this.timer);
          this.o.logger.info('membership: deregistered for good; health reports stopped');
        });
    }
  }

  /** One health report now (also what the loop does). */
  healthReport(): Promise<void> {
    return this.enqueue(async () => {
      if (this.finished || this.view.state === 'absent') return;
      try {
        const gs = await this.o.api.update({ healthy: true });
        this.stats.healthReports++;
        this.learn(gs);
      } catch (err) {
        if (errorName(err) === 'NotFoundException') {
          this.stats.notFound++;
          this.o.logger.warn('membership: FleetIQ does not know the game server any more');
          this.set({ state: 'absent' });
          return;
        }
        this.stats.healthReportFailures++;
        throw err;
      }
    });
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (!this.running || this.finished) return;
    this.timer = setTimeout(() => {
      this.healthReport()
        .catch((err: Error) =>
          this.o.logger.warn({ err: err.message, name: errorName(err) }, 'membership: health report failed'),
        )
        .finally(() => this.schedule(nextHealthDelay(this.o.healthIntervalMs, this.random())));
    }, delayMs);
    this.timer.unref?.();
  }

  /**
   * Registered again after the deregistration that finished a drain (FleetIQ said ACTIVE again: the
   * instance lives on), so the health reports that keep it registered resume.
   */
  private revive(): void {
    if (!this.finished) return;
    this.finished = false;
    this.o.logger.info('membership: registered again after deregistration; health reports resume');
    if (this.running) this.schedule(nextHealthDelay(this.o.healthIntervalMs, this.random()));
  }

  private async register(): Promise<void> {
    try {
      const gs = await this.o.api.register();
      this.stats.registrations++;
      this.o.logger.info('membership: registered with FleetIQ');
      this.learn(gs, 'AVAILABLE');
    } catch (err) {
      if (errorName(err) !== 'ConflictException') throw err;
      // Already registered (a restarted agent): a health report tells its utilization.
      const gs = await this.o.api.update({ healthy: true });
      this.stats.healthReports++;
      this.learn(gs);
    }
  }

  private async markUtilized(claim: boolean): Promise<void> {
    if (claim) {
      try {
        await this.o.api.claim();
      } catch (err) {
        // Already claimed or UTILIZED: the claim only ever precedes UTILIZED, which follows anyway.
        if (errorName(err) !== 'ConflictException') throw this.notFound(err);
      }
    }
    try {
      this.learn(await this.o.api.update({ utilized: true }), 'UTILIZED');
    } catch (err) {
      throw this.notFound(err);
    }
  }

  private async deregisterCall(): Promise<void> {
    try {
      await this.o.api.deregister();
      this.stats.deregistrations++;
    } catch (err) {
      if (errorName(err) !== 'NotFoundException') throw err;
    }
    this.set({ state: 'absent' });
  }

  /** A NotFound means FleetIQ forgot the game server: note it, and still fail the step. */
  private notFound(err: unknown): unknown {
    if (errorName(err) === 'NotFoundException') {
      this.stats.notFound++;
      this.set({ state: 'absent' });
    }
    return err;
  }

  private learn(gs: GameServer | undefined, assumed?: 'AVAILABLE' | 'UTILIZED'): void {
    const u = gs?.UtilizationStatus ?? assumed;
    if (u === 'AVAILABLE' || u === 'UTILIZED') this.set({ state: 'registered', utilization: u });
  }

  private set(view: RegistrationView): void {
    const before = this.view;
    this.view = view;
    const same =
      before.state === view.state &&
      (before.state !== 'registered' ||
        view.state !== 'registered' ||
        before.utilization === view.utilization);
    if (!same) this.o.onChange?.(view);
  }

  private enqueue<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(step, step);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

export interface MembershipStepsOptions {
  membership: Pick<Membership, 'execute'>;
  gameServerGroup: string;
  backoff: BackoffPolicy;
  logger: Logger;
  now: () => number;
  random: () => number;
  /** Each result, for metrics (err: a failure). */
  onResult: (action: MembershipAction, err?: unknown) => void;
  /** A Warning Event for a failed step (the recorder paces them per reason). */
  onFailureEvent: (reason: string, message: string) => void;
  /** A step finished, either way: the registration view or the back-off changed, decide again. */
  onSettled: () => void;
}

/**
 * decide()'s FleetIQ steps, run in the background so that a slow or failing FleetIQ never holds up a
 * drain: never the same step twice at once, and a failing one backs off (doubling up to the policy's
 * maximum) before it may start again.
 */
export class MembershipSteps {
  private readonly gate: StepGate;
  private refusalReason: string | undefined;

  constructor(private readonly o: MembershipStepsOptions) {
    this.gate = new StepGate(o.backoff, o.random);
  }

  /** Why FleetIQ refuses this agent's configuration, from the last failure (cleared by a success). */
  refusal(): string | undefined {
    return this.refusalReason;
  }

  /** Starts what may start; returns how soon a step now backing off may be tried again (ms), if any. */
  dispatch(actions: readonly MembershipAction[]): number | undefined {
    let retryIn: number | undefined;
    for (const action of actions) {
      const key = action.kind === 'markUtilized' ? `markUtilized:${action.claim}` : action.kind;
      const now = this.o.now();
      if (!this.gate.mayStart(key, now)) {
        const at = this.gate.retryAt(key);
        if (at !== undefined) retryIn = Math.min(retryIn ?? Infinity, Math.max(0, at - now));
        continue;
      }
      this.gate.started(key);
      this.o.membership.execute(action).then(
        () => {
          this.gate.succeeded(key);
          this.refusalReason = undefined;
          this.o.onResult(action);
          this.o.onSettled();
        },
        (err: unknown) => {
          const { failures } = this.gate.failed(key, this.o.now());
          this.o.onResult(action, err);
          this.refusalReason = fleetiqRefusal(action.kind, err, this.o.gameServerGroup);
          this.o.logger.warn(
            { action: action.kind, err: errorText(err), failures },
            'reconciler: FleetIQ step failed; backing off',
          );
          this.o.onFailureEvent(failureReason(action), `${describeAction(action)} failed: ${errorText(err)}`);
          this.o.onSettled();
        },
      );
    }
    return retryIn;
  }
}

/**
 * Why FleetIQ refuses this agent's configuration, from a failed membership call, or undefined for a
 * failure that is not about the configuration (throttling, an outage, an instance FleetIQ forgot).
 * NotFoundException on registration means the group does not exist; a health report's NotFound only
 * means the game server was forgotten (it is registered again).
 */
export function fleetiqRefusal(action: string, err: unknown, group: string): string | undefined {
  const name = (err as { name?: string })?.name;
  if (action === 'register' && name === 'NotFoundException')
    return `FleetIQ refuses GAME_SERVER_GROUP "${group}": not found (${errorText(err)})`;
  if (name === 'AccessDeniedException' || name === 'UnauthorizedException')
    return `FleetIQ refuses this agent's AWS identity for GAME_SERVER_GROUP "${group}" (${name}: ${errorText(err)}); check the IAM role`;
  return undefined;
}
