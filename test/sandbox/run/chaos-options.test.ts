// --chaos: parsing (every error names the flag and the item), the schedule, the stranded-node rule and
// the summary lines. Pure; chaos.test.ts injects the faults into a running sandbox.
import { describe, expect, it } from '@jest/globals';
import {
  CHAOS_FAULT_KINDS,
  chaosSchedule,
  describeFault,
  parseChaos,
  strandedNodes,
} from '../../../sandbox/run/chaos.js';
import { Command } from 'commander';
import { registerSandboxCommand, runSandboxCli } from '../../../sandbox/run/cli.js';
import { parseSandboxFlags } from '../../../sandbox/run/options.js';
import { formatChaos, formatSummary, type SandboxReport } from '../../../sandbox/run/report.js';

describe('parseChaos', () => {
  it('reads every fault, outages with a duration, in time order', () => {
    expect(
      parseChaos(
        'imds-spot-notice@3m, redis-down:30s@1m,redis-poison-sequence@90s,replay-status@2m,webhook-down:1m@2m30s,fleetiq-errors:45s@10s,agent-kill@0s',
      ),
    ).toEqual([
      { kind: 'agent-kill', atMs: 0 },
      { kind: 'fleetiq-errors', atMs: 10_000, durationMs: 45_000 },
      { kind: 'redis-down', atMs: 60_000, durationMs: 30_000 },
      { kind: 'redis-poison-sequence', atMs: 90_000 },
      { kind: 'replay-status', atMs: 120_000 },
      { kind: 'webhook-down', atMs: 150_000, durationMs: 60_000 },
      { kind: 'imds-spot-notice', atMs: 180_000 },
    ]);
    expect(CHAOS_FAULT_KINDS).toHaveLength(7);
  });

  it('none or nothing is no fault', () => {
    expect(parseChaos('none')).toEqual([]);
    expect(parseChaos('  ')).toEqual([]);
  });

  it.each([
    ['redis-down@1m', /item 1 "redis-down@1m": redis-down needs a DURATION/],
    ['agent-kill:30s@1m', /agent-kill takes no DURATION/],
    ['agent-kill', /no @TIME/],
    ['agent-kill@soon', /TIME "soon" is not a duration/],
    ['redis-down:0s@1m', /DURATION must be longer than 0/],
    ['redis-down:x@1m', /DURATION "x" is not a duration/],
    ['agent-kill@1m,meteor@2m', /item 2 "meteor@2m": unknown fault; known: redis-down, /],
  ])('refuses %s, naming the flag and the item', (value, why) => {
    expect(() => parseChaos(value)).toThrow(/^invalid configuration --chaos: /);
    expect(() => parseChaos(value)).toThrow(why);
  });

  it('writes a fault back as it is written in a list', () => {
    for (const spec of ['redis-down:30s@1m', 'agent-kill@1m30s', 'fleetiq-errors:2m@0s'])
      expect(describeFault(parseChaos(spec)[0]!)).toBe(spec);
  });
});

describe('--chaos among the sandbox flags', () => {
  it('defaults to no fault and parses the list', () => {
    expect(parseSandboxFlags({}).chaos).toEqual([]);
    expect(parseSandboxFlags({ chaos: 'agent-kill@1m' }).chaos).toEqual([
      { kind: 'agent-kill', atMs: 60_000 },
    ]);
  });

  it('refuses redis-down against a Redis the sandbox does not own, naming the flag and the variable', () => {
    expect(() => parseSandboxFlags({ chaos: 'redis-down:10s@1m', redisUrl: 'localhost:6379' })).toThrow(
      /--chaos: redis-down .* --redis-url \(REDIS_URL\)/,
    );
    expect(parseSandboxFlags({ chaos: 'agent-kill@1m', redisUrl: 'localhost:6379' }).chaos).toHaveLength(1);
  });
});

describe('fleetiq-sandbox --chaos', () => {
  it('exits 2 on an invalid list, naming the flag, before starting anything', async () => {
    const err: string[] = [];
    const stream = { write: (t: string) => err.push(t) } as unknown as NodeJS.WriteStream;
    expect(await runSandboxCli({ chaos: 'meteor@1m' }, { stdout: stream, stderr: stream })).toBe(2);
    expect(err.join('')).toMatch(/^invalid configuration --chaos: item 1 "meteor@1m": unknown fault/);
  });

  it('--help lists the flag and every fault', () => {
    const cmd = registerSandboxCommand(new Command());
    let help = '';
    cmd.configureOutput({ writeOut: (t) => (help += t) });
    cmd.outputHelp();
    expect(help).toContain('--chaos <list>');
    for (const kind of CHAOS_FAULT_KINDS)
      expect(help).toMatch(new RegExp(`^  ${kind}(:DURATION)?@TIME  `, 'm'));
  });
});

