// The container image's recipe, checked where it can be without a Docker engine: the Dockerfile
// (parsed with dockerfile-ast) builds what `npm run build` builds, runs the CLI the package declares as
// a non-root user, ships production dependencies only; the .dockerignore (matched the way Docker
// matches it, with @balena/dockerignore) lets exactly the sources into the build context.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import dockerignore from '@balena/dockerignore';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { REPO_ROOT } from './render.js';

const read = (p: string) => readFileSync(resolve(REPO_ROOT, p), 'utf8');
const pkg = JSON.parse(read('package.json'));
const buildConfig = JSON.parse(read('tsconfig.build.json'));
const dockerfile = DockerfileParser.parse(read('Dockerfile'));

/** The instructions of each stage, by stage name. */
function stages(): Map<string, Instruction[]> {
  const out = new Map<string, Instruction[]>();
  let current: Instruction[] | undefined;
  for (const ins of dockerfile.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      current = [];
      out.set(ins.getArguments()[2]?.getValue() ?? `stage${out.size}`, current);
    } else current?.push(ins);
  }
  return out;
}
const args = (ins: Instruction) => ins.getArguments().map((a) => a.getValue());
const flags = (ins: Instruction) =>
  (ins as any).getFlags?.().map((f: any) => `--${f.getName()}=${f.getValue()}`) ?? [];
const find = (list: Instruction[], keyword: string) => list.filter((i) => i.getKeyword() === keyword);

describe('Dockerfile', () => {
  it('builds on Node 24 in three stages: build, production dependencies, runtime', () => {
    expect([...stages().keys()]).toEqual(['build', 'deps', 'runtime']);
    for (const from of dockerfile.getFROMs()) {
      expect(from.getImageName()).toBe('node');
      expect(from.getImageTag()).toMatch(/^24-/);
    }
    expect(pkg.engines.node).toMatch(/>=24/);
  });

  it('compiles with the same TypeScript project as `npm run build`', () => {
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    const runs = find(stages().get('build')!, 'RUN').map((i) => args(i).join(' '));
    expect(runs).toContainEqual(expect.stringMatching(/^npm ci\b/));
    expect(runs).toContain('node node_modules/typescript/bin/tsc -p tsconfig.build.json');
  });

  it('ships production dependencies only (none of which needs an install script)', () => {
    const runs = find(stages().get('deps')!, 'RUN').map((i) => args(i).join(' '));
    expect(runs).toContainEqual(expect.stringMatching(/^npm ci --omit=dev --ignore-scripts\b/));
    const lock = JSON.parse(read('package-lock.json'));
    const scripted = Object.entries(lock.packages as Record<string, any>)
      .filter(([, p]) => p.hasInstallScript && !p.dev)
      .map(([name]) => name);
    expect(scripted).toEqual([]);
    expect(Object.keys(pkg.dependencies)).not.toContain('node');
  });

  it('runs the package’s CLI from the compiled output, as an unprivileged user', () => {
    const runtime = stages().get('runtime')!;
    const entrypoint = dockerfile.getENTRYPOINTs();
    expect(entrypoint).toHaveLength(1);
    const exec = (entrypoint[0] as any).getJSONStrings().map((s: any) => s.getJSONValue());
    expect(exec).toEqual(['node', pkg.bin['fleetiq-agones']]);
    expect(exec[1]).toBe(`${buildConfig.compilerOptions.outDir ?? 'dist'}/cli/main.js`);
    expect(find(runtime, 'USER').map(args)).toEqual([['65532:65532']]);
    const copies = find(runtime, 'COPY').map((i) => [
      ...flags(i).filter((f: string) => f.startsWith('--from')),
      ...args(i),
    ]);
    expect(copies).toEqual(
      expect.arrayContaining([
        ['package.json', './'],
        ['--from=deps', '/app/node_modules', './node_modules'],
        ['--from=build', '/src/dist', './dist'],
      ]),
    );
    // The compiled ES modules need package.json's "type": "module" next to them.
    expect(pkg.type).toBe('module');
  });
});

describe('.dockerignore', () => {
  // A CommonJS module whose exports also carry itself as `default`, which is what NodeNext types see.
  const ig = dockerignore.default().add(read('.dockerignore'));

  it('lets in the package files and every folder the build compiles', () => {
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'])
      expect(ig.ignores(f)).toBe(false);
    expect(buildConfig.include.length).toBeGreaterThan(0);
    for (const dir of buildConfig.include as string[]) {
      const files = (readdirSync(resolve(REPO_ROOT, dir), { recursive: true }) as string[]).filter(
        (f) => f.endsWith('.ts') && statSync(resolve(REPO_ROOT, dir, f)).isFile(),
      );
      expect(files.length).toBeGreaterThan(0);
      for (const f of files)
        expect({ file: join(dir, f), ignored: ig.ignores(join(dir, f)) }).toEqual({
          file: join(dir, f),
          ignored: false,
        });
    }
  });

  it('keeps everything else out of the build context', () => {
    for (const f of [
      'node_modules/ioredis/package.json',
      'dist/cli/main.js',
      'test/manifests/render.ts',
      'bench/webhook.ts',
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
