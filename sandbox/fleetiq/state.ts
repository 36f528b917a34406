/**
 * FleetIQ's state and rules: game server groups, their EC2 instances and the game servers
 * registered on them. Pure over a clock: no timers and no I/O, so every rule is testable by moving
 * a clock. Time-driven transitions (health timeouts, the end of a drain, a Spot interruption) are
 * applied by `reconcile()`, which every API call runs first, so answers are exact at the moment of
 * the call whether or not a timer has fired yet; lifecycle.ts only calls it on time so hooks fire
 * promptly.
 */
import { SeededRandom } from '../clock.js';
import { FleetIQError, toEpochSeconds, type FleetIQOperation } from './protocol.js';
import {
  BALANCING_STRATEGIES,
  INSTANCE_ID_PATTERN,
  INSTANCE_STATUSES,
  PROTECTION_POLICIES,
  isGroupName,
  type BalancingStrategy,
  type ClaimGameServerInput,
  type DeregisterGameServerInput,
  type DescribeGameServerGroupInput,
  type DescribeGameServerInput,
  type DescribeGameServerInstancesInput,
  type InstanceStatus,
  type ListGameServersInput,
  type OperationInputs,
  type ProtectionPolicy,
  type RegisterGameServerInput,
  type UpdateGameServerInput,
  type UtilizationStatus,
} from './validation.js';

export interface FleetIQSettings {
  region: string;
  accountId: string;
  /** A game server with no health report (registration or HealthCheck=HEALTHY) for this long is deregistered. */
  healthCheckTimeoutSeconds: number;
  /** A DRAINING instance hosting no UTILIZED game server is terminated after this long. */
  drainingTerminationDelaySeconds: number;
  /** A SPOT_TERMINATING instance is terminated this long after the interruption notice. */
  spotTerminationSeconds: number;
  /** How long a claim holds a game server (FleetIQ: 60 s). */
  claimWindowSeconds: number;
  /** Launch a new ACTIVE instance when FleetIQ/Spot terminates one (drained or interrupted). */
  replaceTerminatedInstances: boolean;
  /** Largest page ListGameServers / DescribeGameServerInstances return (Limit above it is clamped). */
  maxPageSize: number;
}

/**
 * Defaults. The API reference leaves the health timeout and page cap undocumented; these are
 * our choices (three missed 60 s reports; a page large enough that 10,000 instances take 10 calls).
 */
export const DEFAULT_SETTINGS: FleetIQSettings = {
  region: 'us-east-1',
  accountId: '123456789012',
  healthCheckTimeoutSeconds: 180,
  drainingTerminationDelaySeconds: 60,
  spotTerminationSeconds: 120,
  claimWindowSeconds: 60,
  replaceTerminatedInstances: true,
  maxPageSize: 1000,
};

export interface InstanceDefinition {
  InstanceType: string;
  WeightedCapacity?: string;
}

export interface GroupSpec {
  name: string;
  /** How many instances to launch with generated ids. */
  instances?: number;
  /** Instances with these exact ids (launched before the generated ones). */
  instanceIds?: string[];
  protectionPolicy?: ProtectionPolicy;
  balancingStrategy?: BalancingStrategy;
  instanceDefinitions?: InstanceDefinition[];
  roleArn?: string;
}

export type TerminationReason = 'drained' | 'spot-interruption' | 'removed';
export type DeregistrationReason = 'api' | 'health-timeout' | 'instance-terminated';

export type FleetIQEvent =
  | { type: 'instance-launched'; time: number; groupName: string; instanceId: string; replaces?: string }
  | {
      type: 'instance-status-changed';
      time: number;
      groupName: string;
      instanceId: string;
      from: InstanceStatus;
      to: InstanceStatus;
    }
  | {
      type: 'instance-terminated';
      time: number;
      groupName: string;
      instanceId: string;
      reason: TerminationReason;
    }
  | {
      type: 'game-server-registered';
      time: number;
      groupName: string;
      gameServerId: string;
      instanceId: string;
    }
  | {
      type: 'game-server-deregistered';
      time: number;
      groupName: string;
      gameServerId: string;
      instanceId: string;
      reason: DeregistrationReason;
    };

/** A rejected control action (not an AWS API error): `status` is the HTTP status the control server answers. */
export class ControlError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export interface GroupView {
  name: string;
  arn: string;
  autoScalingGroupArn: string;
  roleArn: string;
  status: 'ACTIVE';
  protectionPolicy: ProtectionPolicy;
  balancingStrategy: BalancingStrategy;
  instanceDefinitions: InstanceDefinition[];
  creationTime: number;
  lastUpdatedTime: number;
  instanceCount: number;
  gameServerCount: number;
}

export interface InstanceView {
  instanceId: string;
  groupName: string;
  groupArn: string;
  status: InstanceStatus;
  launchTime: number;
  statusSince: number;
  terminated: boolean;
  terminationTime?: number;
  terminationReason?: TerminationReason;
  /** When the emulator will terminate it if nothing changes (DRAINING with nothing UTILIZED, SPOT_TERMINATING). */
  terminationDueAt?: number;
  gameServerIds: string[];
}

