// What the node agent's /readyz answers: the first start-up step not done yet, in boot order, then a
// standing FleetIQ refusal; ready only when every step is done and FleetIQ accepts the agent.
import { describe, expect, it } from '@jest/globals';
import { readiness, type ReadinessView } from '../../reconciler/readiness.js';

const ready: ReadinessView = {
  stopping: false,
  nodeName: 'node-a',
  nodeSeen: true,
  instanceId: 'i-0123',
  partsStarted: true,
  podsListed: true,
  membershipStarted: true,
  phase: 'Active',
  fleetiqRefusal: undefined,
};

describe('readiness', () => {
  it('is true once every start-up step is done and FleetIQ refuses nothing', () => {
    expect(readiness(ready)).toBe(true);
  });

  it('names the first step not done yet, in boot order', () => {
    const nothing: ReadinessView = {
      ...ready,
      nodeSeen: false,
      instanceId: undefined,
      partsStarted: false,
      podsListed: false,
      membershipStarted: false,
      fleetiqRefusal: 'GAME_SERVER_GROUP "g": not found',
    };
    const steps: [Partial<ReadinessView>, string | true][] = [
      [{}, 'node node-a not read yet'],
      [{ nodeSeen: true }, 'instance id not known yet'],
      [{ instanceId: 'i-0123' }, 'status source not started'],
      [{ partsStarted: true }, 'pods on the node not listed yet'],
      [{ podsListed: true }, 'FleetIQ membership not started yet'],
      [{ membershipStarted: true }, 'GAME_SERVER_GROUP "g": not found'],
      [{ fleetiqRefusal: undefined }, true],
    ];
    let view = nothing;
    for (const [done, expected] of steps) {
      view = { ...view, ...done };
      expect(readiness(view)).toBe(expected);
    }
  });

  it('is not ready while stopping, whatever else holds', () => {
    expect(readiness({ ...ready, stopping: true })).toBe('stopping');
    expect(readiness({ ...ready, stopping: true, nodeSeen: false })).toBe('stopping');
  });

  it('does not wait for membership on a node already deregistered (it never starts there)', () => {
    expect(readiness({ ...ready, membershipStarted: false, phase: 'Deregistered' })).toBe(true);
    expect(readiness({ ...ready, membershipStarted: false, phase: 'Drained' })).toBe(
      'FleetIQ membership not started yet',
    );
  });

  it('is not ready while FleetIQ refuses the configuration, even when everything runs', () => {
    expect(readiness({ ...ready, fleetiqRefusal: 'AccessDenied: not allowed' })).toBe(
      'AccessDenied: not allowed',
    );
  });
});
