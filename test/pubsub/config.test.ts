import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InvalidConfigFileError,
  loadConfigFile,
  parseConfigText,
  resolveConfig,
  watchConfigFile,
  type PubsubConfig,
} from '../../pubsub/config.js';
import { waitFor } from '../helpers/wait.js';

function fieldErrors(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigFileError);
    return (err as InvalidConfigFileError).fieldErrors;
  }
  throw new Error('expected an InvalidConfigFileError');
}

describe('resolveConfig', () => {
  it("accepts the first seed's ConfigMap content with the defaults", () => {
    expect(parseConfigText('{"GameServerGroups": [ "agones-game-servers" ]}')).toEqual({
      gameServerGroups: ['agones-game-servers'],
      pollIntervalMs: 10_000,
      maxCallsPerSecond: 10,
      republishMs: 30_000,
      statusTtlMs: 30_000,
    });
  });

  it('applies the optional fields; the status expiry defaults to 3 intervals, at least 30 s', () => {
    expect(
      resolveConfig({
        GameServerGroups: ['a', 'arn:aws:gamelift:us-west-2:111122223333:gameservergroup/b.c-d'],
        PollIntervalSeconds: 20,
        MaxCallsPerSecond: 2.5,
        RepublishSeconds: 45,
      }),
    ).toEqual({
      gameServerGroups: ['a', 'arn:aws:gamelift:us-west-2:111122223333:gameservergroup/b.c-d'],
      pollIntervalMs: 20_000,
      maxCallsPerSecond: 2.5,
      republishMs: 45_000,
      statusTtlMs: 60_000,
    });
    expect(resolveConfig({ GameServerGroups: ['a'], PollIntervalSeconds: 0.2 }).statusTtlMs).toBe(30_000);
    expect(
      resolveConfig({ GameServerGroups: ['a'], PollIntervalSeconds: 0.2, StatusTtlSeconds: 1 }).statusTtlMs,
    ).toBe(1000);
  });

  it('names every invalid field, Kubernetes-style', () => {
    expect(
      fieldErrors(() =>
        resolveConfig({
          GameServerGroups: ['ok', 'bad name', 'ok'],
          PollIntervalSeconds: 0,
          PollIntervalSecond: 5,
        }),
      ),
    ).toEqual(
      expect.arrayContaining([
        {
          field: 'GameServerGroups[1]',
          message: expect.stringMatching(/^Invalid value: "bad name": must be a game server group name/),
        },
        { field: 'GameServerGroups', message: expect.stringMatching(/duplicate items/) },
        { field: 'PollIntervalSeconds', message: 'Invalid value: 0: must be > 0' },
        { field: 'PollIntervalSecond', message: expect.stringMatching(/^Unsupported field/) },
      ]),
    );
    expect(fieldErrors(() => resolveConfig({}))).toEqual([
      { field: 'GameServerGroups', message: 'Required value' },
    ]);
    expect(fieldErrors(() => resolveConfig({ GameServerGroups: [] }))).toEqual([
      { field: 'GameServerGroups', message: expect.stringMatching(/must NOT have fewer than 1 items/) },
    ]);
    expect(fieldErrors(() => resolveConfig({ GameServerGroups: 'one' }))[0]!.field).toBe('GameServerGroups');
    expect(
      fieldErrors(() => resolveConfig({ GameServerGroups: ['a'], MaxCallsPerSecond: '5' }))[0]!.field,
    ).toBe('MaxCallsPerSecond');
    expect(fieldErrors(() => resolveConfig(['a']))[0]!.field).toBe('(file)');
    expect(
      fieldErrors(() =>
        resolveConfig({ GameServerGroups: ['a'], PollIntervalSeconds: 60, StatusTtlSeconds: 30 }),
      ),
    ).toEqual([
      { field: 'StatusTtlSeconds', message: expect.stringMatching(/greater than PollIntervalSeconds/) },
    ]);
  });

  it('reports a file that is not JSON or cannot be read, naming the path', () => {
    expect(() => parseConfigText('{"GameServerGroups": [', '/etc/fleetiq/fleetiq.conf')).toThrow(
      /invalid configuration \/etc\/fleetiq\/fleetiq.conf: \(file\): Invalid value: not valid JSON/,
    );
    expect(() => loadConfigFile('/nonexistent/fleetiq.conf')).toThrow(/\/nonexistent\/fleetiq.conf.*ENOENT/);
  });
});

