// `npm run build`'s production bundle, built into a temporary folder and run as the image runs it: one
// folder (entry plus chunks) that needs nothing else, whose CLI serves the product's commands only, and
// in which each component loads only its own code.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Metafile } from 'esbuild';
import { BUNDLES, buildAll } from '../../scripts/build.js';

const run = promisify(execFile);
let out: string;
let metafiles: Record<string, Metafile>;

let alone: string;

beforeAll(async () => {
  // Under node_modules/.cache, where the test bed's bundle finds its packages as it does in dist/.
  const cache = join(process.cwd(), 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  out = await mkdtemp(join(cache, 'bundle-test-'));
  metafiles = await buildAll(out);
  // The product's folder on its own, as the image holds it: nothing may resolve from a node_modules.
  alone = await mkdtemp(join(tmpdir(), 'bundle-alone-'));
  await cp(join(out, dirname(BUNDLES.image.out)), alone, { recursive: true });
}, 120_000);
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
  if (alone) await rm(alone, { recursive: true, force: true });
});
const entry = () => join(alone, basename(BUNDLES.image.out));

/** The source files a process loads when it runs `command`: its chunk and what that imports statically. */
function loadedBy(command: string): string[] {
  const meta = metafiles.image!;
  const outputs = meta.outputs;
  const start = Object.keys(outputs).find((o) => `${command}/cli.ts` in outputs[o]!.inputs);
  if (!start) throw new Error(`no chunk holds ${command}/cli.ts`);
  const seen = new Set<string>();
  const visit = (o: string) => {
    if (seen.has(o)) return;
    seen.add(o);
    for (const imp of outputs[o]!.imports)
      if (imp.kind === 'import-statement' && imp.path in outputs) visit(imp.path);
  };
  visit(start);
  return [...seen].flatMap((o) => Object.keys(outputs[o]!.inputs));
}
const has = (files: string[], pkg: string) => files.some((f) => f.includes(`node_modules/${pkg}/`));

describe('the production bundle', () => {
  it('is one folder, an entry point and its chunks, runnable with no node_modules', async () => {
    const files = (await readdir(alone, { recursive: true })) as string[];
    expect(files).toContain('main.mjs');
    expect(
      files.filter((f) => f !== 'main.mjs' && f !== 'chunks' && !/^chunks\/[\w-]+\.mjs$/.test(f)),
    ).toEqual([]);
    // Run from a copy outside the repository: nothing may resolve from the checkout's node_modules.
    const { stdout } = await run(process.execPath, [join(out, BUNDLES.image.out), '--help'], {
      cwd: tmpdir(),
    });
    for (const command of ['webhook', 'certs', 'pubsub', 'reconciler'])
      expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(stdout).not.toMatch(/^ {2}(sandbox|emulator)\b/m);
  }, 60_000);

  it('knows its version without a package.json beside it', async () => {
    const version = JSON.parse(await readFile(join(process.cwd(), 'package.json'), 'utf8')).version;
    const { stdout } = await run(process.execPath, [entry(), 'pubsub', '--version'], { cwd: tmpdir() });
    expect(stdout.trim()).toBe(version);
  }, 60_000);

  it('answers a component’s --help from that component’s chunk', async () => {
    const { stdout } = await run(process.execPath, [entry(), 'reconciler', '--help'], {
      cwd: tmpdir(),
    });
    expect(stdout).toContain('Usage: fleetiq-agones reconciler');
  }, 60_000);

  it('loads, for the node agent and pubsub, neither the webhook’s HTTPS server nor its certificate code, nor client-node', () => {
    for (const command of ['reconciler', 'pubsub']) {
      const files = loadedBy(command);
      expect(files).toContain(`${command}/cli.ts`);
      expect(files).toContain('shared/kube-client/client.ts');
      // client-node (and its undici) only behind the dynamic import for the kubeconfigs it alone reads.
      expect({
        command,
        express: has(files, 'express'),
        forge: has(files, 'node-forge'),
        clientNode: has(files, '@kubernetes/client-node'),
        undici: has(files, 'undici'),
      }).toEqual({ command, express: false, forge: false, clientNode: false, undici: false });
      expect(files.filter((f) => f.startsWith('webhook/'))).toEqual([]);
    }
    const webhook = loadedBy('webhook');
    expect(has(webhook, 'express')).toBe(true);
    expect(has(webhook, '@kubernetes/client-node')).toBe(true);
    expect(webhook.filter((f) => f.startsWith('reconciler/agent'))).toEqual([]);
  });

  it('bundles the kubectl plugin and the test bed’s command beside it', async () => {
    const { stdout } = await run(process.execPath, [join(out, BUNDLES.sandbox.out), '--help'], {
      cwd: process.cwd(),
    });
    expect(stdout).toMatch(/^ {2}sandbox\b/m);
    expect(stdout).toMatch(/^ {2}emulator\b/m);
    const plugin = await run(process.execPath, [join(out, BUNDLES.plugin.out), 'status', '--help'], {
      cwd: tmpdir(),
    });
    expect(plugin.stdout).toContain('kubectl fleetiq status');
  }, 60_000);
});
