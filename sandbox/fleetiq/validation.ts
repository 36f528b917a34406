/**
 * Input constraints of the FleetIQ operations, as the GameLift API reference states them. The SDK
 * validates nothing client-side, so everything it forwards is checked here. Pure functions.
 *
 * A member of the wrong JSON type is a SerializationException (the service cannot even read it);
 * a readable value that breaks a constraint, or a missing required member, is an
 * InvalidRequestException listing every violation in AWS's "N validation errors detected" style.
 */
import { FleetIQError, type FleetIQOperation } from './protocol.js';

export const INSTANCE_STATUSES = ['ACTIVE', 'DRAINING', 'SPOT_TERMINATING'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];
export const FILTER_INSTANCE_STATUSES = ['ACTIVE', 'DRAINING'] as const;
export type FilterInstanceStatus = (typeof FILTER_INSTANCE_STATUSES)[number];
export const UTILIZATION_STATUSES = ['AVAILABLE', 'UTILIZED'] as const;
export type UtilizationStatus = (typeof UTILIZATION_STATUSES)[number];
export const PROTECTION_POLICIES = ['NO_PROTECTION', 'FULL_PROTECTION'] as const;
export type ProtectionPolicy = (typeof PROTECTION_POLICIES)[number];
export const BALANCING_STRATEGIES = ['SPOT_ONLY', 'SPOT_PREFERRED', 'ON_DEMAND_ONLY'] as const;
export type BalancingStrategy = (typeof BALANCING_STRATEGIES)[number];
export const SORT_ORDERS = ['ASCENDING', 'DESCENDING'] as const;
export type SortOrder = (typeof SORT_ORDERS)[number];

export const GROUP_NAME_PATTERN = /^[a-zA-Z0-9\-.]+$/;
export const GROUP_ARN_PATTERN = /^arn:.*:gameservergroup\/[a-zA-Z0-9\-.]+$/;
export const GAME_SERVER_ID_PATTERN = /^[a-zA-Z0-9\-.]+$/;
export const INSTANCE_ID_PATTERN = /^i-[0-9a-zA-Z]{17}$/;
export const MAX_INSTANCE_IDS = 20;

export interface RegisterGameServerInput {
  GameServerGroupName: string;
  GameServerId: string;
  InstanceId: string;
  ConnectionInfo?: string;
  GameServerData?: string;
}
export interface DeregisterGameServerInput {
  GameServerGroupName: string;
  GameServerId: string;
}
export interface ClaimGameServerInput {
  GameServerGroupName: string;
  GameServerId?: string;
  GameServerData?: string;
  FilterOption?: { InstanceStatuses?: FilterInstanceStatus[] };
}
export interface UpdateGameServerInput {
  GameServerGroupName: string;
  GameServerId: string;
  GameServerData?: string;
  UtilizationStatus?: UtilizationStatus;
  HealthCheck?: 'HEALTHY';
}
export interface DescribeGameServerInput {
  GameServerGroupName: string;
  GameServerId: string;
}
export interface ListGameServersInput {
  GameServerGroupName: string;
  SortOrder?: SortOrder;
  Limit?: number;
  NextToken?: string;
}
export interface DescribeGameServerInstancesInput {
  GameServerGroupName: string;
  InstanceIds?: string[];
  Limit?: number;
  NextToken?: string;
}
export interface DescribeGameServerGroupInput {
  GameServerGroupName: string;
}

export interface OperationInputs {
  RegisterGameServer: RegisterGameServerInput;
  DeregisterGameServer: DeregisterGameServerInput;
  ClaimGameServer: ClaimGameServerInput;
  UpdateGameServer: UpdateGameServerInput;
  DescribeGameServer: DescribeGameServerInput;
  ListGameServers: ListGameServersInput;
  DescribeGameServerInstances: DescribeGameServerInstancesInput;
  DescribeGameServerGroup: DescribeGameServerGroupInput;
}

