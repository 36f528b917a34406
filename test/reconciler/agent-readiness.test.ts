// Readiness tells the truth about a configuration FleetIQ refuses: an agent pointed at a game server
// group that does not exist fails every registration, and must not answer /readyz ok meanwhile (a bad
// rollout would otherwise look healthy).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fleetiqRefusal } from '../../reconciler/agent.js';
import { instanceIds, startWorld, waitFor, type World } from './agent-support.js';
import { createNode } from '../../sandbox/system/agent-fixtures.js';
import { TEST_KUBE_START_MS } from '../helpers/test-kube.js';

const IDS = instanceIds('r', 2);
let w: World;

beforeAll(async () => {
  w = await startWorld({ instanceIds: IDS });
}, TEST_KUBE_START_MS);
afterAll(async () => {
  await w?.stop();
});

describe('readiness and configuration FleetIQ refuses', () => {
  it('an agent whose game server group does not exist is not ready, and says why', async () => {
    await createNode(w.admin, 'node-nogroup', IDS[0]);
    await w.publisher.publish(IDS[0], 'ACTIVE');
    const agent = await w.startAgent('node-nogroup', { config: { gameServerGroup: 'no-such-group' } });
    await waitFor('the refusal', () =>
      /GAME_SERVER_GROUP "no-such-group": not found/.test(String(agent.ready())),
    );
    const readyz = await fetch(`${agent.opsUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toContain('FleetIQ refuses GAME_SERVER_GROUP "no-such-group": not found');
    expect(w.registered(IDS[0])).toBeUndefined();
  });

  it('the same agent with the right group registers and is ready', async () => {
    await createNode(w.admin, 'node-group', IDS[1]);
    await w.publisher.publish(IDS[1], 'ACTIVE');
    const agent = await w.startAgent('node-group');
    await waitFor('registration', () => w.registered(IDS[1]) !== undefined);
    await waitFor('ready', () => agent.ready() === true);
  });

  it('classifies which FleetIQ failures are about the configuration', () => {
    const err = (name: string) => Object.assign(new Error(`${name} happened`), { name });
    expect(fleetiqRefusal('register', err('NotFoundException'), 'g')).toMatch(
      /GAME_SERVER_GROUP "g": not found/,
    );
    expect(fleetiqRefusal('heartbeat', err('NotFoundException'), 'g')).toBeUndefined();
    expect(fleetiqRefusal('deregister', err('AccessDeniedException'), 'g')).toMatch(/IAM role/);
    expect(fleetiqRefusal('register', err('ThrottlingException'), 'g')).toBeUndefined();
    expect(fleetiqRefusal('register', err('InternalServiceException'), 'g')).toBeUndefined();
  });
});
