// The benchmarks stand apart from the tests: what they share with them lives in the source tree
// (sandbox/system/) or in bench/lib.ts, so a test can change without changing what a benchmark measures.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const BENCH = join(process.cwd(), 'bench');

/** Every module specifier a file imports (static, dynamic, re-export). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm))
    out.push(m[2]!);
  return out;
}

describe('bench/', () => {
  it('finds imports of every form', () => {
    expect(
      importsOf(
        "import { a } from '../x.js';\nimport '../side.js';\nconst m = await import('../test/y.js');\nexport * from \"./z.js\";",
      ),
    ).toEqual(['../x.js', '../side.js', '../test/y.js', './z.js']);
  });

  it('imports nothing from test/', () => {
    const offending = readdirSync(BENCH)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        importsOf(readFileSync(join(BENCH, f), 'utf8'))
          .filter((spec) => /(^|\/)test\//.test(spec))
          .map((spec) => `bench/${f}: ${spec}`),
      );
    expect(offending).toEqual([]);
  });
});