/** Validates the JSON input of `operation`; returns it typed or throws FleetIQError. */
export function validateInput<O extends FleetIQOperation>(
  operation: O,
  raw: Record<string, unknown>,
): OperationInputs[O] {
  const v = new Checker(raw);
  const out: Record<string, unknown> = { GameServerGroupName: v.groupName('GameServerGroupName') };
  switch (operation) {
    case 'RegisterGameServer':
      out.GameServerId = v.gameServerId('GameServerId', true);
      out.InstanceId = v.string('InstanceId', {
        required: true,
        pattern: INSTANCE_ID_PATTERN,
        min: 19,
        max: 19,
      });
      out.ConnectionInfo = v.string('ConnectionInfo', { min: 1, max: 512 });
      out.GameServerData = v.string('GameServerData', { min: 1, max: 1024 });
      break;
    case 'DeregisterGameServer':
    case 'DescribeGameServer':
      out.GameServerId = v.gameServerId('GameServerId', true);
      break;
    case 'ClaimGameServer':
      out.GameServerId = v.gameServerId('GameServerId', false);
      out.GameServerData = v.string('GameServerData', { min: 1, max: 1024 });
      out.FilterOption = v.filterOption('FilterOption');
      break;
    case 'UpdateGameServer':
      out.GameServerId = v.gameServerId('GameServerId', true);
      out.GameServerData = v.string('GameServerData', { min: 1, max: 1024 });
      out.UtilizationStatus = v.enumeration('UtilizationStatus', UTILIZATION_STATUSES);
      out.HealthCheck = v.enumeration('HealthCheck', ['HEALTHY'] as const);
      break;
    case 'ListGameServers':
      out.SortOrder = v.enumeration('SortOrder', SORT_ORDERS);
      out.Limit = v.positiveInteger('Limit');
      out.NextToken = v.string('NextToken', { min: 1, max: 1024 });
      break;
    case 'DescribeGameServerInstances':
      out.InstanceIds = v.instanceIds('InstanceIds');
      out.Limit = v.positiveInteger('Limit');
      out.NextToken = v.string('NextToken', { min: 1, max: 1024 });
      break;
    case 'DescribeGameServerGroup':
      break;
  }
  v.throwIfInvalid();
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as unknown as OperationInputs[O];
}

/** Is `value` a game server group name or ARN the API accepts (pattern and 1–256 characters)? */
export function isGroupNameOrArn(value: string): boolean {
  return (
    value.length >= 1 &&
    value.length <= 256 &&
    (GROUP_NAME_PATTERN.test(value) || GROUP_ARN_PATTERN.test(value))
  );
}

/** Is `value` a valid plain group name (what CreateGameServerGroup would accept: 1–128 characters)? */
export function isGroupName(value: string): boolean {
  return value.length >= 1 && value.length <= 128 && GROUP_NAME_PATTERN.test(value);
}

/** Collects constraint violations of one request so they are reported together, as AWS does. */
class Checker {
  private readonly violations: string[] = [];
  constructor(private readonly raw: Record<string, unknown>) {}

  throwIfInvalid(): void {
    const n = this.violations.length;
    if (n === 0) return;
    throw new FleetIQError(
      'InvalidRequestException',
      `${n} validation error${n === 1 ? '' : 's'} detected: ${this.violations.join('; ')}`,
    );
  }

  private present(field: string): boolean {
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }

