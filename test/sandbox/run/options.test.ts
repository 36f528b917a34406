// The sandbox's flags: defaults, every accepted form, and errors that name the flag.
import { describe, expect, it } from '@jest/globals';
import { SeededRandom } from '../../../sandbox/clock.js';
import {
  DEFAULT_OPTIONS,
  defaultPodsPerNode,
  parseRate,
  parseSandboxFlags,
  parseSessionSeconds,
} from '../../../sandbox/run/options.js';
import {
  describeInterruptions,
  parseInterruptions,
  pickTargets,
} from '../../../sandbox/run/interruptions.js';
import { parseUpgrade } from '../../../sandbox/run/upgrade.js';

describe('parseSandboxFlags', () => {
  it('gives npm start its defaults', () => {
    const o = parseSandboxFlags({});
    expect(o).toEqual({ ...DEFAULT_OPTIONS, podsPerNode: 12 });
    expect(o.nodes * o.podsPerNode).toBeGreaterThanOrEqual(o.fleetReplicas);
    // Simulated time a newcomer waits: 5 minutes of load at speed 10 is 30 s of real time.
    expect(o.durationMs / o.speed).toBe(30_000);
    // The hard case by default: Spot notices on the nodes that hold sessions.
    expect(o.spotTarget).toBe('busiest');
    expect(parseSandboxFlags({ spotTarget: 'random' }).spotTarget).toBe('random');
    // The emulator starts in a second on any machine; the real control plane is a choice.
    expect(o.controlPlane).toBe('emulated');
  });

  it('reads every flag', () => {
    const o = parseSandboxFlags({
      nodes: '10',
      fleetReplicas: '80',
      scheduling: 'Distributed',
      podsPerNode: '9',
      allocationRate: '30/min',
      sessionSeconds: '20-40',
      interruptions: '30s:DRAINING:1,10s:SPOT_TERMINATING:2',
      duration: '2m',
      settle: '30s',
      speed: '50',
      seed: '7',
      failurePolicy: 'Ignore',
      controlPlane: 'real',
      signing: false,
      kubeconfig: '/tmp/kc',
      report: '/tmp/r.json',
      logFile: '/tmp/l.log',
      logLevel: 'warn',
      ui: false,
      redisUrl: '127.0.0.1:6379',
    });
    expect(o).toMatchObject({
      nodes: 10,
      fleetReplicas: 80,
      scheduling: 'Distributed',
      podsPerNode: 9,
      allocationRatePerSecond: 0.5,
      sessionSeconds: { min: 20, max: 40 },
      durationMs: 120_000,
      settleMs: 30_000,
      speed: 50,
      seed: 7,
      failurePolicy: 'Ignore',
      controlPlane: 'real',
      signing: false,
      kubeconfigPath: '/tmp/kc',
      reportPath: '/tmp/r.json',
      logPath: '/tmp/l.log',
      logLevel: 'warn',
      ui: false,
      redisUrl: '127.0.0.1:6379',
    });
    // Script steps are sorted by time.
    expect(o.interruptions).toEqual({
      kind: 'script',
      steps: [
        { atMs: 10_000, status: 'SPOT_TERMINATING', count: 2 },
        { atMs: 30_000, status: 'DRAINING', count: 1 },
      ],
    });
  });

  it.each([
    [{ nodes: '0' }, '--nodes'],
    [{ nodes: 'six' }, '--nodes'],
    [{ nodes: '2.5' }, '--nodes'],
    [{ fleetReplicas: '-1' }, '--fleet-replicas'],
    [{ scheduling: 'packed' }, '--scheduling'],
    [{ podsPerNode: '2' }, '--pods-per-node'],
    [{ allocationRate: 'fast' }, '--allocation-rate'],
    [{ allocationRate: '0' }, '--allocation-rate'],
    [{ allocationRate: '3/fortnight' }, '--allocation-rate'],
    [{ sessionSeconds: '180-60' }, '--session-seconds'],
    [{ sessionSeconds: 'long' }, '--session-seconds'],
    [{ interruptions: '30s:EXPLODING:1' }, '--interruptions'],
    [{ interruptions: 'soon:DRAINING' }, '--interruptions'],
    [{ interruptions: '30s:DRAINING:0' }, '--interruptions'],
    [{ interruptions: '' }, '--interruptions'],
    [{ spotShare: '1.5' }, '--spot-share'],
    [{ spotTarget: 'emptiest' }, '--spot-target'],
    [{ spotShare: '0.5', interruptions: '10s:DRAINING' }, '--spot-share'],
    [{ duration: '5' }, '--duration'],
    [{ duration: '0s' }, '--duration'],
    [{ settle: 'forever' }, '--settle'],
    [{ speed: '0' }, '--speed'],
    [{ speed: '5000' }, '--speed'],
    [{ seed: '-3' }, '--seed'],
    [{ failurePolicy: 'fail' }, '--failure-policy'],
    [{ controlPlane: 'kind' }, '--control-plane'],
    [{ logLevel: 'loud' }, '--log-level'],
    [{ report: ' ' }, '--report'],
  ])('rejects %j naming %s', (flags, flag) => {
    expect(() => parseSandboxFlags(flags)).toThrow(`invalid configuration ${flag}:`);
  });

  it('reads --legacy-nodes and --migrate, and refuses what cannot be', () => {
    expect(parseSandboxFlags({ nodes: '4', legacyNodes: '3', migrate: '1m,20s, 40s' })).toMatchObject({
      legacyNodes: 3,
      migrate: [20_000, 40_000, 60_000],
    });
    expect(parseSandboxFlags({ legacyNodes: '2', migrate: 'none' }).migrate).toEqual([]);
    expect(() => parseSandboxFlags({ nodes: '4', legacyNodes: '5' })).toThrow(/--legacy-nodes/);
    expect(() => parseSandboxFlags({ migrate: '20s' })).toThrow(/--migrate.*--legacy-nodes/);
    expect(() => parseSandboxFlags({ legacyNodes: '1', migrate: '20s,soon' })).toThrow(
      /--migrate.*item 2 "soon"/,
    );
  });

  it('names --fleet-replicas when the default capacity cannot hold them', () => {
    // The default capacity always fits; an explicit --pods-per-node that does not is named.
    expect(() => parseSandboxFlags({ nodes: '2', fleetReplicas: '10', podsPerNode: '4' })).toThrow(
      '--pods-per-node',
    );
    expect(parseSandboxFlags({ nodes: '2', fleetReplicas: '10' }).podsPerNode).toBe(8);
  });

  it('applies --spot-share to a rate', () => {
    expect(parseSandboxFlags({ interruptions: '3/min', spotShare: '0.2' }).interruptions).toEqual({
      kind: 'rate',
      perMinute: 3,
      spotShare: 0.2,
    });
  });

  it('settles at least the longest session plus a minute by default', () => {
    expect(parseSandboxFlags({ sessionSeconds: '600' }).settleMs).toBe(900_000 + 60_000);
  });
});