describe('chaosSchedule', () => {
  it('orders starts and ends; at the same instant an outage ends before the next starts', () => {
    // Sorted by time: redis-down@1m (0), agent-kill@1m (1), redis-down@1m30s (2).
    const faults = parseChaos('redis-down:30s@1m,redis-down:10s@1m30s,agent-kill@1m');
    expect(chaosSchedule(faults)).toEqual([
      { atMs: 60_000, action: 'start', fault: 0 },
      { atMs: 60_000, action: 'start', fault: 1 },
      { atMs: 90_000, action: 'end', fault: 0 },
      { atMs: 90_000, action: 'start', fault: 2 },
      { atMs: 100_000, action: 'end', fault: 2 },
    ]);
  });
});

describe('strandedNodes', () => {
  const status = (s: Record<string, { status: string; terminated: boolean }>) => (id: string) => s[id];
  const node = (name: string, o: { cordoned?: boolean; tainted?: boolean; leftAt?: number } = {}) => ({
    name,
    instanceId: `i-${name}`,
    cordoned: o.cordoned ?? false,
    tainted: o.tainted ?? false,
    ...(o.leftAt !== undefined ? { leftAt: o.leftAt } : {}),
  });

  it('counts a cordoned or tainted node whose live instance FleetIQ says is ACTIVE, and nothing else', () => {
    const fleetiq = status({
      'i-a': { status: 'ACTIVE', terminated: false },
      'i-b': { status: 'ACTIVE', terminated: false },
      'i-c': { status: 'DRAINING', terminated: false },
      'i-d': { status: 'ACTIVE', terminated: true },
      'i-e': { status: 'ACTIVE', terminated: false },
      'i-f': { status: 'ACTIVE', terminated: false },
    });
    expect(
      strandedNodes(
        [
          node('b', { tainted: true }),
          node('a', { cordoned: true }),
          node('c', { cordoned: true, tainted: true }), // draining: on its way out
          node('d', { cordoned: true }), // instance gone
          node('e'), // schedulable
          node('f', { tainted: true, leftAt: 5 }), // node already left
          node('g', { cordoned: true }), // unknown to FleetIQ
        ],
        fleetiq,
      ),
    ).toEqual(['a', 'b']);
  });

  it('leaves out a node under a Spot notice: its instance is on its way out', () => {
    const fleetiq = status({ 'i-a': { status: 'ACTIVE', terminated: false } });
    expect(strandedNodes([node('a', { tainted: true })], fleetiq, (n) => n === 'a')).toEqual([]);
    expect(strandedNodes([node('a', { tainted: true })], fleetiq, (n) => n === 'b')).toEqual(['a']);
  });
});

describe('the summary', () => {
  it('prints stranded nodes and each injected fault with what it did', () => {
    const lines = formatChaos([
      {
        fault: 'redis-poison-sequence@1m',
        kind: 'redis-poison-sequence',
        atSeconds: 60.4,
        target: 'Redis fleetiq:status-sequence (was 5, set to 1)',
        effect: 'repaired by pubsub after 0.8 s (real)',
        contained: true,
      },
      {
        fault: 'agent-kill@9m',
        kind: 'agent-kill',
        atSeconds: 540,
        skipped: 'the run ended before its time',
      },
    ]);
    expect(lines).toEqual([
      'Chaos:        redis-poison-sequence@1m at 1m00s on Redis fleetiq:status-sequence (was 5, set to 1): repaired by pubsub after 0.8 s (real)',
      '              agent-kill@9m at 9m00s: not injected (the run ended before its time)',
    ]);
    const report = {
      sessions: {
        started: 1,
        completed: 1,
        active: 0,
        lost: 0,
        interruptedBySpotNotice: 0,
        endedGracefullyBySpotNotice: 0,
        lostByReason: {},
        lostSessions: [],
      },
      allocations: { succeeded: 1, failed: 0, unallocated: 0 },
      drains: { started: 0, deregistered: 0, reverted: 0, spotEvictions: 0 },
      instances: { initial: 2, terminated: 0, launched: 0, final: 2 },
      reactionMs: { count: 0, p50: null, p99: null, max: null, byStatus: {} },
      nodes: { stranded: 1, strandedNodes: ['ip-10-0-0-2'] },
      chaos: {
        injected: [{ fault: 'agent-kill@1m', kind: 'agent-kill', atSeconds: 60, target: 'ip-10-0-0-2' }],
      },
      apiCalls: {
        kubernetes: {},
        gamelift: {},
        gameliftByOperation: {},
        webhookAdmissions: { calls: 0, failures: 0, outcomes: {} },
      },
      fleetiq: { statusChanges: {}, spotMarketHits: 0 },
      run: {
        options: {},
        simulatedSeconds: 60,
        realSeconds: 6,
        speed: 10,
        nodesAtEnd: 2,
        process: { cpuSeconds: 1, cpuPercent: 10, maxRssMiB: 100, heapUsedMiB: 50 },
        logFile: 'x.log',
      },
    } satisfies SandboxReport;
    const summary = formatSummary(report);
    expect(summary).toContain(
      'Stranded:     1 node cordoned or tainted while FleetIQ says ACTIVE (ip-10-0-0-2)',
    );
    expect(summary).toContain('Chaos:        agent-kill@1m at 1m00s on ip-10-0-0-2');
  });
});
