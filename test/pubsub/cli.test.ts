// The `fleetiq-agones pubsub` process as a Deployment runs it: configuration from the file and the
// environment (AWS_ENDPOINT_URL_GAMELIFT through the SDK's own chain), exit codes, SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { startFleetIQEmulator, type FleetIQEmulator } from '../../sandbox/fleetiq/emulator.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { ConfigFile, latest, silent, waitFor } from './helpers.js';
import { runCli } from '../helpers/cli.js';

let fleetiq: FleetIQEmulator;
let redisServer: RedisServer;
let redis: Redis;

beforeAll(async () => {
  fleetiq = await startFleetIQEmulator({
    logger: silent,
    seed: 9,
    groups: [{ name: 'agones-game-servers', instances: 2 }],
  });
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
});
afterAll(async () => {
  redis?.disconnect();
  await redisServer?.stop();
  await fleetiq?.stop();
});

const run = (args: string[], env: Record<string, string>) =>
  runCli(['pubsub', ...args], { env, cleanEnv: true });

describe('fleetiq-agones pubsub', () => {
  it('runs from the seed ConfigMap content and env, and shuts down cleanly on SIGTERM', async () => {
    const config = new ConfigFile({ GameServerGroups: ['agones-game-servers'], PollIntervalSeconds: 0.2 });
    const port = await freePort();
    const proc = run(['--config', config.path, '--no-leader-elect', '--ops-listen', `127.0.0.1:${port}`], {
      REDIS_URL: `127.0.0.1:${redisServer.port}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'dummy-secret',
      AWS_ENDPOINT_URL_GAMELIFT: fleetiq.url,
    });
    try {
      for (const { instanceId } of fleetiq.control.instances({ group: 'agones-game-servers' })) {
        await waitFor(
          `status of ${instanceId}`,
          async () => (await latest(redis, instanceId)) !== undefined,
          20_000,
        );
      }
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      proc.child.kill('SIGTERM');
      expect(await proc.exit).toBe(0);
      const logs = proc
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      expect(logs.map((l) => l.msg)).toEqual(
        expect.arrayContaining(['pubsub: started', 'pubsub: shutting down', 'pubsub: stopped']),
      );
      expect(logs.every((l) => l.component === 'pubsub')).toBe(true);
      // No signing key here: said at start, and loudly.
      expect(logs.find((l) => l.msg === 'pubsub: started')?.signing).toBe('off');
      expect(logs.find((l) => /STATUS SIGNING IS OFF/.test(l.msg))?.level).toBe(40);
    } finally {
      proc.child.kill('SIGKILL');
      config.remove();
    }
  });

  it('exits non-zero at start on an invalid configuration, naming the setting', async () => {
    const config = new ConfigFile({ GameServerGroups: ['agones-game-servers'], RepublishSeconds: 0 });
    try {
      // Both at once: each process takes a few seconds to load.
      const invalid = run(['--config', config.path], { REDIS_URL: 'redis:6379', AWS_REGION: 'us-east-1' });
      const missing = run(['--config', config.path.replace('fleetiq.conf', 'missing.conf')], {
        REDIS_URL: 'redis:6379',
        AWS_REGION: 'us-east-1',
      });
      // 2: invalid configuration (README.md, "Exit codes"; 1 is the sandbox's "a session was lost").
      expect(await invalid.exit).toBe(2);
      expect(invalid.output()).toMatch(/RepublishSeconds: Invalid value: 0: must be > 0/);
      expect(await missing.exit).toBe(2);
      expect(missing.output()).toMatch(/missing\.conf.*ENOENT/);
    } finally {
      config.remove();
    }
  });

  it('never prints a REDIS_URL password, in any form, when it refuses REDIS_URL', async () => {
    const config = new ConfigFile({ GameServerGroups: ['agones-game-servers'] });
    try {
      const forms = ['redis://S3cr3tP4ss@host:notaport', 'user:S3cr3tP4ss@host:6379'];
      const procs = forms.map((REDIS_URL) =>
        run(['--config', config.path], { REDIS_URL, AWS_REGION: 'us-east-1' }),
      );
      for (const p of procs) {
        expect(await p.exit).toBe(2);
        expect(p.output()).toContain('invalid configuration --redis-url (REDIS_URL)');
        expect(p.output()).not.toContain('S3cr3tP4ss');
      }
    } finally {
      config.remove();
    }
  });
});
