import { createHmac, timingSafeEqual } from 'node:crypto';
import { FLEETIQ_STATUSES, type InstanceStatus } from './contract.js';
import { parseJsonObject } from './json-object.js';

/**
 * The message pubsub publishes on the Redis channel named after each instance id, and stores under
 * the latest-status key. The first four fields are the first seed's, so its daemon still understands
 * it; the rest let an agent order messages, tell a stale one, and (with a shared secret) trust it.
 */
export interface StatusMessage {
  GameServerGroupName: string;
  GameServerGroupArn: string;
  InstanceId: string;
  InstanceStatus: InstanceStatus;
  /** When pubsub observed this status in FleetIQ (ISO 8601). */
  ObservedAt: string;
  /** Per-instance sequence, increasing with every publication for that instance. */
  Sequence: number;
  /** HMAC-SHA256 (hex) of the canonical form of the other fields, when signing is on. */
  Signature?: string;
}

/** Redis key holding the latest status message of an instance. */
export function latestStatusKey(instanceId: string): string {
  return `fleetiq:instance-status:${instanceId}`;
}

/** Redis channel carrying an instance's status messages: the instance id itself (first seed). */
export function statusChannel(instanceId: string): string {
  return instanceId;
}

const SIGNED_FIELDS = [
  'GameServerGroupName',
  'GameServerGroupArn',
  'InstanceId',
  'InstanceStatus',
  'ObservedAt',
  'Sequence',
] as const;

/** The exact bytes that are signed: the signed fields in a fixed order, so key order never matters. */
function canonical(message: Omit<StatusMessage, 'Signature'>): string {
  return JSON.stringify(SIGNED_FIELDS.map((f) => message[f]));
}

export function signStatusMessage(message: Omit<StatusMessage, 'Signature'>, secret: string): StatusMessage {
  const Signature = createHmac('sha256', secret).update(canonical(message)).digest('hex');
  return { ...message, Signature };
}

export type ParseResult = { ok: true; message: StatusMessage } | { ok: false; error: string };

/**
 * Parses a message from Redis. Anything a peer sends is untrusted: malformed JSON, missing fields,
 * unknown statuses and (when a secret is given) unsigned or wrongly signed messages are rejected
 * with a reason, never thrown.
 */
export function parseStatusMessage(raw: string, secret?: string): ParseResult {
  const parsed = parseJsonObject(raw);
  if (!parsed.ok) return parsed;
  const value: any = parsed.value;
  for (const f of ['GameServerGroupName', 'GameServerGroupArn', 'InstanceId', 'ObservedAt'] as const) {
    if (typeof value[f] !== 'string' || value[f] === '')
      return { ok: false, error: `missing or invalid ${f}` };
  }
  if (!FLEETIQ_STATUSES.includes(value.InstanceStatus)) {
    return { ok: false, error: `unknown InstanceStatus ${JSON.stringify(value.InstanceStatus)}` };
  }
  if (!Number.isSafeInteger(value.Sequence) || value.Sequence < 0)
    return { ok: false, error: 'missing or invalid Sequence' };
  if (Number.isNaN(Date.parse(value.ObservedAt))) return { ok: false, error: 'invalid ObservedAt' };
  const message: StatusMessage = {
    GameServerGroupName: value.GameServerGroupName,
    GameServerGroupArn: value.GameServerGroupArn,
    InstanceId: value.InstanceId,
    InstanceStatus: value.InstanceStatus,
    ObservedAt: value.ObservedAt,
    Sequence: value.Sequence,
  };
  if (secret !== undefined) {
    if (typeof value.Signature !== 'string') return { ok: false, error: 'unsigned message (signing is on)' };
    const expected = Buffer.from(signStatusMessage(message, secret).Signature!, 'hex');
    const given = Buffer.from(value.Signature, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, error: 'bad signature' };
    }
    message.Signature = value.Signature;
  }
  return { ok: true, message };
}

/**
 * The old Python adapter's message: its four fields only. Its pubsub publishes this on the same
 * channel; it carries no observation time, no sequence and no signature, so nothing says when FleetIQ
 * said it, whether it came before or after another message, or who sent it.
 */
export interface LegacyStatusMessage {
  GameServerGroupName?: string;
  GameServerGroupArn?: string;
  InstanceId: string;
  InstanceStatus: InstanceStatus;
}

export type LegacyParseResult = { ok: true; message: LegacyStatusMessage } | { ok: false; error: string };

/**
 * Parses a message in the old adapter's format: an object with InstanceId, a known InstanceStatus and
 * the group's name or ARN, and none of ObservedAt, Sequence or Signature (a message carrying any of
 * them claims to be ours and is judged by parseStatusMessage alone). Never throws.
 */
export function parseLegacyStatusMessage(raw: string): LegacyParseResult {
  const parsed = parseJsonObject(raw);
  if (!parsed.ok) return parsed;
  const value: any = parsed.value;
  for (const f of ['ObservedAt', 'Sequence', 'Signature'])
    if (f in value) return { ok: false, error: `has ${f}: not the old format` };
  if (typeof value.InstanceId !== 'string' || value.InstanceId === '')
    return { ok: false, error: 'missing or invalid InstanceId' };
  if (!FLEETIQ_STATUSES.includes(value.InstanceStatus))
    return { ok: false, error: `unknown InstanceStatus ${JSON.stringify(value.InstanceStatus)}` };
  const name = typeof value.GameServerGroupName === 'string' && value.GameServerGroupName !== '';
  const arn = typeof value.GameServerGroupArn === 'string' && value.GameServerGroupArn !== '';
  if (!name && !arn) return { ok: false, error: 'missing GameServerGroupName and GameServerGroupArn' };
  return {
    ok: true,
    message: {
      ...(name ? { GameServerGroupName: value.GameServerGroupName } : {}),
      ...(arn ? { GameServerGroupArn: value.GameServerGroupArn } : {}),
      InstanceId: value.InstanceId,
      InstanceStatus: value.InstanceStatus,
    },
  };
}