export interface GameServerView {
  gameServerId: string;
  groupName: string;
  groupArn: string;
  instanceId: string;
  connectionInfo?: string;
  gameServerData?: string;
  utilizationStatus: UtilizationStatus;
  claimStatus?: 'CLAIMED';
  registrationTime: number;
  lastClaimTime?: number;
  lastHealthCheckTime: number;
}

interface Group {
  name: string;
  arn: string;
  asgArn: string;
  roleArn: string;
  protectionPolicy: ProtectionPolicy;
  balancingStrategy: BalancingStrategy;
  instanceDefinitions: InstanceDefinition[];
  creationTime: number;
  lastUpdatedTime: number;
  /** Live (not terminated) instances in launch order. */
  instances: Map<string, Instance>;
  /** Registered game servers in registration order. */
  gameServers: Map<string, GameServer>;
}

interface Instance {
  id: string;
  group: Group;
  seq: number;
  status: InstanceStatus;
  launchTime: number;
  statusSince: number;
  /** Set while DRAINING with no UTILIZED game server: the drain countdown runs from here. */
  drainIdleSince?: number;
  gameServers: Set<string>;
  terminated?: { time: number; reason: TerminationReason };
}

interface GameServer {
  id: string;
  group: Group;
  instance: Instance;
  seq: number;
  connectionInfo?: string;
  data?: string;
  utilization: UtilizationStatus;
  registrationTime: number;
  lastClaimTime?: number;
  lastHealthCheckTime: number;
}

interface IssuedToken {
  operation: FleetIQOperation;
  groupArn: string;
  /** What else the listing depended on (sort order, instance filter): a token only continues the same listing. */
  listingKey: string;
  /** Sequence number of the last item returned. */
  cursor: number;
}

const MAX_ISSUED_TOKENS = 10_000;
const MAX_RECENT_EVENTS = 1000;
const ID_ALPHABET = '0123456789abcdef';

export interface FleetIQStateOptions {
  /** Simulated time in epoch milliseconds (SimClock.now). */
  now: () => number;
  seed?: number;
  settings?: Partial<FleetIQSettings>;
  groups?: GroupSpec[];
  /** Called synchronously for every event, in order. */
  onEvent?: (event: FleetIQEvent) => void;
}

export class FleetIQState {
  private readonly now: () => number;
  private settingsValue: FleetIQSettings;
  private readonly groups = new Map<string, Group>();
  /** Every instance ever launched (terminated ones stay for inspection); ids are unique across groups. */
  private readonly instances = new Map<string, Instance>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly idRandom: SeededRandom;
  private readonly tokenRandom: SeededRandom;
  private seq = 0;
  private nextDue = Infinity;
  private readonly recent: Array<FleetIQEvent & { seq: number }> = [];
  private eventSeq = 0;
  private readonly onEvent?: (event: FleetIQEvent) => void;
  /** Set by lifecycle.ts: told whenever something becomes due earlier than previously known. */
  onNextDueChanged?: (dueAt: number) => void;

  constructor(options: FleetIQStateOptions) {
    // Floor, so a recorded time is never later than what the clock itself reads at that moment.
    this.now = () => Math.floor(options.now());
    const seed = options.seed ?? 1;
    this.idRandom = new SeededRandom(seed);
    this.tokenRandom = new SeededRandom(seed ^ 0x7a3c5e1);
    this.settingsValue = checkSettings({ ...DEFAULT_SETTINGS, ...options.settings });
    this.onEvent = options.onEvent;
    for (const spec of options.groups ?? []) this.createGroup(spec);
  }

  // ---------------------------------------------------------------- AWS API

  /** Runs one validated API call at the current time. Throws FleetIQError as the API answers. */
  call<O extends FleetIQOperation>(operation: O, input: OperationInputs[O]): Record<string, unknown> {
    this.reconcile();
    switch (operation) {
      case 'RegisterGameServer':
        return this.registerGameServer(input as RegisterGameServerInput);
      case 'DeregisterGameServer':
        return this.deregisterGameServer(input as DeregisterGameServerInput);
      case 'ClaimGameServer':
        return this.claimGameServer(input as ClaimGameServerInput);
      case 'UpdateGameServer':
        return this.updateGameServer(input as UpdateGameServerInput);
      case 'DescribeGameServer':
        return this.describeGameServer(input as DescribeGameServerInput);
      case 'ListGameServers':
        return this.listGameServers(input as ListGameServersInput);
      case 'DescribeGameServerInstances':
        return this.describeGameServerInstances(input as DescribeGameServerInstancesInput);
      case 'DescribeGameServerGroup':
        return this.describeGameServerGroup(input as DescribeGameServerGroupInput);
    }
    throw new FleetIQError('UnknownOperationException', `operation ${String(operation)} is not served`);
  }

