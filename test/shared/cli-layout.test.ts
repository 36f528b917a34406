// Every component's --help has the one layout (each setting: flag, description, [VARIABLE; default]),
// and every component and the CLI itself answer --version with package.json's version.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { buildCli, loadCommands } from '../../cli/main.js';
import { VERSION } from '../../shared/version.js';
import { runCli } from '../helpers/cli.js';

const PACKAGE_VERSION = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
).version;
const COMPONENTS = [['pubsub'], ['webhook'], ['reconciler'], ['certs', 'ensure'], ['certs', 'generate']];

const ALL_COMMANDS = await loadCommands([]);

function find(path: string[]): Command {
  let cmd = buildCli(ALL_COMMANDS);
  for (const name of path) {
    const next = cmd.commands.find((c) => c.name() === name);
    if (!next) throw new Error(`no command ${path.join(' ')}`);
    cmd = next;
  }
  return cmd;
}

describe('the components share one --help layout', () => {
  it.each(COMPONENTS)('%s %s', (...path) => {
    const cmd = find(path.filter(Boolean));
    const settings = cmd.options.filter((o) => !['--help', '--version'].includes(o.long ?? '') && !o.negate);
    expect(settings.length).toBeGreaterThan(3);
    for (const o of settings) {
      expect(o.envVar).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(o.description).toMatch(new RegExp(`\\S \\[${o.envVar}; (default .+|required|no default)\\]$`));
      expect(o.defaultValue).toBeUndefined(); // defaults are the settings table's, shown in the text
    }
    const help = cmd.helpInformation();
    expect(help).toMatch(/-V, --version +print the version and exit/);
    expect(help).not.toMatch(/\(env: |\(default: /);
    for (const o of settings) expect(help.replace(/\s+/g, ' ')).toContain(`[${o.envVar};`);
  });

  it('the version comes from package.json', () => {
    expect(VERSION).toBe(PACKAGE_VERSION);
  });

  it('fleetiq-agones --version and a component --version print it and exit 0', async () => {
    const procs = [
      runCli(['--version'], { cleanEnv: true }),
      runCli(['reconciler', '--version'], { cleanEnv: true }),
    ];
    for (const p of procs) {
      expect(await p.exit).toBe(0);
      expect(p.out().trim()).toBe(PACKAGE_VERSION);
    }
  });
});
