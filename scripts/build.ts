// `npm run build`: the production build. The product's two commands are bundled by esbuild, each into
// one ES module holding its code and every runtime dependency (dist/fleetiq-agones.mjs, what the image
// runs, and dist/kubectl-fleetiq.mjs, the kubectl plugin): Node then reads one file instead of a few
// thousand modules, which is most of the memory an idle component used to take (see README, "Memory").
// The test bed's command (dist/fleetiq-sandbox.mjs) is bundled too, with its packages left in
// node_modules: it runs from a checkout, next to manifests/ and the test bed's binaries.
//
// Run with the Node 24 the project pins, which strips the types of this file itself: `node scripts/build.ts`.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * How the image starts every component (Dockerfile ENTRYPOINT and ENV), chosen by measurement
 * (`npm run bench:memory`; figures and the flags measured against each other in README, "Memory"):
 * a young generation of 1 MiB semi-spaces instead of 16 (the components allocate little, in small
 * bursts), one V8 worker thread instead of one per core (a pod has a fraction of a core anyway),
 * V8's heuristics for size, and two glibc malloc arenas instead of eight per core for Node's threads.
 */
export const PRODUCTION_NODE_FLAGS = [
  '--max-semi-space-size=1',
  '--v8-pool-size=1',
  '--optimize-for-size',
] as const;
export const PRODUCTION_ENV = { MALLOC_ARENA_MAX: '2' } as const;

/**
 * What `npm run build` writes under dist/. The product's CLI is split at its dynamic imports (one per
 * component, see cli/main.ts) into chunks beside its entry, so that each component loads only its own
 * code; the image copies that folder and nothing else.
 */
export const BUNDLES = {
  /** The product: `fleetiq-agones`, what the image runs. */
  image: { entry: 'cli/main.ts', out: 'fleetiq-agones/main.mjs', product: true, split: true },
  /** The kubectl plugin, one file: it checks the Node version before loading the rest. */
  plugin: { entry: 'cli/kubectl-fleetiq.ts', out: 'kubectl-fleetiq.mjs', product: true, split: false },
  /** The test bed's `fleetiq-sandbox`, its packages left in node_modules. */
  sandbox: { entry: 'sandbox/cli.ts', out: 'fleetiq-sandbox.mjs', product: false, split: false },
} as const;

// CommonJS packages bundled into an ES module still call require() for Node's built-ins and read
// __filename/__dirname; an ES module has none of the three, so the bundle defines them first.
const COMMONJS_SHIM = [
  "import { createRequire as __bundleCreateRequire } from 'node:module';",
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url';",
  "import { dirname as __bundleDirname } from 'node:path';",
  'const require = __bundleCreateRequire(import.meta.url);',
  'const __filename = __bundleFileURLToPath(import.meta.url);',
  'const __dirname = __bundleDirname(__filename);',
].join('\n');

/**
 * Packages the lock file installs for development only. A production install (`npm ci --omit=dev`)
 * does not have them, so the bundle must not either: a package that looks for one optionally (debug
 * for supports-color) finds it missing, as it would have in an unbundled image.
 */
export function devOnlyPackages(lockText = readFileSync(join(REPO, 'package-lock.json'), 'utf8')): string[] {
  const lock = JSON.parse(lockText) as { packages: Record<string, { dev?: boolean }> };
  // By name, wherever installed: a name with one production copy (js-yaml, nested under client-node
  // while the top-level one is jest's) must stay resolvable.
  const dev = new Map<string, boolean>();
  for (const [path, p] of Object.entries(lock.packages)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(path)?.[1];
    if (name) dev.set(name, (dev.get(name) ?? true) && p.dev === true);
  }
  return [...dev].filter(([, onlyDev]) => onlyDev).map(([name]) => name);
}

export type Bundle = (typeof BUNDLES)[keyof typeof BUNDLES];

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
}

/** esbuild's options for one bundle (exported for the tests, which build in memory). */
export function bundleOptions(bundle: Bundle, outDir: string): BuildOptions {
  const { entry, out, product, split } = bundle;
  const output: BuildOptions = split
    ? {
        entryPoints: { [out.replace(/^.*\//, '').replace(/\.mjs$/, '')]: entry },
        outdir: join(outDir, dirname(out)),
        splitting: true,
        chunkNames: 'chunks/[name]-[hash]',
        outExtension: { '.js': '.mjs' },
      }
    : { entryPoints: [entry], outfile: join(outDir, out) };
  return {
    absWorkingDir: REPO,
    ...output,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    // The product carries its dependencies; the test bed uses the checkout's node_modules.
    packages: product ? 'bundle' : 'external',
    external: product ? devOnlyPackages() : [],
    banner: { js: product ? COMMONJS_SHIM : '' },
    // Whitespace and syntax only: identifiers stay readable in stack traces and heap snapshots.
    minifyWhitespace: product,
    minifySyntax: product,
    legalComments: product ? 'eof' : 'inline',
    // The image has no package.json to read the version from at start (shared/version.ts).
    define: { __FLEETIQ_VERSION__: JSON.stringify(packageVersion()) },
    metafile: true,
    logLevel: 'warning',
  };
}

export async function buildAll(
  outDir = join(REPO, 'dist'),
  only: (keyof typeof BUNDLES)[] = Object.keys(BUNDLES) as (keyof typeof BUNDLES)[],
): Promise<Partial<Record<keyof typeof BUNDLES, Metafile>>> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'meta'), { recursive: true });
  const metafiles: Partial<Record<keyof typeof BUNDLES, Metafile>> = {};
  for (const name of only) {
    const result = await build(bundleOptions(BUNDLES[name], outDir));
    metafiles[name] = result.metafile!;
    // What went into each bundle, for the dependency check (test/build) and for anyone asking why it is big.
    writeFileSync(join(outDir, 'meta', `${name}.json`), JSON.stringify(result.metafile));
  }
  return metafiles;
}

// node scripts/build.ts [--only image,plugin] [OUT_DIR]: the image's build stage has the product's
// sources only, and builds the image's bundle only.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--only');
  const only = at >= 0 ? (args.splice(at, 2)[1] ?? '').split(',') : Object.keys(BUNDLES);
  const unknown = only.filter((n) => !(n in BUNDLES));
  if (unknown.length > 0 || args.length > 1) {
    process.stderr.write(
      `usage: node scripts/build.ts [--only ${Object.keys(BUNDLES).join(',')}] [OUT_DIR]\n`,
    );
    process.exit(2);
  }
  await buildAll(args[0] ? resolve(args[0]) : undefined, only as (keyof typeof BUNDLES)[]);
}
