// What every benchmark repeats: its command-line settings, percentiles, the machine it ran on, and its
// results file (bench/results/<name>.json, which `npm run bench` collects into bench/results.json).
// The systems they measure come from the system builder (sandbox/system/system.ts); nothing here or
// in the benchmarks comes from test/.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The value after `--name` on the command line, or `fallback`. */
export function argString(name: string, fallback: string, argv: string[] = process.argv): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}

/**
 * `--name` as a number, or `fallback`. With `positive`, anything but a positive number stops the
 * benchmark with a message naming the flag.
 */
export function argNumber(
  name: string,
  fallback: number,
  options: { positive?: boolean; argv?: string[] } = {},
): number {
  const argv = options.argv ?? process.argv;
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (options.positive && (!Number.isFinite(v) || v <= 0))
    throw new Error(`--${name} must be a positive number`);
  return v;
}

/** The nearest-rank percentile `p` (0-100) of values sorted ascending; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The same, of values in any order. */
export function percentileOf(values: readonly number[], p: number): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    p,
  );
}

export function round(x: number, digits = 1): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The machine the figures were measured on. */
export function machine(): { cpus: number; model: string | undefined; node: string; loadAverage: number[] } {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    node: process.version,
    loadAverage: loadavg().map((l) => round(l, 2)),
  };
}

/** Writes `result` as JSON to bench/results/<name>.json; returns the path relative to the repository. */
export async function writeResults(name: string, result: unknown): Promise<string> {
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(join(here, 'results', `${name}.json`), JSON.stringify(result, null, 2) + '\n');
  return `bench/results/${name}.json`;
}

/** Polls `condition` every `intervalMs` until it is truthy (returned) or `timeoutMs` passes (throws). */
export async function waitFor<T>(
  what: string,
  condition: () => T | Promise<T>,
  timeoutMs: number,
  intervalMs = 10,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await condition();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}