  private registerGameServer(input: RegisterGameServerInput): Record<string, unknown> {
    const group = this.resolveGroup(input.GameServerGroupName);
    const instance = this.instances.get(input.InstanceId);
    // Not NotFoundException: RegisterGameServer does not model it; the instance is a bad argument.
    if (!instance || instance.group !== group) {
      throw new FleetIQError(
        'InvalidRequestException',
        `Instance ${input.InstanceId} is not part of game server group ${group.name}`,
      );
    }
    if (instance.terminated) {
      throw new FleetIQError(
        'InvalidRequestException',
        `Instance ${input.InstanceId} of game server group ${group.name} has been terminated`,
      );
    }
    if (group.gameServers.has(input.GameServerId)) {
      throw new FleetIQError(
        'ConflictException',
        `Game server ${input.GameServerId} is already registered in game server group ${group.name}`,
      );
    }
    const now = this.now();
    const gs: GameServer = {
      id: input.GameServerId,
      group,
      instance,
      seq: ++this.seq,
      connectionInfo: input.ConnectionInfo,
      data: input.GameServerData,
      utilization: 'AVAILABLE',
      registrationTime: now,
      lastHealthCheckTime: now,
    };
    group.gameServers.set(gs.id, gs);
    instance.gameServers.add(gs.id);
    this.emit({
      type: 'game-server-registered',
      time: now,
      groupName: group.name,
      gameServerId: gs.id,
      instanceId: instance.id,
    });
    this.noteDue(now + this.settingsValue.healthCheckTimeoutSeconds * 1000);
    this.refreshDrainIdle(instance, now);
    return { GameServer: this.gameServerOutput(gs, now) };
  }

  private deregisterGameServer(input: DeregisterGameServerInput): Record<string, unknown> {
    const gs = this.findGameServer(input.GameServerGroupName, input.GameServerId);
    this.removeGameServer(gs, 'api', this.now());
    return {};
  }

  private claimGameServer(input: ClaimGameServerInput): Record<string, unknown> {
    const group = this.resolveGroup(input.GameServerGroupName);
    const now = this.now();
    const allowed = new Set<InstanceStatus>(input.FilterOption?.InstanceStatuses ?? ['ACTIVE']);
    let chosen: GameServer | undefined;
    if (input.GameServerId !== undefined) {
      const gs = this.findGameServerIn(group, input.GameServerId);
      if (gs.utilization === 'UTILIZED') {
        throw new FleetIQError('ConflictException', `Game server ${gs.id} is UTILIZED and cannot be claimed`);
      }
      if (this.isClaimed(gs, now)) {
        throw new FleetIQError('ConflictException', `Game server ${gs.id} is already CLAIMED`);
      }
      if (!allowed.has(gs.instance.status)) {
        throw new FleetIQError(
          'ConflictException',
          `Game server ${gs.id} is on instance ${gs.instance.id} whose status ${gs.instance.status} the claim filter excludes (allowed: ${[...allowed].join(', ')})`,
        );
      }
      chosen = gs;
    } else {
      // ACTIVE instances first (a claim is for a new session; a DRAINING instance is going away),
      // then the longest-registered game server, so choices are deterministic.
      for (const status of ['ACTIVE', 'DRAINING'] as const) {
        if (!allowed.has(status)) continue;
        for (const gs of group.gameServers.values()) {
          if (gs.instance.status === status && gs.utilization === 'AVAILABLE' && !this.isClaimed(gs, now)) {
            chosen = gs;
            break;
          }
        }
        if (chosen) break;
      }
      if (!chosen) {
        throw new FleetIQError(
          'OutOfCapacityException',
          `No available game server to claim in game server group ${group.name} (instance statuses allowed: ${[...allowed].join(', ')})`,
        );
      }
    }
    chosen.lastClaimTime = now;
    if (input.GameServerData !== undefined) chosen.data = input.GameServerData;
    return { GameServer: this.gameServerOutput(chosen, now) };
  }

  private updateGameServer(input: UpdateGameServerInput): Record<string, unknown> {
    const gs = this.findGameServer(input.GameServerGroupName, input.GameServerId);
    const now = this.now();
    if (input.UtilizationStatus === 'AVAILABLE' && gs.utilization === 'UTILIZED') {
      throw new FleetIQError(
        'InvalidRequestException',
        `Game server ${gs.id} is UTILIZED: UtilizationStatus cannot go back to AVAILABLE (deregister and register it again)`,
      );
    }
    if (input.GameServerData !== undefined) gs.data = input.GameServerData;
    if (input.HealthCheck === 'HEALTHY') {
      gs.lastHealthCheckTime = now;
      this.noteDue(now + this.settingsValue.healthCheckTimeoutSeconds * 1000);
    }
    if (input.UtilizationStatus !== undefined && input.UtilizationStatus !== gs.utilization) {
      gs.utilization = input.UtilizationStatus;
      this.refreshDrainIdle(gs.instance, now);
    }
    return { GameServer: this.gameServerOutput(gs, now) };
  }

  private describeGameServer(input: DescribeGameServerInput): Record<string, unknown> {
    const gs = this.findGameServer(input.GameServerGroupName, input.GameServerId);
    return { GameServer: this.gameServerOutput(gs, this.now()) };
  }