describe('rates and session lengths', () => {
  it.each([
    ['2', 2],
    ['2/s', 2],
    ['30/min', 0.5],
    ['30/m', 0.5],
    ['360/h', 0.1],
    ['0.5 / sec', 0.5],
  ])('%s is %d per second', (text, perSecond) => {
    expect(parseRate(text, '--x')).toBeCloseTo(perSecond);
  });

  it('allows none only where told', () => {
    expect(parseRate('none', '--x', true)).toBe(0);
    expect(() => parseRate('none', '--x')).toThrow('--x');
  });

  it('reads a mean as ±50 % and a range as given', () => {
    expect(parseSessionSeconds('120')).toEqual({ min: 60, max: 180 });
    expect(parseSessionSeconds('60 - 180')).toEqual({ min: 60, max: 180 });
    expect(parseSessionSeconds('30-30')).toEqual({ min: 30, max: 30 });
  });

  it('sizes nodes for the fleet with room for a drain', () => {
    expect(defaultPodsPerNode(48, 6)).toBe(12);
    expect(defaultPodsPerNode(4000, 200)).toBe(30);
    expect(defaultPodsPerNode(2, 10)).toBe(4);
  });
});

describe('interruptions', () => {
  it('reads a rate, none and a script', () => {
    expect(parseInterruptions('2/min')).toEqual({ kind: 'rate', perMinute: 2, spotShare: 0.5 });
    expect(parseInterruptions('6/h')).toEqual({ kind: 'rate', perMinute: 0.1, spotShare: 0.5 });
    expect(parseInterruptions('none')).toEqual({ kind: 'none' });
    expect(parseInterruptions('1m30s:draining,2m:ACTIVE:3')).toEqual({
      kind: 'script',
      steps: [
        { atMs: 90_000, status: 'DRAINING', count: 1 },
        { atMs: 120_000, status: 'ACTIVE', count: 3 },
      ],
    });
  });

  it('describes itself', () => {
    expect(describeInterruptions(parseInterruptions('2/min'))).toBe('2/min (50% Spot notices)');
    expect(describeInterruptions(parseInterruptions('30s:DRAINING:1'))).toBe('30s:DRAINING:1');
  });

  it('picks distinct targets, reproducibly for a seed, whatever the candidates order', () => {
    const ids = ['i-a', 'i-b', 'i-c', 'i-d'];
    const a = pickTargets(ids, 2, new SeededRandom(3));
    const b = pickTargets([...ids].reverse(), 2, new SeededRandom(3));
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(2);
    expect(pickTargets(ids, 10, new SeededRandom(1)).sort()).toEqual(ids);
    expect(pickTargets([], 1, new SeededRandom(1))).toEqual([]);
  });
});

