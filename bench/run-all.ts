// `npm run bench`: runs every `bench:*` npm script one after another (they each need the machine to
// themselves), collects what each wrote to bench/results/<name>.json, and writes bench/results.json
// with a table of the headline figures. A failing benchmark is recorded and the others still run; the
// exit code is 1 if any failed.
//
// Usage: npm run bench [-- --only sandbox,webhook]
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

interface Outcome {
  script: string;
  exitCode: number;
  seconds: number;
  result?: unknown;
}

/** The `bench:*` scripts of package.json, in file order. */
export function benchScripts(scripts: Record<string, string>): string[] {
  return Object.keys(scripts).filter((s) => s.startsWith('bench:'));
}

/**
 * A few headline numbers from a result file: its own `headline` object when it has one, else the
 * first numbers found at the top level and up to two levels down.
 */
export function headline(result: unknown, limit = 6): string {
  if (!result || typeof result !== 'object') return '';
  const own = (result as { headline?: unknown }).headline;
  if (own && typeof own === 'object')
    return Object.entries(own as Record<string, unknown>)
      .map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 100) / 100 : String(v)}`)
      .join(', ');
  const out: string[] = [];
  const skip = new Set([
    'date',
    'node',
    'cpus',
    'loadAverageBefore',
    'loadAverageAfter',
    'settings',
    'method',
  ]);
  const visit = (obj: Record<string, unknown>, prefix: string, depth: number) => {
    for (const [k, v] of Object.entries(obj)) {
      if (out.length >= limit) return;
      if (skip.has(k)) continue;
      if (typeof v === 'number') out.push(`${prefix}${k}=${Math.round(v * 100) / 100}`);
      else if (v && typeof v === 'object' && !Array.isArray(v) && depth < 2)
        visit(v as Record<string, unknown>, `${prefix}${k}.`, depth + 1);
    }
  };
  visit(result as Record<string, unknown>, '', 0);
  return out.join(', ');
}

function runScript(script: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', script], { cwd: root, stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.on('error', () => resolve(1));
  });
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const only = process.argv.includes('--only')
    ? new Set(process.argv[process.argv.indexOf('--only') + 1]?.split(',').map((s) => `bench:${s.trim()}`))
    : undefined;
  const scripts = benchScripts(pkg.scripts).filter((s) => !only || only.has(s));
  const outcomes: Outcome[] = [];
  for (const script of scripts) {
    console.log(`\n=== ${script} ===`);
    const t0 = Date.now();
    const exitCode = await runScript(script);
    const name = script.slice('bench:'.length);
    let result: unknown;
    try {
      result = JSON.parse(await readFile(join(here, 'results', `${name}.json`), 'utf8'));
    } catch {
      result = undefined;
    }
    outcomes.push({
      script,
      exitCode,
      seconds: Math.round((Date.now() - t0) / 1000),
      ...(result ? { result } : {}),
    });
  }
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    benchmarks: Object.fromEntries(
      outcomes.map((o) => [
        o.script.slice('bench:'.length),
        { exitCode: o.exitCode, seconds: o.seconds, result: o.result ?? null },
      ]),
    ),
  };
  await writeFile(join(here, 'results.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log('\n| benchmark | result | seconds | headline figures |');
  console.log('|---|---|---|---|');
  for (const o of outcomes)
    console.log(
      `| ${o.script} | ${o.exitCode === 0 ? 'ok' : `FAILED (exit ${o.exitCode})`} | ${o.seconds} | ${headline(o.result)} |`,
    );
  console.log('\nwrote bench/results.json');
  process.exit(outcomes.some((o) => o.exitCode !== 0) ? 1 : 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main();
}
