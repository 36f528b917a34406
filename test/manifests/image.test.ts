// The container image, checked where it can be without a Docker engine: the Dockerfile (parsed with
// dockerfile-ast) bundles the product with `npm run build`'s script and copies that bundle alone into a
// Node 24 image that runs it as a non-root user with the measured Node flags; the build context (the
// .dockerignore matched the way Docker matches it, with @balena/dockerignore) is rebuilt here from the
// repository and bundled, which shows what the image would hold: no sandbox/, test/ or bench/ code, no
// development package, no native module.
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  cpSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import dockerignore from '@balena/dockerignore';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import type { Metafile } from 'esbuild';
import { BUNDLES, PRODUCTION_ENV, PRODUCTION_NODE_FLAGS } from '../../scripts/build.js';
import { REPO_ROOT } from './render.js';

const run = promisify(execFile);
// The product's folders, as the lint rule keeping the test bed out of them lists them.
const ESLINT_CONFIG: string = '../../eslint.config.js';
const { PRODUCT_DIRS } = (await import(ESLINT_CONFIG)) as { PRODUCT_DIRS: string[] };
const read = (p: string) => readFileSync(resolve(REPO_ROOT, p), 'utf8');
const pkg = JSON.parse(read('package.json'));
const lock = JSON.parse(read('package-lock.json'));
const dockerfile = DockerfileParser.parse(read('Dockerfile'));
// A CommonJS module whose exports also carry itself as `default`, which is what NodeNext types see.
const ig = dockerignore.default().add(read('.dockerignore'));

/** The instructions of each stage, by stage name. */
function stages(): Map<string, Instruction[]> {
  const out = new Map<string, Instruction[]>();
  let current: Instruction[] | undefined;
  for (const ins of dockerfile.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      current = [];
      const a = ins.getArguments().map((x) => x.getValue());
      out.set(a[a.indexOf('AS') + 1] ?? `stage${out.size}`, current);
    } else current?.push(ins);
  }
  return out;
}
const args = (ins: Instruction) => ins.getArguments().map((a) => a.getValue());
const flags = (ins: Instruction) =>
  (ins as any).getFlags?.().map((f: any) => `--${f.getName()}=${f.getValue()}`) ?? [];
const find = (list: Instruction[], keyword: string) => list.filter((i) => i.getKeyword() === keyword);

describe('Dockerfile', () => {
  it('bundles on the builder’s platform and runs on Node 24, in two stages', () => {
    expect([...stages().keys()]).toEqual(['build', 'runtime']);
    const froms = dockerfile.getFROMs();
    for (const from of froms) {
      expect(from.getImageName()).toBe('node');
      expect(from.getImageTag()).toBe('24-bookworm-slim');
    }
    // One bundle for every architecture buildx builds: nothing in it is native (see below).
    expect(flags(froms[0]!)).toEqual(['--platform=$BUILDPLATFORM']);
    expect(flags(froms[1]!)).toEqual([]);
    expect(pkg.engines.node).toMatch(/>=24/);
  });

  it('builds with the script of `npm run build`, the image’s bundle only', () => {
    expect(pkg.scripts.build).toBe('node scripts/build.ts');
    const runs = find(stages().get('build')!, 'RUN').map((i) => args(i).join(' '));
    expect(runs).toEqual([
      'npm ci --ignore-scripts --no-audit --no-fund',
      'node scripts/build.ts --only image',
    ]);
  });

  it('copies the bundle alone and runs it with the measured Node flags, as an unprivileged user', () => {
    const runtime = stages().get('runtime')!;
    const copies = [...find(runtime, 'COPY'), ...find(runtime, 'ADD')].map((i) => [...flags(i), ...args(i)]);
    expect(copies).toEqual([
      ['--chown=0:0', '--from=build', `/src/dist/${dirname(BUNDLES.image.out)}/`, './'],
    ]);
    expect(find(runtime, 'WORKDIR').map(args)).toEqual([['/app']]);
    expect(find(runtime, 'USER').map(args)).toEqual([['65532:65532']]);
    const entrypoint = dockerfile.getENTRYPOINTs();
    expect(entrypoint).toHaveLength(1);
    const exec = (entrypoint[0] as any).getJSONStrings().map((s: any) => s.getJSONValue());
    expect(exec).toEqual(['node', ...PRODUCTION_NODE_FLAGS, basename(BUNDLES.image.out)]);
    const env = Object.fromEntries(
      find(runtime, 'ENV').flatMap((i) =>
        (i as any).getProperties().map((p: any) => [p.getName(), p.getValue()]),
      ),
    );
    expect(env).toEqual({ NODE_ENV: 'production', ...PRODUCTION_ENV });
    // No package manager left in the runtime image.
    expect(find(runtime, 'RUN').map((i) => args(i).join(' '))).toEqual([
      expect.stringMatching(/^rm -rf \/usr\/local\/lib\/node_modules\/npm .*\/usr\/local\/bin\/npx /),
    ]);
  });

  it('needs no native module: no production package has an install script', () => {
    const scripted = Object.entries(lock.packages as Record<string, any>)
      .filter(([name, p]) => name !== '' && p.hasInstallScript && !p.dev)
      .map(([name]) => name);
    expect(scripted).toEqual([]);
    expect(Object.keys(pkg.dependencies)).not.toContain('node');
  });
});