describe('watchConfigFile', () => {
  const dirs: string[] = [];
  const stops: (() => void)[] = [];
  afterEach(() => {
    stops.splice(0).forEach((s) => s());
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  /** A directory laid out like a ConfigMap volume: fleetiq.conf → ..data/fleetiq.conf, ..data → ..<timestamp>. */
  function configMapVolume(content: string): { path: string; update(content: string): void } {
    const dir = mkdtempSync(join(tmpdir(), 'pubsub-config-'));
    dirs.push(dir);
    let version = 0;
    const writeVersion = (text: string) => {
      version += 1;
      const versionDir = `..2024_01_01_00_00_0${version}`;
      mkdirSync(join(dir, versionDir));
      writeFileSync(join(dir, versionDir, 'fleetiq.conf'), text);
      // The kubelet's atomic writer: a new symlink renamed over ..data.
      symlinkSync(versionDir, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    writeVersion(content);
    symlinkSync('..data/fleetiq.conf', join(dir, 'fleetiq.conf'));
    return { path: join(dir, 'fleetiq.conf'), update: writeVersion };
  }

  it('applies a ConfigMap update (..data symlink swap) and keeps the last good one when invalid', async () => {
    const volume = configMapVolume('{"GameServerGroups": ["a"]}');
    const initial = loadConfigFile(volume.path);
    const changes: PubsubConfig[] = [];
    const invalid: InvalidConfigFileError[] = [];
    let valid = 0;
    const watcher = watchConfigFile(
      volume.path,
      initial,
      { onChange: (c) => changes.push(c), onInvalid: (e) => invalid.push(e), onValid: () => (valid += 1) },
      { pollMs: 100 },
    );
    stops.push(watcher.stop);

    volume.update('{"GameServerGroups": ["a", "b"], "PollIntervalSeconds": 5}');
    await waitFor('one change', () => changes.length === 1);
    expect(changes[0]).toMatchObject({ gameServerGroups: ['a', 'b'], pollIntervalMs: 5000 });
    expect(watcher.current().gameServerGroups).toEqual(['a', 'b']);

    volume.update('{"GameServerGroups": ["a", "b"], "PollIntervalSeconds": -1}');
    await waitFor('one invalid change', () => invalid.length === 1);
    expect(invalid[0]!.fieldErrors).toEqual([
      { field: 'PollIntervalSeconds', message: 'Invalid value: -1: must be > 0' },
    ]);
    expect(watcher.current().pollIntervalMs).toBe(5000);
    expect(watcher.lastError()).toBe(invalid[0]);
    // The same bad content is reported once, not on every check.
    watcher.check();
    expect(invalid).toHaveLength(1);

    volume.update('{"GameServerGroups": ["c"]}');
    await waitFor('two changes', () => changes.length === 2);
    expect(valid).toBe(1);
    expect(watcher.lastError()).toBeUndefined();
    expect(watcher.current().gameServerGroups).toEqual(['c']);
  });

  it('picks a change up by polling the content even without file events', async () => {
    const volume = configMapVolume('{"GameServerGroups": ["a"]}');
    const changes: PubsubConfig[] = [];
    const watcher = watchConfigFile(
      volume.path,
      loadConfigFile(volume.path),
      { onChange: (c) => changes.push(c), onInvalid: () => undefined },
      { pollMs: 50, watchDirectory: false },
    );
    stops.push(watcher.stop);
    // Rewritten in place (same inode, same size class): noticed by its content hash alone.
    writeFileSync(volume.path, '{"GameServerGroups": ["z"]}');
    await waitFor('one change', () => changes.length === 1);
    expect(changes[0]!.gameServerGroups).toEqual(['z']);
  });

  it('reports a file that disappeared and keeps the last good configuration', async () => {
    const volume = configMapVolume('{"GameServerGroups": ["a"]}');
    const invalid: InvalidConfigFileError[] = [];
    const watcher = watchConfigFile(
      volume.path,
      loadConfigFile(volume.path),
      { onChange: () => undefined, onInvalid: (e) => invalid.push(e) },
      { pollMs: 50 },
    );
    stops.push(watcher.stop);
    rmSync(volume.path);
    await waitFor('one invalid change', () => invalid.length === 1);
    expect(invalid[0]!.message).toMatch(/cannot be read: ENOENT/);
    expect(watcher.current().gameServerGroups).toEqual(['a']);
  });
});
