// The shared settings kit: one duration grammar, one boolean grammar, flag over variable over default,
// errors naming both, and the one --help layout.
import { describe, expect, it } from '@jest/globals';
import { Command } from 'commander';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import {
  addSettings,
  attributeName,
  componentCommand,
  givenFlags,
  parseBoolean,
  SettingsReader,
  settingHelp,
  type SettingsTable,
} from '../../shared/settings.js';
import { configError } from '../helpers/config-error.js';

const TABLE: SettingsTable = [
  { flag: '--drain-max-wait', env: 'DRAIN_MAX_WAIT', default: '1h', help: 'warn after this' },
  { flag: '--node-name', env: 'NODE_NAME', defaultText: 'required', help: 'this node' },
  { flag: '--fence', env: 'FENCE', default: 'true', boolean: true, negatable: true, help: 'fence' },
  { flag: '--max-connections', env: 'MAX_CONNECTIONS', default: '64', help: 'connections' },
  { flag: '--ops-listen', env: 'OPS_LISTEN', default: ':8080', help: 'ops' },
  { flag: '--config-name', env: 'CONFIG_NAME', default: 'x', emptyIsValue: true, help: 'name' },
];

describe('durations', () => {
  it('reads Go-style units, days and years, and a bare number as seconds', () => {
    expect(parseDuration('250ms', 'X')).toBe(250);
    expect(parseDuration('90s', 'X')).toBe(90_000);
    expect(parseDuration('5m', 'X')).toBe(300_000);
    expect(parseDuration('1h30m', 'X')).toBe(5_400_000);
    expect(parseDuration('1.5h', 'X')).toBe(5_400_000);
    expect(parseDuration('365d', 'X')).toBe(365 * 86_400_000);
    expect(parseDuration('10y', 'X')).toBe(3650 * 86_400_000);
    expect(parseDuration('90', 'X')).toBe(90_000);
    expect(parseDuration('0.25', 'X')).toBe(250);
    expect(parseDuration(' 2s ', 'X')).toBe(2000);
  });

  it('refuses malformed values, naming the setting, and a bare number where a unit is required', () => {
    for (const bad of ['', ' ', 's', '5 s', '-1s', '-5', '5sec', '1h junk', '1e3', 'soon'])
      expect(configError(() => parseDuration(bad, '--x (X)')).message).toMatch(
        /invalid configuration --x \(X\): expected a duration .*a bare number is seconds/,
      );
    expect(() => parseDuration('5', '--duration', { requireUnit: true })).toThrow(/--duration/);
    expect(parseDuration('5s', '--duration', { requireUnit: true })).toBe(5000);
  });

  it('formats what it reads', () => {
    for (const ms of [0, 250, 90_000, 5_400_000, 86_400_000, 3650 * 86_400_000])
      expect(parseDuration(formatDuration(ms), 'X')).toBe(ms);
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});

describe('booleans', () => {
  it('reads true/false, 1/0, yes/no, on/off in any case', () => {
    for (const t of ['true', 'TRUE', '1', 'yes', 'On', ' true ']) expect(parseBoolean(t, 'X')).toBe(true);
    for (const f of ['false', 'False', '0', 'no', 'OFF']) expect(parseBoolean(f, 'X')).toBe(false);
    expect(parseBoolean(true, 'X')).toBe(true);
    expect(() => parseBoolean('perhaps', '--fence (FENCE)')).toThrow(
      /invalid configuration --fence \(FENCE\): expected true or false/,
    );
    expect(() => parseBoolean('', 'X')).toThrow(/expected true or false/);
  });
});

describe('SettingsReader', () => {
  it('takes the flag over the variable over the default; an empty variable is unset', () => {
    const env = { DRAIN_MAX_WAIT: '2h', NODE_NAME: 'n1', MAX_CONNECTIONS: '' };
    const r = new SettingsReader(TABLE, { drainMaxWait: '3h' }, env);
    expect(r.duration('--drain-max-wait')).toBe(3 * 3_600_000);
    expect(new SettingsReader(TABLE, {}, env).duration('--drain-max-wait')).toBe(2 * 3_600_000);
    expect(new SettingsReader(TABLE, {}, {}).duration('--drain-max-wait')).toBe(3_600_000);
    expect(r.integer('--max-connections')).toBe(64);
    expect(r.required('--node-name')).toBe('n1');
    expect(r.listen('--ops-listen')).toEqual({ host: '0.0.0.0', port: 8080 });
  });

  it('keeps an empty variable where empty is a value', () => {
    expect(new SettingsReader(TABLE, {}, { CONFIG_NAME: '' }).string('--config-name')).toBe('');
    expect(new SettingsReader(TABLE, {}, {}).string('--config-name')).toBe('x');
  });

  it('reads booleans from flags (commander hands true/false) and variables', () => {
    expect(new SettingsReader(TABLE, {}, {}).boolean('--fence')).toBe(true);
    expect(new SettingsReader(TABLE, { fence: false }, { FENCE: 'true' }).boolean('--fence')).toBe(false);
    expect(new SettingsReader(TABLE, {}, { FENCE: 'off' }).boolean('--fence')).toBe(false);
  });

  it('names the flag and the variable in every error, whichever was given', () => {
    const cases: [() => unknown, RegExp][] = [
      [
        () => new SettingsReader(TABLE, {}, {}).required('--node-name'),
        /--node-name \(NODE_NAME\): is required/,
      ],
      [
        () => new SettingsReader(TABLE, {}, { DRAIN_MAX_WAIT: 'soon' }).duration('--drain-max-wait'),
        /--drain-max-wait \(DRAIN_MAX_WAIT\): expected a duration/,
      ],
      [
        () =>
          new SettingsReader(TABLE, { drainMaxWait: '10s' }, {}).duration('--drain-max-wait', {
            min: 60_000,
          }),
        /--drain-max-wait \(DRAIN_MAX_WAIT\): must be between 1m and/,
      ],
      [
        () => new SettingsReader(TABLE, {}, { MAX_CONNECTIONS: '1k' }).integer('--max-connections'),
        /--max-connections \(MAX_CONNECTIONS\): expected a whole number/,
      ],
      [
        () => new SettingsReader(TABLE, {}, { FENCE: 'perhaps' }).boolean('--fence'),
        /--fence \(FENCE\): expected true or false/,
      ],
      [
        () => new SettingsReader(TABLE, { opsListen: 'nope' }, {}).listen('--ops-listen'),
        /--ops-listen \(OPS_LISTEN\): expected host:port/,
      ],
    ];
    for (const [fn, message] of cases) {
      const err = configError(fn);
      expect(err.message).toMatch(/^invalid configuration /);
      expect(err.message).toMatch(message);
    }
  });

  it('refuses to read a setting that is not in its table (a typo in the code, not the input)', () => {
    expect(() => new SettingsReader(TABLE, {}, {}).string('--nope')).toThrow(/no setting --nope/);
  });
});

describe('commands', () => {
  it('lists each setting with its variable and default, and tells given flags from variables', () => {
    const cmd = addSettings(componentCommand(new Command('x').exitOverride(), '9.9.9'), TABLE);
    let seen: object | undefined;
    cmd.action((_o, c: Command) => {
      seen = givenFlags(c);
    });
    const saved = process.env.DRAIN_MAX_WAIT;
    process.env.DRAIN_MAX_WAIT = '2h';
    try {
      cmd.parse(['--no-fence', '--node-name', 'n1'], { from: 'user' });
    } finally {
      if (saved === undefined) delete process.env.DRAIN_MAX_WAIT;
      else process.env.DRAIN_MAX_WAIT = saved;
    }
    // The variable is the reader's to apply (so that an empty one means the same everywhere).
    expect(seen).toEqual({ fence: false, nodeName: 'n1' });
    const help = cmd.helpInformation().replace(/\s+/g, ' ');
    expect(help).toContain('--drain-max-wait <value> warn after this [DRAIN_MAX_WAIT; default 1h]');
    expect(help).toContain('--node-name <value> this node [NODE_NAME; required]');
    expect(help).toContain('--fence [bool] fence [FENCE; default true]');
    expect(help).toContain('--no-fence');
    expect(help).not.toContain('(env:');
    expect(help).toContain('-V, --version');
    expect(settingHelp(TABLE[0]!)).toBe('warn after this [DRAIN_MAX_WAIT; default 1h]');
    expect(attributeName('--drain-max-wait')).toBe('drainMaxWait');
  });
});
