// One settings table per component: every setting is a flag and an environment variable (the flag
// wins), with one duration grammar (shared/duration.ts), one boolean grammar, one `--help` layout and
// errors that name both the flag and the variable. Reading is pure (flags + environment in, values
// out), so each component's whole configuration is tested without a process.
import { Option, type Command } from 'commander';
import { parseDuration, formatDuration } from './duration.js';
import { ConfigError, parseListen } from './ops-server.js';

export interface Setting {
  /** The long flag, e.g. `--drain-max-wait`; commander's attribute is its camelCase. */
  flag: string;
  /** The environment variable, e.g. `DRAIN_MAX_WAIT`. */
  env: string;
  /** The default as an operator would write it; undefined: required, or nothing when unset. */
  default?: string;
  /** What `--help` says after the description instead of the default ("required", "the pod's namespace"). */
  defaultText?: string;
  help: string;
  /** Placeholder of the value in `--help` (default `<value>`); booleans take `[bool]`. */
  value?: string;
  /** A boolean: `--flag` alone means true, `--flag false` or the variable set the value. */
  boolean?: boolean;
  /** Also accept `--no-<flag>` (a boolean only). */
  negatable?: boolean;
  /** An empty variable is a value (e.g. "none"), not unset. */
  emptyIsValue?: boolean;
}

export type SettingsTable = readonly Setting[];

/** commander's attribute name of a flag: `--drain-max-wait` → `drainMaxWait`. */
export function attributeName(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** How errors name a setting: both ways of giving it, `--drain-max-wait (DRAIN_MAX_WAIT)`. */
export function settingName(setting: Pick<Setting, 'flag' | 'env'>): string {
  return `${setting.flag} (${setting.env})`;
}

/** The one layout of a setting's `--help` line: its description, then `[VARIABLE; default X]`. */
export function settingHelp(setting: Setting): string {
  const origin =
    setting.defaultText ??
    (setting.default === undefined ? 'no default' : `default ${setting.default || '""'}`);
  return `${setting.help} [${setting.env}; ${origin}]`;
}

/**
 * Adds a table's settings to a command, with their variables as commander's metadata (`envVar`) but
 * no default: the reader applies defaults and variables, and an action passes it only the flags
 * given on the command line (givenFlags), so an empty variable means the same as in the reader.
 */
export function addSettings(cmd: Command, table: SettingsTable): Command {
  for (const s of table) {
    const value = s.boolean ? '[bool]' : (s.value ?? '<value>');
    cmd.addOption(new Option(`${s.flag} ${value}`, settingHelp(s)).env(s.env));
    if (s.negatable)
      cmd.addOption(
        new Option(`--no-${s.flag.replace(/^--/, '')}`, `the same as ${s.flag}=false [${s.env}=false]`),
      );
  }
  return cmd;
}

/** The options given on the command line (not commander's values from variables or defaults). */
export function givenFlags(cmd: Command): Flags {
  const flags: Record<string, unknown> = {};
  for (const option of cmd.options) {
    const key = option.attributeName();
    if (cmd.getOptionValueSource(key) === 'cli') flags[key] = cmd.getOptionValue(key);
  }
  return flags;
}

/**
 * Gives a component command the common shape: `--version`, and `--help` showing each option's own
 * description (commander's "(env: X) (default: Y)" suffixes are replaced by the settings layout).
 */
export function componentCommand(cmd: Command, version: string): Command {
  return cmd
    .version(version, '-V, --version', 'print the version and exit')
    .configureHelp({ optionDescription: (option) => option.description })
    .helpOption('-h, --help', 'print this help and exit');
}

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

/** The one boolean grammar: true/false, 1/0, yes/no, on/off, in any case. */
export function parseBoolean(value: string | boolean, setting: string): boolean {
  if (typeof value === 'boolean') return value;
  const v = value.trim().toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new ConfigError(setting, `expected true or false (also 1/0, yes/no, on/off), got "${value}"`);
}

/** commander's options object, or any object of the same shape (tests pass their own). */
export type Flags = object;

/**
 * Reads settings from flags (commander's options object, which may already hold the variables'
 * values) and the environment; a flag wins, an empty variable counts as unset, then the default.
 * Every error names the flag and the variable.
 */
export class SettingsReader {
  private readonly byFlag = new Map<string, Setting>();

  constructor(
    table: SettingsTable,
    private readonly flags: Flags,
    private readonly env: Record<string, string | undefined>,
  ) {
    for (const s of table) this.byFlag.set(s.flag, s);
  }

  setting(flag: string): Setting {
    const s = this.byFlag.get(flag);
    if (!s) throw new Error(`no setting ${flag} in this table`);
    return s;
  }

  name(flag: string): string {
    return settingName(this.setting(flag));
  }

  /** The raw value, or undefined when neither given nor defaulted. */
  raw(flag: string): string | boolean | undefined {
    const s = this.setting(flag);
    const fromFlag = (this.flags as Record<string, unknown>)[attributeName(s.flag)];
    if (typeof fromFlag === 'string' || typeof fromFlag === 'boolean') return fromFlag;
    // A repeatable flag (`<name...>`): the list as a variable would give it, comma-separated.
    if (Array.isArray(fromFlag)) return fromFlag.join(',');
    const fromEnv = this.env[s.env];
    if (fromEnv !== undefined && (fromEnv !== '' || s.emptyIsValue)) return fromEnv;
    return s.default;
  }

  string(flag: string): string | undefined {
    const v = this.raw(flag);
    return v === undefined ? undefined : String(v);
  }

  required(flag: string): string {
    const v = this.string(flag)?.trim();
    if (!v) throw this.error(flag, 'is required');
    return v;
  }

  oneOf<T extends string>(flag: string, choices: readonly T[]): T {
    const v = this.string(flag) ?? '';
    if (!(choices as readonly string[]).includes(v))
      throw this.error(flag, `expected ${choices.join(' or ')}, got "${v}"`);
    return v as T;
  }

  boolean(flag: string): boolean {
    const v = this.raw(flag);
    if (v === undefined) return false;
    return parseBoolean(v, this.name(flag));
  }

  /** Milliseconds, optionally bounded (inclusive). */
  duration(flag: string, bounds: { min?: number; max?: number } = {}): number {
    const v = this.string(flag);
    if (v === undefined) throw this.error(flag, 'is required');
    const ms = parseDuration(v, this.name(flag));
    const { min = 0, max = Number.MAX_SAFE_INTEGER } = bounds;
    if (ms < min || ms > max)
      throw this.error(flag, `must be between ${formatDuration(min)} and ${formatDuration(max)}, got "${v}"`);
    return ms;
  }

  /** A whole number, optionally bounded (inclusive). */
  integer(flag: string, bounds: { min?: number; max?: number } = {}): number {
    const v = (this.string(flag) ?? '').trim();
    if (!/^\d+$/.test(v)) throw this.error(flag, `expected a whole number, got "${v}"`);
    const n = Number(v);
    const { min = 0, max = Number.MAX_SAFE_INTEGER } = bounds;
    if (n < min || n > max)
      throw this.error(flag, `must be a whole number between ${min} and ${max}, got ${n}`);
    return n;
  }

  listen(flag: string): { host: string; port: number } {
    return parseListen(this.string(flag) ?? '', this.name(flag));
  }

  error(flag: string, problem: string): ConfigError {
    return new ConfigError(this.name(flag), problem);
  }
}
