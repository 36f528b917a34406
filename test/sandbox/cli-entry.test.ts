// The two entry points: the product's `fleetiq-agones` serves its components only; the test bed's
// `fleetiq-sandbox` runs the sandbox when given no command (so `npm start -- <flags>` and
// `fleetiq-sandbox <flags>` are the same run) and serves the emulators.
import { describe, expect, it } from '@jest/globals';
import { runCli, runSandboxCli } from '../helpers/cli.js';

describe('fleetiq-sandbox and fleetiq-agones', () => {
  it('fleetiq-sandbox takes sandbox flags without the command name, with the sandbox’s exit code', async () => {
    const p = runSandboxCli(['--chaos-monkey'], { cleanEnv: true });
    expect(await p.exit).toBe(2);
    expect(p.err()).toContain("unknown option '--chaos-monkey'");
    expect(p.err()).toContain('Usage: fleetiq-sandbox sandbox');
  }, 60_000);

  it('fleetiq-sandbox lists the sandbox and the emulators', async () => {
    const p = runSandboxCli(['emulator', '--help'], { cleanEnv: true });
    expect(await p.exit).toBe(0);
    expect(p.out()).toMatch(/^ {2}fleetiq \[options\]/m);
    expect(p.out()).toMatch(/^ {2}kube \[options\]/m);
  }, 60_000);

  it('fleetiq-agones has no sandbox or emulator command', async () => {
    for (const command of ['sandbox', 'emulator']) {
      const p = runCli([command], { cleanEnv: true });
      expect(await p.exit).toBe(2);
      expect(p.err()).toContain(`unknown command '${command}'`);
    }
  }, 60_000);
});
