// The node agent's parts that run beside the pass, once its instance id is known: the status source
// (Redis, FleetIQ fallback), the Spot notice monitor (when polled) and FleetIQ membership with its
// background steps. Built and started together, stopped together within a grace period.
import type { GameLiftClient } from '@aws-sdk/client-gamelift';
import type { RedisOptions } from 'ioredis';
import type { BackoffPolicy } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';
import { errorText } from '../shared/scoped-informer.js';
import { settledWithin } from '../shared/timeout.js';
import type { ReconcilerConfig } from './config.js';
import type { MembershipAction } from './decide.js';
import { Membership, MembershipSteps, gameLiftGameServerApi } from './membership.js';
import { SpotNoticeMonitor } from './spot-notice.js';
import { RedisStatusSource, fleetIQInstanceStatusLookup } from './status-source.js';

export interface AgentParts {
  statusSource: RedisStatusSource;
  /** Only when the Spot notice is polled (config.spotNoticePollIntervalMs > 0). */
  spotNotice?: SpotNoticeMonitor;
  membership: Membership;
  membershipSteps: MembershipSteps;
}

export interface AgentPartsOptions {
  config: ReconcilerConfig;
  instanceId: string;
  gamelift: GameLiftClient;
  membershipBackoff: BackoffPolicy;
  redisOptions?: Partial<RedisOptions>;
  logger: Logger;
  now: () => number;
  random: () => number;
  /** What a part observes changed (status, notice, registration): a pass is due. */
  onChange: () => void;
  /** Each FleetIQ membership step's result, for metrics (err: a failure). */
  onMembershipResult: (action: MembershipAction, err?: unknown) => void;
  /** A Warning Event for a failed membership step. */
  onFailureEvent: (reason: string, message: string) => void;
}

/**
 * Builds the parts and starts the status source and the Spot notice monitor. Membership's health
 * reports start later, when decide() says so (a deregistered node never starts them).
 */
export function startAgentParts(o: AgentPartsOptions): AgentParts {
  const { config, instanceId, gamelift, logger, now, random, onChange } = o;
  const statusSource = new RedisStatusSource({
    instanceId,
    gameServerGroup: config.gameServerGroup,
    redis: config.redis,
    ...(config.statusSigningSecret ? { signingSecret: config.statusSigningSecret } : {}),
    staleAfterMs: config.decide.statusStaleAfterMs,
    fallback: {
      lookup: fleetIQInstanceStatusLookup(gamelift, config.gameServerGroup, instanceId),
      intervalMs: config.fleetiqFallbackIntervalMs,
    },
    onStatus: onChange,
    onStale: onChange,
    logger,
    now,
    random,
    ...(o.redisOptions ? { redisOptions: o.redisOptions } : {}),
  });
  statusSource.start();
  let spotNotice: SpotNoticeMonitor | undefined;
  if (config.spotNoticePollIntervalMs > 0) {
    spotNotice = new SpotNoticeMonitor({
      endpoint: config.imdsEndpoint,
      timeoutMs: config.imdsTimeoutMs,
      intervalMs: config.spotNoticePollIntervalMs,
      onChange,
      onRebalanceChange: onChange,
      logger,
      now,
    });
    spotNotice.start();
  }
  const membership = new Membership({
    api: gameLiftGameServerApi(gamelift, { gameServerGroup: config.gameServerGroup, instanceId }),
    healthIntervalMs: config.healthIntervalMs,
    logger,
    onChange,
    random,
  });
  const membershipSteps = new MembershipSteps({
    membership,
    gameServerGroup: config.gameServerGroup,
    backoff: o.membershipBackoff,
    logger,
    now,
    random,
    onResult: o.onMembershipResult,
    onFailureEvent: o.onFailureEvent,
    onSettled: onChange,
  });
  return { statusSource, ...(spotNotice ? { spotNotice } : {}), membership, membershipSteps };
}

/**
 * Stops the parts (none deregisters anything). None may hold the exit up: a FleetIQ call or a Redis
 * close still in flight after graceMs is abandoned.
 */
export async function stopAgentParts(
  parts: AgentParts | undefined,
  graceMs: number,
  logger: Logger,
): Promise<void> {
  if (!parts) return;
  await settledWithin(
    Promise.all([parts.statusSource.stop(), parts.spotNotice?.stop(), parts.membership.stop()]).catch(
      (err: unknown) => logger.warn({ err: errorText(err) }, 'reconciler: stopping a part failed'),
    ),
    graceMs,
  );
}
