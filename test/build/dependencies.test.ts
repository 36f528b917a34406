// package.json's dependencies are exactly what the product needs: every runtime dependency is imported
// by product code (cli/, certs/, pubsub/, webhook/, reconciler/, shared/, from the two product entry
// points), product code imports no devDependency, and the production bundle holds no package that the
// lock file marks as a development one. The import graph is esbuild's (the same resolution the
// production build uses), so a dynamic import() counts as much as a static one.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { build, type Metafile } from 'esbuild';
import { BUNDLES, bundleOptions, devOnlyPackages } from '../../scripts/build.js';

const REPO = resolve(fileURLToPath(import.meta.url), '../../..');
const pkg = JSON.parse(readFileSync(resolve(REPO, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(resolve(REPO, 'package-lock.json'), 'utf8'));
const PRODUCT_ENTRIES = Object.values(BUNDLES)
  .filter((b) => b.product)
  .map((b) => b.entry);

/** The package a bare specifier names: `@scope/name/sub` → `@scope/name`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

const isBuiltin = (s: string) => s.startsWith('node:') || builtinModules.includes(s.split('/')[0]!);

/** Packages imported by the product's own files (node_modules left out of the graph), by importer. */
async function productImports(): Promise<Map<string, Set<string>>> {
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: PRODUCT_ENTRIES,
    bundle: true,
    write: false,
    outdir: 'unused',
    platform: 'node',
    format: 'esm',
    splitting: true,
    packages: 'external',
    metafile: true,
    logLevel: 'silent',
  });
  const out = new Map<string, Set<string>>();
  for (const [file, input] of Object.entries(result.metafile.inputs))
    for (const imp of input.imports)
      if (imp.external && !isBuiltin(imp.path)) {
        const name = packageOf(imp.path);
        if (!out.has(name)) out.set(name, new Set());
        out.get(name)!.add(file);
      }
  return out;
}

describe('runtime dependencies', () => {
  let imported: Map<string, Set<string>>;
  beforeAll(async () => {
    imported = await productImports();
  }, 60_000);

  it('walks the product files only, from both product entry points', () => {
    expect(PRODUCT_ENTRIES).toEqual(['cli/main.ts', 'cli/kubectl-fleetiq.ts']);
    const files = [...imported.values()].flatMap((s) => [...s]);
    expect(files).toContain('reconciler/agent.ts');
    expect(files.filter((f) => /^(sandbox|test|bench)\//.test(f))).toEqual([]);
  });

  it('are each imported by product code', () => {
    const unused = Object.keys(pkg.dependencies).filter((d) => !imported.has(d));
    expect(unused).toEqual([]);
  });

  it('cover every package the product imports, none of them a devDependency', () => {
    const undeclared = [...imported.keys()].filter((p) => !(p in pkg.dependencies));
    expect(undeclared).toEqual([]);
    const dev = [...imported.keys()].filter((p) => p in pkg.devDependencies);
    expect(dev).toEqual([]);
  });

  it('leave the emulators’ packages to the test bed', () => {
    for (const name of ['@marcbachmann/cel-js', 'json-merge-patch', 'fast-json-patch', 'esbuild'])
      expect({ name, dev: name in pkg.devDependencies }).toEqual({ name, dev: true });
    expect(pkg.dependencies).not.toHaveProperty('ajv-formats');
  });
});

describe('the production bundles', () => {
  const metafiles: Metafile[] = [];
  beforeAll(async () => {
    for (const bundle of [BUNDLES.image, BUNDLES.plugin]) {
      const result = await build({ ...bundleOptions(bundle, tmpdir()), write: false, logLevel: 'silent' });
      metafiles.push(result.metafile!);
    }
  }, 60_000);

  it('hold no package the lock file installs for development only', () => {
    const bundled = new Set(
      metafiles
        .flatMap((m) => Object.keys(m.inputs))
        // As the lock file names them (node_modules may be a symbolic link to a shared install).
        .map(
          (f) => /(node_modules\/(?:(?:@[^/]+\/)?[^/]+\/node_modules\/)*(?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1],
        )
        .filter((p): p is string => p !== undefined),
    );
    expect(bundled.size).toBeGreaterThan(20);
    expect(bundled).toContain('node_modules/@kubernetes/client-node');
    const devOnly = [...bundled].filter((p) => lock.packages[p]?.dev === true);
    expect(devOnly).toEqual([]);
    const unknown = [...bundled].filter((p) => !lock.packages[p]);
    expect(unknown).toEqual([]);
  });

  it('leave out what only development installs, which the packages that look for it can do without', () => {
    const dev = devOnlyPackages();
    expect(dev).toEqual(expect.arrayContaining(['supports-color', 'esbuild', 'jest']));
    expect(dev).not.toContain('ioredis');
  });
});
