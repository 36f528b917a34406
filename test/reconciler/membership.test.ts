import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UpdateGameServerCommand, type GameLiftClient } from '@aws-sdk/client-gamelift';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import type { RegistrationView } from '../../reconciler/decide.js';
import { Membership, gameLiftGameServerApi, nextHealthDelay } from '../../reconciler/membership.js';
import { gameLiftClient, silent, waitFor } from './helpers.js';

const GROUP = 'agones-game-servers';
const IDS = ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2', 'i-0aaaaaaaaaaaaaaa3', 'i-0aaaaaaaaaaaaaaa4'];

let fleetiq: FleetIQEmulator;
let gamelift: GameLiftClient;
const started: Membership[] = [];

beforeAll(async () => {
  fleetiq = await startFleetIQEmulator({ groups: [{ name: GROUP, instanceIds: IDS }], logger: silent });
  gamelift = gameLiftClient(fleetiq.url);
});

afterAll(async () => {
  await Promise.all(started.map((m) => m.stop()));
  gamelift?.destroy();
  await fleetiq?.stop();
});

function membership(instanceId: string, healthIntervalMs = 60_000) {
  const changes: RegistrationView[] = [];
  const m = new Membership({
    api: gameLiftGameServerApi(gamelift, { gameServerGroup: GROUP, instanceId }),
    healthIntervalMs,
    logger: silent,
    onChange: (v) => changes.push(v),
  });
  started.push(m);
  return { m, changes };
}

const inFleetIQ = (instanceId: string) =>
  fleetiq.control.gameServers({ group: GROUP }).find((g) => g.gameServerId === instanceId);