describe('operator drain requests in --interruptions', () => {
  it('reads DRAIN, DEREGISTER and UNDRAIN steps beside FleetIQ statuses, in time order', () => {
    expect(parseInterruptions('30s:drain:2,10s:DRAINING,1m:UNDRAIN,90s:DEREGISTER:1')).toEqual({
      kind: 'script',
      steps: [
        { atMs: 10_000, status: 'DRAINING', count: 1 },
        { atMs: 30_000, request: 'DRAIN', count: 2 },
        { atMs: 60_000, request: 'UNDRAIN', count: 1 },
        { atMs: 90_000, request: 'DEREGISTER', count: 1 },
      ],
    });
    expect(describeInterruptions(parseInterruptions('30s:DRAIN:2,1m:UNDRAIN'))).toBe(
      '30s:DRAIN:2,60s:UNDRAIN:1',
    );
  });

  it('names the flag and both kinds of step when the second field is neither', () => {
    expect(() => parseInterruptions('30s:CORDON:1')).toThrow(
      /^invalid configuration --interruptions: step 1 "30s:CORDON:1" of "30s:CORDON:1": the second field must be a FleetIQ status \(ACTIVE, DRAINING, SPOT_TERMINATING\) or a drain request \(DRAIN, DEREGISTER, UNDRAIN\)/,
    );
  });
});

describe('--upgrade', () => {
  it('takes the defaults alone, or max-unavailable, at and deregister', () => {
    expect(parseSandboxFlags({}).upgrade).toBeUndefined();
    expect(parseSandboxFlags({ upgrade: true }).upgrade).toEqual({
      maxUnavailable: 1,
      atMs: 0,
      mode: 'drain',
    });
    expect(parseUpgrade('max-unavailable=3,at=1m30s,deregister')).toEqual({
      maxUnavailable: 3,
      atMs: 90_000,
      mode: 'deregister',
    });
    expect(parseSandboxFlags({ upgrade: 'at=30s' }).upgrade).toEqual({
      maxUnavailable: 1,
      atMs: 30_000,
      mode: 'drain',
    });
  });

  it('refuses what it cannot read, naming the flag', () => {
    for (const [value, why] of [
      ['max-unavailable=0', 'max-unavailable must be a whole number >= 1'],
      ['max-unavailable=two', 'max-unavailable must be a whole number >= 1'],
      ['at=30', '"30" is not a duration such as 30s or 2m'],
      ['surge=1', 'unknown setting'],
      ['deregister=yes', 'unknown setting'],
      ['at=1s=2s', 'one = per setting'],
    ] as const)
      expect(() => parseSandboxFlags({ upgrade: value })).toThrow(
        new RegExp(`^invalid configuration --upgrade: "${value}" of "${value}": ${why}`),
      );
  });
});