  private missing(field: string): undefined {
    this.violations.push(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }

  private violation(field: string, value: unknown, constraint: string): void {
    this.violations.push(
      `Value ${show(value)} at '${field}' failed to satisfy constraint: Member must ${constraint}`,
    );
  }

  string(
    field: string,
    rule: { required?: boolean; min?: number; max?: number; pattern?: RegExp },
  ): string | undefined {
    if (!this.present(field)) return rule.required ? this.missing(field) : undefined;
    const value = this.raw[field];
    if (typeof value !== 'string') throw typeError(field, 'a string', value);
    const length = [...value].length;
    if (rule.min !== undefined && length < rule.min) {
      this.violation(field, value, `have length greater than or equal to ${rule.min}`);
    } else if (rule.max !== undefined && length > rule.max) {
      this.violation(field, value, `have length less than or equal to ${rule.max}`);
    } else if (rule.pattern && !rule.pattern.test(value)) {
      this.violation(field, value, `satisfy regular expression pattern: ${rule.pattern.source}`);
    }
    return value;
  }

  groupName(field: string): string | undefined {
    const value = this.string(field, { required: true, min: 1, max: 256 });
    if (value !== undefined && value.length >= 1 && value.length <= 256 && !isGroupNameOrArn(value)) {
      this.violation(
        field,
        value,
        `be a game server group name matching ${GROUP_NAME_PATTERN.source} or an ARN matching ${GROUP_ARN_PATTERN.source}`,
      );
    }
    return value;
  }

  gameServerId(field: string, required: boolean): string | undefined {
    return this.string(field, { required, min: 3, max: 128, pattern: GAME_SERVER_ID_PATTERN });
  }

  positiveInteger(field: string): number | undefined {
    if (!this.present(field)) return undefined;
    const value = this.raw[field];
    if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(field, 'an integer', value);
    if (value < 1) this.violation(field, value, 'have value greater than or equal to 1');
    return value;
  }

  enumeration<T extends string>(field: string, allowed: readonly T[]): T | undefined {
    if (!this.present(field)) return undefined;
    const value = this.raw[field];
    if (typeof value !== 'string') throw typeError(field, 'a string', value);
    if (!(allowed as readonly string[]).includes(value)) {
      this.violation(field, value, `satisfy enum value set: [${allowed.join(', ')}]`);
    }
    return value as T;
  }

  instanceIds(field: string): string[] | undefined {
    if (!this.present(field)) return undefined;
    const value = this.raw[field];
    if (!Array.isArray(value)) throw typeError(field, 'a list', value);
    if (value.length < 1 || value.length > MAX_INSTANCE_IDS) {
      this.violation(field, `[${value.length} items]`, `have length between 1 and ${MAX_INSTANCE_IDS}`);
    }
    value.forEach((id, i) => {
      if (typeof id !== 'string') throw typeError(`${field}.${i + 1}`, 'a string', id);
      if (!INSTANCE_ID_PATTERN.test(id)) {
        this.violation(
          `${field}.${i + 1}`,
          id,
          `satisfy regular expression pattern: ${INSTANCE_ID_PATTERN.source}`,
        );
      }
    });
    return value as string[];
  }

  filterOption(field: string): ClaimGameServerInput['FilterOption'] {
    if (!this.present(field)) return undefined;
    const value = this.raw[field];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw typeError(field, 'a structure', value);
    }
    const statuses = (value as Record<string, unknown>).InstanceStatuses;
    if (statuses === undefined || statuses === null) return {};
    const name = `${field}.InstanceStatuses`;
    if (!Array.isArray(statuses)) throw typeError(name, 'a list', statuses);
    statuses.forEach((s, i) => {
      if (typeof s !== 'string') throw typeError(`${name}.${i + 1}`, 'a string', s);
      if (!(FILTER_INSTANCE_STATUSES as readonly string[]).includes(s)) {
        this.violation(
          `${name}.${i + 1}`,
          s,
          `satisfy enum value set: [${FILTER_INSTANCE_STATUSES.join(', ')}]`,
        );
      }
    });
    // ClaimGameServer's own rule: a filter must keep ACTIVE instances eligible.
    if (!statuses.includes('ACTIVE')) {
      this.violations.push(
        `${name} must include ACTIVE when a filter is given (got [${statuses.join(', ')}])`,
      );
    }
    return { InstanceStatuses: statuses as FilterInstanceStatus[] };
  }
}

function typeError(field: string, expected: string, value: unknown): FleetIQError {
  const got = value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`;
  return new FleetIQError('SerializationException', `'${field}' must be ${expected}, got ${got}`);
}

function show(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return `'${s.length > 64 ? `${s.slice(0, 64)}...` : s}'`;
}