describe('membership against the FleetIQ emulator', () => {
  it('learns at start that FleetIQ does not know it, registers AVAILABLE, and reports health', async () => {
    const id = IDS[0];
    const { m, changes } = membership(id, 50);
    m.start();
    await waitFor('the first report to find nothing', () => m.registration().state === 'absent');
    expect(changes).toEqual([{ state: 'absent' }]);

    await m.execute({ kind: 'register' });
    expect(m.registration()).toEqual({ state: 'registered', utilization: 'AVAILABLE' });
    expect(inFleetIQ(id)).toMatchObject({ instanceId: id, utilizationStatus: 'AVAILABLE' });

    const first = inFleetIQ(id)!.lastHealthCheckTime;
    await waitFor(
      'health reports',
      () => m.stats.healthReports >= 3 && inFleetIQ(id)!.lastHealthCheckTime > first,
    );
    await m.stop();
    expect(m.reporting()).toBe(false);
    expect(inFleetIQ(id)).toBeDefined(); // stopping deregisters nothing
  });

  it('a restarted agent finds its registration (Conflict) and learns its utilization', async () => {
    const id = IDS[1];
    const before = membership(id);
    await before.m.execute({ kind: 'register' });
    await before.m.execute({ kind: 'markUtilized', claim: false });
    expect(inFleetIQ(id)?.utilizationStatus).toBe('UTILIZED');

    const after = membership(id);
    expect(after.m.registration()).toEqual({ state: 'unknown' });
    await after.m.execute({ kind: 'register' });
    expect(after.m.registration()).toEqual({ state: 'registered', utilization: 'UTILIZED' });
    expect(after.m.stats.registrations).toBe(0);
  });

  it('claims then marks UTILIZED in always mode, tolerating an existing claim or utilization', async () => {
    const id = IDS[2];
    const { m } = membership(id);
    await m.execute({ kind: 'register' });
    await m.execute({ kind: 'markUtilized', claim: true });
    expect(inFleetIQ(id)).toMatchObject({ utilizationStatus: 'UTILIZED' });
    expect(inFleetIQ(id)!.lastClaimTime).toBeDefined();
    await m.execute({ kind: 'markUtilized', claim: true }); // ConflictException on the claim: fine
    expect(m.registration()).toEqual({ state: 'registered', utilization: 'UTILIZED' });
  });

  it('becomes AVAILABLE again only by deregistering and registering anew', async () => {
    const id = IDS[2];
    const { m } = membership(id);
    await m.execute({ kind: 'register' }); // Conflict: learns UTILIZED
    expect(m.registration()).toEqual({ state: 'registered', utilization: 'UTILIZED' });
    // What FleetIQ refuses (and why the agent re-registers):
    await expect(
      gamelift.send(
        new UpdateGameServerCommand({
          GameServerGroupName: GROUP,
          GameServerId: id,
          UtilizationStatus: 'AVAILABLE',
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidRequestException' });
    await m.execute({ kind: 'reregisterAvailable' });
    expect(m.registration()).toEqual({ state: 'registered', utilization: 'AVAILABLE' });
    expect(inFleetIQ(id)).toMatchObject({ utilizationStatus: 'AVAILABLE' });
    const events = fleetiq.control.events().filter((e) => 'gameServerId' in e && e.gameServerId === id);
    expect(events.map((e) => e.type).slice(-2)).toEqual([
      'game-server-deregistered',
      'game-server-registered',
    ]);
  });

  it('notices when FleetIQ forgot it, and tells the agent', async () => {
    const id = IDS[3];
    const { m, changes } = membership(id, 30);
    await m.execute({ kind: 'register' });
    m.start();
    await gameLiftGameServerApi(gamelift, { gameServerGroup: GROUP, instanceId: id }).deregister();
    await waitFor('NotFound on a health report', () => m.registration().state === 'absent');
    expect(changes.at(-1)).toEqual({ state: 'absent' });
    expect(m.stats.notFound).toBe(1);
    // Marking a forgotten game server UTILIZED fails and keeps it absent.
    await expect(m.execute({ kind: 'markUtilized', claim: false })).rejects.toMatchObject({
      name: 'NotFoundException',
    });
    expect(m.registration()).toEqual({ state: 'absent' });
    await m.execute({ kind: 'register' });
    expect(m.registration()).toEqual({ state: 'registered', utilization: 'AVAILABLE' });
    await m.stop();
  });

  it('keeps its view through a failing health report and recovers on the next', async () => {
    const id = IDS[0];
    const { m } = membership(id, 30);
    await m.execute({ kind: 'register' });
    const rule = fleetiq.control.addFault({ operation: 'UpdateGameServer', count: 1 });
    m.start();
    await waitFor(
      'a failed then a good report',
      () => m.stats.healthReportFailures === 1 && m.stats.healthReports >= 1,
    );
    expect(fleetiq.control.faults().find((f) => f.id === rule.id)).toBeUndefined();
    expect(m.registration()).toEqual({ state: 'registered', utilization: 'AVAILABLE' });
    await m.stop();
  });

  it('deregisters for good: the game server is gone and health reports stop', async () => {
    const id = IDS[0];
    const { m } = membership(id, 30);
    await m.execute({ kind: 'register' });
    m.start();
    await m.execute({ kind: 'deregister' });
    expect(inFleetIQ(id)).toBeUndefined();
    expect(m.registration()).toEqual({ state: 'absent' });
    expect(m.reporting()).toBe(false);
    m.start(); // a finished membership does not start again
    expect(m.reporting()).toBe(false);
    await m.execute({ kind: 'deregister' }); // NotFound: already done
  });

  it('registers again after deregistration (the instance lived on) and its health reports resume', async () => {
    const id = IDS[3];
    const { m } = membership(id, 30);
    await m.execute({ kind: 'register' });
    m.start();
    await m.execute({ kind: 'deregister' });
    expect(m.reporting()).toBe(false);
    const before = m.stats.healthReports;
    await m.execute({ kind: 'register' });
    expect(inFleetIQ(id)).toMatchObject({ utilizationStatus: 'AVAILABLE' });
    expect(m.reporting()).toBe(true);
    await waitFor('health reports again', () => m.stats.healthReports >= before + 2);
    await m.stop();
  });
});

describe('nextHealthDelay', () => {
  it('jitters ±20% and never waits more than 60 s', () => {
    expect(nextHealthDelay(30_000, 0)).toBe(24_000);
    expect(nextHealthDelay(30_000, 0.5)).toBe(30_000);
    expect(nextHealthDelay(30_000, 0.999999)).toBe(36_000);
    expect(nextHealthDelay(50_000, 0.999999)).toBe(60_000);
  });
});