describe('what the image would contain', () => {
  let context: string;
  let metafile: Metafile;
  let appFiles: string[];
  let contextTop: Set<string>;

  beforeAll(async () => {
    // The build context as Docker would send it: the repository's files the .dockerignore lets in.
    context = mkdtempSync(join(tmpdir(), 'image-context-'));
    const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
      cwd: REPO_ROOT,
      maxBuffer: 16 * 2 ** 20,
    });
    for (const file of stdout.split('\n').filter(Boolean)) {
      if (ig.ignores(file) || file === 'node_modules' || file === '.testbed') continue;
      mkdirSync(dirname(join(context, file)), { recursive: true });
      cpSync(join(REPO_ROOT, file), join(context, file));
    }
    contextTop = new Set(readdirSync(context));
    // What `npm ci` puts there in the build stage.
    symlinkSync(realpathSync(join(REPO_ROOT, 'node_modules')), join(context, 'node_modules'));
    await run(process.execPath, ['scripts/build.ts', '--only', 'image'], { cwd: context });
    metafile = JSON.parse(readFileSync(join(context, 'dist', 'meta', 'image.json'), 'utf8'));
    appFiles = (
      readdirSync(join(context, 'dist', dirname(BUNDLES.image.out)), { recursive: true }) as string[]
    )
      .filter((f) => f.endsWith('.mjs'))
      .sort();
  }, 120_000);
  afterAll(() => {
    if (context) rmSync(context, { recursive: true, force: true });
  });

  it('holds the product’s sources and the build script in the build context, and nothing of the test bed', () => {
    const top = contextTop;
    for (const dir of PRODUCT_DIRS) expect(top).toContain(dir);
    for (const dir of ['sandbox', 'test', 'bench', 'dist', 'docs', 'manifests', '.git', 'testbed'])
      expect({ dir, present: top.has(dir) }).toEqual({ dir, present: false });
    expect(readdirSync(join(context, 'scripts'))).toEqual(['build.ts']);
  });

  it('is the bundle’s entry and chunks in /app, and nothing else', () => {
    expect(appFiles).toContain('main.mjs');
    expect(appFiles.filter((f) => f !== 'main.mjs' && !/^chunks\/[\w-]+\.mjs$/.test(f))).toEqual([]);
  });

  it('was built from product code and production packages only', () => {
    const inputs = Object.keys(metafile.inputs);
    const own = inputs.filter((f) => !f.includes('node_modules/'));
    expect(own.length).toBeGreaterThan(30);
    expect(own.filter((f) => !PRODUCT_DIRS.includes(f.split('/')[0]!))).toEqual([]);
    const packages = new Set(
      inputs
        .map(
          (f) => /(node_modules\/(?:(?:@[^/]+\/)?[^/]+\/node_modules\/)*(?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1],
        )
        .filter((p): p is string => p !== undefined),
    );
    expect(packages).toContain('node_modules/@kubernetes/client-node');
    expect([...packages].filter((p) => lock.packages[p]?.dev === true || !lock.packages[p])).toEqual([]);
    expect(inputs.filter((f) => f.endsWith('.node'))).toEqual([]);
  });
});

describe('.dockerignore', () => {
  it('keeps the test bed, local files and build output out of the build context', () => {
    for (const f of [
      'node_modules/ioredis/package.json',
      'dist/fleetiq-agones/main.mjs',
      'sandbox/cli.ts',
      'sandbox/kube/emulator.ts',
      'test/manifests/render.ts',
      'bench/webhook.ts',
      'scripts/ensure-test-deps.sh',
      'manifests/base/kustomization.yaml',
      '.git/config',
      '.env',
      'README.md',
      'pubsub/README.md',
      'id_rsa',
    ])
      expect({ f, ignored: ig.ignores(f) }).toEqual({ f, ignored: true });
  });
});