  private listGameServers(input: ListGameServersInput): Record<string, unknown> {
    const group = this.resolveGroup(input.GameServerGroupName);
    const order = input.SortOrder ?? 'ASCENDING';
    const all = [...group.gameServers.values()];
    if (order === 'DESCENDING') all.reverse();
    const now = this.now();
    const { items, nextToken } = this.page(
      'ListGameServers',
      group,
      order,
      all,
      order === 'DESCENDING',
      input,
    );
    return {
      GameServers: items.map((gs) => this.gameServerOutput(gs, now)),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  private describeGameServerInstances(input: DescribeGameServerInstancesInput): Record<string, unknown> {
    const group = this.resolveGroup(input.GameServerGroupName);
    let listed = [...group.instances.values()];
    let listingKey = '*';
    if (input.InstanceIds) {
      // Unknown or foreign ids are simply not returned, as the API does.
      const wanted = new Set(input.InstanceIds);
      listed = listed.filter((i) => wanted.has(i.id));
      listingKey = [...wanted].sort().join(',');
    }
    const { items, nextToken } = this.page(
      'DescribeGameServerInstances',
      group,
      listingKey,
      listed,
      false,
      input,
    );
    return {
      GameServerInstances: items.map((i) => ({
        GameServerGroupName: group.name,
        GameServerGroupArn: group.arn,
        InstanceId: i.id,
        InstanceStatus: i.status,
      })),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  private describeGameServerGroup(input: DescribeGameServerGroupInput): Record<string, unknown> {
    const g = this.resolveGroup(input.GameServerGroupName);
    return {
      GameServerGroup: {
        GameServerGroupName: g.name,
        GameServerGroupArn: g.arn,
        RoleArn: g.roleArn,
        InstanceDefinitions: g.instanceDefinitions.map((d) => ({ ...d })),
        BalancingStrategy: g.balancingStrategy,
        GameServerProtectionPolicy: g.protectionPolicy,
        AutoScalingGroupArn: g.asgArn,
        Status: 'ACTIVE',
        SuspendedActions: [],
        CreationTime: toEpochSeconds(g.creationTime),
        LastUpdatedTime: toEpochSeconds(g.lastUpdatedTime),
      },
    };
  }

  /**
   * Keyset pagination: the token remembers the sequence number of the last item returned, so
   * items added or removed between pages neither repeat nor shift the rest. Only tokens this
   * emulator issued, for the same operation, group and listing, are accepted.
   */
  private page<T extends { seq: number }>(
    operation: FleetIQOperation,
    group: Group,
    listingKey: string,
    ordered: T[],
    descending: boolean,
    { Limit: limit, NextToken: token }: { Limit?: number; NextToken?: string },
  ): { items: T[]; nextToken?: string } {
    let start = 0;
    if (token !== undefined) {
      const issued = this.tokens.get(token);
      if (
        !issued ||
        issued.operation !== operation ||
        issued.groupArn !== group.arn ||
        issued.listingKey !== listingKey
      ) {
        throw new FleetIQError(
          'InvalidRequestException',
          `Invalid NextToken: it was not issued by a previous ${operation} call with the same parameters`,
        );
      }
      start = ordered.findIndex((item) => (descending ? item.seq < issued.cursor : item.seq > issued.cursor));
      if (start < 0) start = ordered.length;
    }
    const size = Math.min(limit ?? this.settingsValue.maxPageSize, this.settingsValue.maxPageSize);
    const items = ordered.slice(start, start + size);
    if (start + size >= ordered.length || items.length === 0) return { items };
    const nextToken = this.issueToken({
      operation,
      groupArn: group.arn,
      listingKey,
      cursor: items[items.length - 1].seq,
    });
    return { items, nextToken };
  }

  private issueToken(issued: IssuedToken): string {
    let token: string;
    do token = this.tokenRandom.string(48, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
    while (this.tokens.has(token));
    this.tokens.set(token, issued);
    if (this.tokens.size > MAX_ISSUED_TOKENS) this.tokens.delete(this.tokens.keys().next().value as string);
    return token;
  }

  // ---------------------------------------------------------------- time-driven rules

  /**
   * Applies every transition due at or before now: game servers past their health timeout are
   * deregistered, SPOT_TERMINATING instances past the notice and DRAINING instances idle for the
   * drain delay are terminated (with a replacement if configured). Cheap when nothing is due.
   */
  reconcile(): void {
    const now = this.now();
    if (now < this.nextDue) return;
    const healthMs = this.settingsValue.healthCheckTimeoutSeconds * 1000;
    const spotMs = this.settingsValue.spotTerminationSeconds * 1000;
    const drainMs = this.settingsValue.drainingTerminationDelaySeconds * 1000;
    for (let changed = true; changed;) {
      changed = false;
      for (const group of this.groups.values()) {
        for (const gs of group.gameServers.values()) {
          const due = gs.lastHealthCheckTime + healthMs;
          if (due <= now) {
            this.removeGameServer(gs, 'health-timeout', due);
            changed = true;
          }
        }
        for (const instance of group.instances.values()) {
          if (instance.status === 'SPOT_TERMINATING' && instance.statusSince + spotMs <= now) {
            this.terminate(instance, 'spot-interruption', instance.statusSince + spotMs);
            changed = true;
          } else if (
            instance.status === 'DRAINING' &&
            instance.drainIdleSince !== undefined &&
            instance.drainIdleSince + drainMs <= now
          ) {
            this.terminate(instance, 'drained', instance.drainIdleSince + drainMs);
            changed = true;
          }
        }
      }
    }
    this.nextDue = this.computeNextDue();
  }

  /** The earliest simulated time at which reconcile() will change something (Infinity: nothing pending). */
  nextDueAt(): number {
    return this.nextDue;
  }

  private computeNextDue(): number {
    let due = Infinity;
    for (const group of this.groups.values()) {
      for (const gs of group.gameServers.values()) {
        due = Math.min(due, gs.lastHealthCheckTime + this.settingsValue.healthCheckTimeoutSeconds * 1000);
      }
      for (const instance of group.instances.values())
        due = Math.min(due, this.terminationDueAt(instance) ?? Infinity);
    }
    return due;
  }

  private terminationDueAt(instance: Instance): number | undefined {
    if (instance.terminated) return undefined;
    if (instance.status === 'SPOT_TERMINATING') {
      return instance.statusSince + this.settingsValue.spotTerminationSeconds * 1000;
    }
    if (instance.status === 'DRAINING' && instance.drainIdleSince !== undefined) {
      return instance.drainIdleSince + this.settingsValue.drainingTerminationDelaySeconds * 1000;
    }
    return undefined;
  }

  private noteDue(at: number): void {
    if (at < this.nextDue) {
      this.nextDue = at;
      this.onNextDueChanged?.(at);
    }
  }

  /** The drain countdown runs while an instance is DRAINING and hosts no UTILIZED game server. */
  private refreshDrainIdle(instance: Instance, at: number): void {
    if (instance.terminated || instance.status !== 'DRAINING') {
      instance.drainIdleSince = undefined;
      return;
    }
    const utilized = [...instance.gameServers].some(
      (id) => instance.group.gameServers.get(id)?.utilization === 'UTILIZED',
    );
    if (utilized) {
      instance.drainIdleSince = undefined;
    } else if (instance.drainIdleSince === undefined) {
      instance.drainIdleSince = at;
      this.noteDue(at + this.settingsValue.drainingTerminationDelaySeconds * 1000);
    }
  }

  private removeGameServer(gs: GameServer, reason: DeregistrationReason, at: number): void {
    gs.group.gameServers.delete(gs.id);
    gs.instance.gameServers.delete(gs.id);
    this.emit({
      type: 'game-server-deregistered',
      time: at,
      groupName: gs.group.name,
      gameServerId: gs.id,
      instanceId: gs.instance.id,
      reason,
    });
    if (reason !== 'instance-terminated') this.refreshDrainIdle(gs.instance, at);
  }

  private terminate(instance: Instance, reason: TerminationReason, at: number): void {
    if (instance.terminated) return;
    const group = instance.group;
    for (const id of [...instance.gameServers]) {
      const gs = group.gameServers.get(id);
      if (gs) this.removeGameServer(gs, 'instance-terminated', at);
    }
    instance.terminated = { time: at, reason };
    instance.drainIdleSince = undefined;
    group.instances.delete(instance.id);
    this.emit({
      type: 'instance-terminated',
      time: at,
      groupName: group.name,
      instanceId: instance.id,
      reason,
    });
    // The Auto Scaling group keeps its desired capacity when FleetIQ or Spot takes an instance
    // away; an operator's removal is a scale-in and is not replaced.
    if (reason !== 'removed' && this.settingsValue.replaceTerminatedInstances) {
      this.launch(group, undefined, at, instance.id);
    }
  }

  // ---------------------------------------------------------------- control (not AWS API)

  get settings(): Readonly<FleetIQSettings> {
    return this.settingsValue;
  }

  /** Changes settings at runtime; timers already running are re-evaluated against the new values. */
  configure(changes: Partial<FleetIQSettings>): FleetIQSettings {
    const next = checkSettings({ ...this.settingsValue, ...changes });
    if (next.region !== this.settingsValue.region || next.accountId !== this.settingsValue.accountId) {
      if (this.groups.size > 0)
        throw new ControlError(409, 'region and accountId cannot change once groups exist');
    }
    this.settingsValue = next;
    this.nextDue = -Infinity;
    this.reconcile();
    this.onNextDueChanged?.(this.nextDue);
    return { ...next };
  }

  createGroup(spec: GroupSpec): GroupView {
    if (typeof spec?.name !== 'string' || !isGroupName(spec.name)) {
      throw new ControlError(
        400,
        `group name must be 1-128 characters of [a-zA-Z0-9-.], got ${JSON.stringify(spec?.name)}`,
      );
    }
    if (this.groups.has(spec.name))
      throw new ControlError(409, `game server group ${spec.name} already exists`);
    const protection = spec.protectionPolicy ?? 'NO_PROTECTION';
    if (!PROTECTION_POLICIES.includes(protection)) {
      throw new ControlError(
        400,
        `protectionPolicy must be one of ${PROTECTION_POLICIES.join(', ')}, got ${protection}`,
      );
    }
    const balancing = spec.balancingStrategy ?? 'SPOT_PREFERRED';
    if (!BALANCING_STRATEGIES.includes(balancing)) {
      throw new ControlError(
        400,
        `balancingStrategy must be one of ${BALANCING_STRATEGIES.join(', ')}, got ${balancing}`,
      );
    }
    const definitions = spec.instanceDefinitions ?? [
      { InstanceType: 'c5.large' },
      { InstanceType: 'm5.large' },
    ];
    if (!Array.isArray(definitions) || definitions.some((d) => typeof d?.InstanceType !== 'string')) {
      throw new ControlError(
        400,
        'instanceDefinitions must be a list of { InstanceType, WeightedCapacity? }',
      );
    }
    this.checkNewInstances(spec.instances, spec.instanceIds);
    const now = this.now();
    const { region, accountId } = this.settingsValue;
    const group: Group = {
      name: spec.name,
      arn: `arn:aws:gamelift:${region}:${accountId}:gameservergroup/${spec.name}`,
      asgArn: `arn:aws:autoscaling:${region}:${accountId}:autoScalingGroup:${this.uuid()}:autoScalingGroupName/gamelift-gameservergroup-${spec.name}`,
      roleArn: spec.roleArn ?? `arn:aws:iam::${accountId}:role/gamelift-fleetiq-${spec.name}`,
      protectionPolicy: protection,
      balancingStrategy: balancing,
      instanceDefinitions: definitions.map((d) => ({ ...d })),
      creationTime: now,
      lastUpdatedTime: now,
      instances: new Map(),
      gameServers: new Map(),
    };
    this.groups.set(group.name, group);
    for (const id of spec.instanceIds ?? []) this.launch(group, id, now);
    for (let i = 0; i < (spec.instances ?? 0); i++) this.launch(group, undefined, now);
    return this.groupView(group);
  }

  /** Launches instances into a group (what a scale-out of its Auto Scaling group does). */
  addInstances(groupName: string, request: { count?: number; instanceIds?: string[] }): InstanceView[] {
    const group = this.controlGroup(groupName);
    if (request.count === undefined && request.instanceIds === undefined) {
      throw new ControlError(400, 'give count or instanceIds');
    }
    this.checkNewInstances(request.count, request.instanceIds);
    this.reconcile();
    const now = this.now();
    const launched: Instance[] = [];
    for (const id of request.instanceIds ?? []) launched.push(this.launch(group, id, now));
    for (let i = 0; i < (request.count ?? 0); i++) launched.push(this.launch(group, undefined, now));
    return launched.map((i) => this.instanceView(i));
  }

  /** Terminates an instance now (an operator's or EC2's action); its game servers go with it. No replacement. */
  removeInstance(instanceId: string): InstanceView {
    this.reconcile();
    const instance = this.liveInstance(instanceId);
    this.terminate(instance, 'removed', this.now());
    return this.instanceView(instance);
  }

  /**
   * Sets an instance's FleetIQ status as FleetIQ's Spot balancing or an interruption notice would.
   * A Spot interruption notice cannot be withdrawn: SPOT_TERMINATING is final.
   */
  setInstanceStatus(instanceId: string, status: InstanceStatus): InstanceView {
    if (!INSTANCE_STATUSES.includes(status)) {
      throw new ControlError(
        400,
        `status must be one of ${INSTANCE_STATUSES.join(', ')}, got ${JSON.stringify(status)}`,
      );
    }
    this.reconcile();
    const instance = this.liveInstance(instanceId);
    const from = instance.status;
    if (from === status) return this.instanceView(instance);
    if (from === 'SPOT_TERMINATING') {
      throw new ControlError(
        409,
        `instance ${instanceId} is SPOT_TERMINATING: an interruption notice cannot be withdrawn`,
      );
    }
    const now = this.now();
    instance.status = status;
    instance.statusSince = now;
    instance.drainIdleSince = undefined;
    this.refreshDrainIdle(instance, now);
    if (status === 'SPOT_TERMINATING') this.noteDue(now + this.settingsValue.spotTerminationSeconds * 1000);
    this.emit({
      type: 'instance-status-changed',
      time: now,
      groupName: instance.group.name,
      instanceId,
      from,
      to: status,
    });
    return this.instanceView(instance);
  }

  listGroups(): GroupView[] {
    this.reconcile();
    return [...this.groups.values()].map((g) => this.groupView(g));
  }

  getGroup(name: string): GroupView {
    this.reconcile();
    return this.groupView(this.controlGroup(name));
  }

  listInstances(
    filter: { group?: string; includeTerminated?: boolean; status?: InstanceStatus } = {},
  ): InstanceView[] {
    this.reconcile();
    const group = filter.group === undefined ? undefined : this.controlGroup(filter.group);
    const out: InstanceView[] = [];
    for (const i of this.instances.values()) {
      if (group && i.group !== group) continue;
      if (i.terminated && !filter.includeTerminated) continue;
      if (filter.status && (i.status !== filter.status || i.terminated)) continue;
      out.push(this.instanceView(i));
    }
    return out;
  }

  getInstance(instanceId: string): InstanceView | undefined {
    this.reconcile();
    const i = this.instances.get(instanceId);
    return i ? this.instanceView(i) : undefined;
  }

  gameServerViews(filter: { group?: string; instanceId?: string } = {}): GameServerView[] {
    this.reconcile();
    const groups = filter.group === undefined ? [...this.groups.values()] : [this.controlGroup(filter.group)];
    const now = this.now();
    const out: GameServerView[] = [];
    for (const g of groups) {
      for (const gs of g.gameServers.values()) {
        if (filter.instanceId !== undefined && gs.instance.id !== filter.instanceId) continue;
        out.push(this.gameServerView(gs, now));
      }
    }
    return out;
  }

  /** Ids of live instances with the given status, in the given groups (all groups when omitted). */
  instanceIdsWithStatus(status: InstanceStatus, groups?: readonly string[]): string[] {
    this.reconcile();
    const out: string[] = [];
    for (const g of this.groups.values()) {
      if (groups && !groups.includes(g.name)) continue;
      for (const i of g.instances.values()) if (i.status === status) out.push(i.id);
    }
    return out;
  }

  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  /** The most recent events (up to 1000), each with a sequence number; `since` returns only newer ones. */
  recentEvents(since = 0): Array<FleetIQEvent & { seq: number }> {
    return this.recent.filter((e) => e.seq > since);
  }

  // ---------------------------------------------------------------- helpers

  private launch(group: Group, id: string | undefined, at: number, replaces?: string): Instance {
    const instanceId = id ?? this.newInstanceId();
    const instance: Instance = {
      id: instanceId,
      group,
      seq: ++this.seq,
      status: 'ACTIVE',
      launchTime: at,
      statusSince: at,
      gameServers: new Set(),
    };
    this.instances.set(instanceId, instance);
    group.instances.set(instanceId, instance);
    this.emit({
      type: 'instance-launched',
      time: at,
      groupName: group.name,
      instanceId,
      ...(replaces ? { replaces } : {}),
    });
    return instance;
  }

  private checkNewInstances(count: unknown, ids: unknown): void {
    if (
      count !== undefined &&
      (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 100_000)
    ) {
      throw new ControlError(
        400,
        `instance count must be an integer between 0 and 100000, got ${JSON.stringify(count)}`,
      );
    }
    if (ids === undefined) return;
    if (!Array.isArray(ids)) throw new ControlError(400, 'instanceIds must be a list of instance ids');
    const seen = new Set<string>();
    for (const id of ids) {
      if (typeof id !== 'string' || !INSTANCE_ID_PATTERN.test(id)) {
        throw new ControlError(
          400,
          `instance id ${JSON.stringify(id)} does not match ${INSTANCE_ID_PATTERN.source}`,
        );
      }
      if (this.instances.has(id) || seen.has(id))
        throw new ControlError(409, `instance ${id} already exists`);
      seen.add(id);
    }
  }

  private newInstanceId(): string {
    let id: string;
    do id = `i-${this.idRandom.string(17, ID_ALPHABET)}`;
    while (this.instances.has(id));
    return id;
  }

  private uuid(): string {
    const h = this.idRandom.string(32, ID_ALPHABET);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** Resolves a group name or ARN for the API; an ARN must be the group's exact ARN. */
  private resolveGroup(nameOrArn: string): Group {
    const group = nameOrArn.startsWith('arn:')
      ? [...this.groups.values()].find((g) => g.arn === nameOrArn)
      : this.groups.get(nameOrArn);
    if (!group) throw new FleetIQError('NotFoundException', `Game server group ${nameOrArn} not found`);
    return group;
  }

  private findGameServer(groupNameOrArn: string, id: string): GameServer {
    return this.findGameServerIn(this.resolveGroup(groupNameOrArn), id);
  }

  private findGameServerIn(group: Group, id: string): GameServer {
    const gs = group.gameServers.get(id);
    if (!gs)
      throw new FleetIQError(
        'NotFoundException',
        `Game server ${id} not found in game server group ${group.name}`,
      );
    return gs;
  }

  private controlGroup(name: string): Group {
    const g = typeof name === 'string' ? this.groups.get(name) : undefined;
    if (!g) throw new ControlError(404, `game server group ${JSON.stringify(name)} not found`);
    return g;
  }

  private liveInstance(instanceId: string): Instance {
    const i = typeof instanceId === 'string' ? this.instances.get(instanceId) : undefined;
    if (!i) throw new ControlError(404, `instance ${JSON.stringify(instanceId)} not found`);
    if (i.terminated)
      throw new ControlError(404, `instance ${instanceId} was terminated (${i.terminated.reason})`);
    return i;
  }

  private isClaimed(gs: GameServer, now: number): boolean {
    return (
      gs.lastClaimTime !== undefined && now < gs.lastClaimTime + this.settingsValue.claimWindowSeconds * 1000
    );
  }

  private gameServerOutput(gs: GameServer, now: number): Record<string, unknown> {
    return {
      GameServerGroupName: gs.group.name,
      GameServerGroupArn: gs.group.arn,
      GameServerId: gs.id,
      InstanceId: gs.instance.id,
      ...(gs.connectionInfo !== undefined ? { ConnectionInfo: gs.connectionInfo } : {}),
      ...(gs.data !== undefined ? { GameServerData: gs.data } : {}),
      ...(this.isClaimed(gs, now) ? { ClaimStatus: 'CLAIMED' } : {}),
      UtilizationStatus: gs.utilization,
      RegistrationTime: toEpochSeconds(gs.registrationTime),
      ...(gs.lastClaimTime !== undefined ? { LastClaimTime: toEpochSeconds(gs.lastClaimTime) } : {}),
      LastHealthCheckTime: toEpochSeconds(gs.lastHealthCheckTime),
    };
  }

  private gameServerView(gs: GameServer, now: number): GameServerView {
    return {
      gameServerId: gs.id,
      groupName: gs.group.name,
      groupArn: gs.group.arn,
      instanceId: gs.instance.id,
      ...(gs.connectionInfo !== undefined ? { connectionInfo: gs.connectionInfo } : {}),
      ...(gs.data !== undefined ? { gameServerData: gs.data } : {}),
      utilizationStatus: gs.utilization,
      ...(this.isClaimed(gs, now) ? { claimStatus: 'CLAIMED' as const } : {}),
      registrationTime: gs.registrationTime,
      ...(gs.lastClaimTime !== undefined ? { lastClaimTime: gs.lastClaimTime } : {}),
      lastHealthCheckTime: gs.lastHealthCheckTime,
    };
  }

  private groupView(g: Group): GroupView {
    return {
      name: g.name,
      arn: g.arn,
      autoScalingGroupArn: g.asgArn,
      roleArn: g.roleArn,
      status: 'ACTIVE',
      protectionPolicy: g.protectionPolicy,
      balancingStrategy: g.balancingStrategy,
      instanceDefinitions: g.instanceDefinitions.map((d) => ({ ...d })),
      creationTime: g.creationTime,
      lastUpdatedTime: g.lastUpdatedTime,
      instanceCount: g.instances.size,
      gameServerCount: g.gameServers.size,
    };
  }

  private instanceView(i: Instance): InstanceView {
    const due = this.terminationDueAt(i);
    return {
      instanceId: i.id,
      groupName: i.group.name,
      groupArn: i.group.arn,
      status: i.status,
      launchTime: i.launchTime,
      statusSince: i.statusSince,
      terminated: i.terminated !== undefined,
      ...(i.terminated ? { terminationTime: i.terminated.time, terminationReason: i.terminated.reason } : {}),
      ...(due !== undefined ? { terminationDueAt: due } : {}),
      gameServerIds: [...i.gameServers],
    };
  }

  private emit(event: FleetIQEvent): void {
    this.recent.push({ ...event, seq: ++this.eventSeq });
    if (this.recent.length > MAX_RECENT_EVENTS) this.recent.shift();
    this.onEvent?.(event);
  }
}

/** Rejects settings that would make the rules meaningless, naming the setting. */
export function checkSettings(s: FleetIQSettings): FleetIQSettings {
  const positive = (name: keyof FleetIQSettings, allowInfinity = false): void => {
    const v = s[name];
    if (typeof v !== 'number' || Number.isNaN(v) || v <= 0 || (!allowInfinity && !Number.isFinite(v))) {
      throw new ControlError(
        400,
        `setting ${name} must be a positive number of seconds, got ${JSON.stringify(v)}`,
      );
    }
  };
  positive('healthCheckTimeoutSeconds', true);
  positive('drainingTerminationDelaySeconds', true);
  positive('spotTerminationSeconds', true);
  positive('claimWindowSeconds');
  if (!Number.isInteger(s.maxPageSize) || s.maxPageSize < 1) {
    throw new ControlError(
      400,
      `setting maxPageSize must be a positive integer, got ${JSON.stringify(s.maxPageSize)}`,
    );
  }
  if (typeof s.replaceTerminatedInstances !== 'boolean') {
    throw new ControlError(400, 'setting replaceTerminatedInstances must be true or false');
  }
  if (typeof s.region !== 'string' || !/^[a-z0-9-]+$/.test(s.region)) {
    throw new ControlError(400, `setting region must look like us-east-1, got ${JSON.stringify(s.region)}`);
  }
  if (typeof s.accountId !== 'string' || !/^\d{12}$/.test(s.accountId)) {
    throw new ControlError(400, `setting accountId must be 12 digits, got ${JSON.stringify(s.accountId)}`);
  }
  return s;
}
