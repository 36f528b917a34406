// What the node agent's /readyz answers (and the ready gauge reads): the first start-up step not done
// yet, else a standing refusal from FleetIQ. Pure: the agent passes what it knows.
import type { AgentPhase } from './agent-options.js';

export interface ReadinessView {
  stopping: boolean;
  nodeName: string;
  /** The Node has been read once. */
  nodeSeen: boolean;
  instanceId: string | undefined;
  /** The status source, the Spot notice monitor and FleetIQ membership are built and started. */
  partsStarted: boolean;
  /** The pods on the node are listed: passes run. */
  podsListed: boolean;
  /** FleetIQ membership (registration, health reports) runs. */
  membershipStarted: boolean;
  phase: AgentPhase;
  /** Why FleetIQ refuses the agent's calls (a wrong group name or IAM role), if it does. */
  fleetiqRefusal: string | undefined;
}

/** true, or why the agent is not ready. */
export function readiness(v: ReadinessView): true | string {
  if (v.stopping) return 'stopping';
  if (!v.nodeSeen) return `node ${v.nodeName} not read yet`;
  if (!v.instanceId) return 'instance id not known yet';
  if (!v.partsStarted) return 'status source not started';
  if (!v.podsListed) return 'pods on the node not listed yet';
  // On a node already deregistered (an agent restarted there) membership never starts, on purpose.
  if (!v.membershipStarted && v.phase !== 'Deregistered') return 'FleetIQ membership not started yet';
  // A rollout with a wrong group name or IAM role must not look healthy while every call fails.
  return v.fleetiqRefusal ?? true;
}
