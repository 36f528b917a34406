// Agones' own names, as agones.dev/v1 spells them (Agones' API reference). The components read
// them and the simulated cluster writes them; they are Agones', not ours, so they live in one place.

/** Every GameServer `status.state`, in lifecycle order. */
export const GAME_SERVER_STATES = [
  'PortAllocation',
  'Creating',
  'Starting',
  'Scheduled',
  'RequestReady',
  'Ready',
  'Reserved',
  'Allocated',
  'Shutdown',
  'Error',
  'Unhealthy',
] as const;
export type GameServerState = (typeof GAME_SERVER_STATES)[number];

/** States a GameServer never leaves: Agones deletes it from there. */
export const TERMINAL_GAME_SERVER_STATES: readonly GameServerState[] = ['Shutdown', 'Error', 'Unhealthy'];
