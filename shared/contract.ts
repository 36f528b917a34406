// Names shared across components. They are a contract with users and with each other
// (the README lists them): change them only with a documented migration. What the drain names mean,
// when a toleration counts, the patch that adds it and the node agent's labels and annotations on the
// Node are the drain contract, ./drain-contract.ts (docs/drain-contract.md).

export const DRAIN_TAINT_KEY = 'gamelift.status/draining';
export const DRAIN_TAINT_VALUE = 'true';
export const DRAIN_TAINT_EFFECT = 'NoExecute';

export const DRAIN_TAINT = {
  key: DRAIN_TAINT_KEY,
  value: DRAIN_TAINT_VALUE,
  effect: DRAIN_TAINT_EFFECT,
} as const;
export const DRAIN_TOLERATION = {
  key: DRAIN_TAINT_KEY,
  operator: 'Equal',
  value: DRAIN_TAINT_VALUE,
  effect: DRAIN_TAINT_EFFECT,
} as const;

/** Node label: the instance's FleetIQ status as the agent last saw it. */
export const INSTANCE_STATUS_LABEL = 'gamelift.status/instance-status';
/** GameServer annotation set by the webhook once the pod tolerates the drain taint. */
export const DRAIN_TOLERATION_ANNOTATION = 'gamelift.status/drain-toleration';
/**
 * The old Python adapter's daemon taints its node `gamelift.status/active=true:NoExecute` when it
 * starts. The node agent removes a taint with this key (and may only remove it, never add one: the
 * installation's admission policy says so) once it runs on the node: see docs/migration.md.
 */
export const LEGACY_ACTIVE_TAINT_KEY = 'gamelift.status/active';
/** Label carried by game server nodes (the old Python adapter's convention). */
export const GAME_SERVER_NODE_LABEL = { key: 'role', value: 'game-servers' } as const;

export const FLEETIQ_STATUSES = ['ACTIVE', 'DRAINING', 'SPOT_TERMINATING'] as const;
export type InstanceStatus = (typeof FLEETIQ_STATUSES)[number];
