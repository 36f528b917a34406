import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UpdateGameServerCommand, type GameLiftClient } from '@aws-sdk/client-gamelift';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import type { RegistrationView } from '../../reconciler/decide.js';
import {
  Membership,
  MembershipSteps,
  gameLiftGameServerApi,
  nextHealthDelay,
} from '../../reconciler/membership.js';
import type { MembershipAction } from '../../reconciler/decide.js';
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

describe('MembershipSteps', () => {
  /** Steps over a fake membership whose calls the test settles by hand, on a clock it moves. */
  function steps() {
    let now = 1_000;
    const pending: { action: MembershipAction; settle: (err?: Error) => void }[] = [];
    const results: string[] = [];
    const events: [string, string][] = [];
    let settled = 0;
    const s = new MembershipSteps({
      membership: {
        execute: (action) =>
          new Promise<void>((resolve, reject) =>
            pending.push({
              action: action as MembershipAction,
              settle: (err) => (err ? reject(err) : resolve()),
            }),
          ),
      },
      gameServerGroup: 'g',
      backoff: { initialMs: 100, maxMs: 400 },
      logger: silent,
      now: () => now,
      random: () => 1,
      onResult: (action, err) => results.push(`${action.kind} ${err ? (err as Error).name : 'ok'}`),
      onFailureEvent: (reason, message) => events.push([reason, message]),
      onSettled: () => settled++,
    });
    const tick = () => new Promise((r) => setImmediate(r));
    return { s, pending, results, events, settledCount: () => settled, at: (t: number) => (now = t), tick };
  }
  const err = (name: string) => Object.assign(new Error(`${name} says no`), { name });

  it('never starts the same step twice at once; different steps run side by side', async () => {
    const t = steps();
    expect(t.s.dispatch([{ kind: 'register' }])).toBeUndefined();
    expect(t.s.dispatch([{ kind: 'register' }, { kind: 'markUtilized', claim: false }])).toBeUndefined();
    expect(t.pending.map((p) => p.action.kind)).toEqual(['register', 'markUtilized']);
    t.pending[0].settle();
    await t.tick();
    expect(t.results).toEqual(['register ok']);
    expect(t.settledCount()).toBe(1);
    t.s.dispatch([{ kind: 'register' }]);
    expect(t.pending).toHaveLength(3);
  });

  it('backs a failing step off (doubling), says when it may run again, and raises its Warning', async () => {
    const t = steps();
    t.s.dispatch([{ kind: 'register' }]);
    t.pending[0].settle(err('InternalServiceException'));
    await t.tick();
    expect(t.results).toEqual(['register InternalServiceException']);
    expect(t.events).toEqual([['RegisterFailed', 'register failed: InternalServiceException says no']]);
    expect(t.settledCount()).toBe(1);
    // Backing off until 1,100: not started, and the caller learns how long is left.
    t.at(1_040);
    expect(t.s.dispatch([{ kind: 'register' }])).toBe(60);
    expect(t.pending).toHaveLength(1);
    t.at(1_100);
    expect(t.s.dispatch([{ kind: 'register' }])).toBeUndefined();
    expect(t.pending).toHaveLength(2);
    t.pending[1].settle(err('InternalServiceException'));
    await t.tick();
    expect(t.s.dispatch([{ kind: 'register' }])).toBe(200);
  });

  it('keeps "FleetIQ refuses the configuration" for readiness until a step succeeds', async () => {
    const t = steps();
    t.s.dispatch([{ kind: 'register' }]);
    t.pending[0].settle(err('NotFoundException'));
    await t.tick();
    expect(t.s.refusal()).toMatch(/GAME_SERVER_GROUP "g": not found/);
    t.s.dispatch([{ kind: 'markUtilized', claim: true }]);
    t.pending[1].settle();
    await t.tick();
    expect(t.s.refusal()).toBeUndefined();
  });

  it('tells markUtilized with and without a claim apart', () => {
    const t = steps();
    t.s.dispatch([{ kind: 'markUtilized', claim: true }]);
    t.s.dispatch([{ kind: 'markUtilized', claim: false }]);
    expect(t.pending).toHaveLength(2);
  });
});
