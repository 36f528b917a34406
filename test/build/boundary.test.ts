// The product/test-bed boundary is enforced by ESLint (eslint.config.js): a product file that imports
// sandbox/, test/ or bench/ fails the lint, in every form an import can take, and the tree as it stands
// passes. The rule is run through ESLint's own API with the repository's configuration.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

const REPO = resolve(fileURLToPath(import.meta.url), '../../..');
const BOUNDARY_RULES = ['no-restricted-imports', 'no-restricted-syntax'];
const eslint = new ESLint({ cwd: REPO });

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(REPO, filePath) });
  return result!.messages.filter((m) => BOUNDARY_RULES.includes(m.ruleId ?? '')).map((m) => m.message);
}

describe('the lint rule keeping the product apart from its test bed', () => {
  const violations: [string, string][] = [
    [
      'webhook/probe.ts',
      "import { startKubeEmulator } from '../sandbox/kube/emulator.js';\nvoid startKubeEmulator;\n",
    ],
    [
      'cli/probe.ts',
      "import type { CliProcess } from '../test/helpers/cli.js';\nexport type P = CliProcess;\n",
    ],
    ['reconciler/probe.ts', "export { sleep } from '../bench/lib.js';\n"],
    ['pubsub/probe.ts', "export * from '../sandbox/fleetiq/emulator.js';\n"],
    ['shared/probe.ts', "export const m = await import('../sandbox/run/cli.js');\n"],
    ['certs/deep/probe.ts', "import '../../test/helpers/wait.js';\n"],
  ];

  it.each(violations)('fails %s importing the test bed', async (file, code) => {
    const errors = await boundaryErrors(file, code);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('must not import sandbox/, test/ or bench/');
  });

  it('lets the product import its own folders and packages, and the test bed import the product', async () => {
    expect(
      await boundaryErrors(
        'webhook/probe.ts',
        "import { a } from '../shared/sandboxed.js';\nimport { b } from './test-support.js';\n" +
          "import { Command } from 'commander';\nexport const c = [a, b, Command];\n",
      ),
    ).toEqual([]);
    expect(
      await boundaryErrors(
        'sandbox/probe.ts',
        "export { buildCli } from '../cli/main.js';\nexport * from '../test/x.js';\n",
      ),
    ).toEqual([]);
  });

  it('passes on the product as it stands', async () => {
    const results = await eslint.lintFiles(['cli', 'certs', 'pubsub', 'webhook', 'reconciler', 'shared']);
    expect(results.length).toBeGreaterThan(20);
    const found = results.flatMap((r) =>
      r.messages
        .filter((m) => BOUNDARY_RULES.includes(m.ruleId ?? ''))
        .map((m) => `${r.filePath}:${m.line}: ${m.message}`),
    );
    expect(found).toEqual([]);
  }, 120_000);
});
