// Every Markdown table in the repository's documentation renders as its author meant: each row has as
// many cells as its header. A pipe inside a cell that is not escaped (or escaped twice, `\\|`) splits the
// cell and shifts the rest of the row, which GitHub renders as a corrupted table. Parsed with a real
// Markdown parser (remark, as bundled in prettier's markdown plugin), not a regular expression.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import * as markdown from 'prettier/plugins/markdown';

const REPO = process.cwd();
const SKIP = new Set(['node_modules', '.git', 'dist', '.sandbox', 'testbed', 'coverage']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

interface MdNode {
  type: string;
  children?: MdNode[];
  position?: { start: { line: number } };
}

async function tables(text: string): Promise<Array<{ line: number; cells: number[] }>> {
  const parser = (
    markdown as unknown as { parsers: Record<string, { parse(t: string, o: object): unknown }> }
  ).parsers.markdown!;
  const ast = (await parser.parse(text, {})) as MdNode;
  const out: Array<{ line: number; cells: number[] }> = [];
  const walk = (n: MdNode) => {
    if (n.type === 'table')
      out.push({
        line: n.position!.start.line,
        cells: (n.children ?? []).map((r) => r.children?.length ?? 0),
      });
    for (const c of n.children ?? []) walk(c);
  };
  walk(ast);
  return out;
}

describe('Markdown tables', () => {
  it('the checker sees a cell split by a doubly escaped pipe', async () => {
    const broken = '| a | b |\n| - | - |\n| `x\\\\| y` | z |\n';
    expect(await tables(broken)).toEqual([{ line: 1, cells: [2, 3] }]);
    expect(await tables('| a | b |\n| - | - |\n| x \\| y | z |\n')).toEqual([{ line: 1, cells: [2, 2] }]);
  });

  const files = markdownFiles(REPO);

  it('finds the documentation', () => {
    expect(files.map((f) => relative(REPO, f))).toEqual(
      expect.arrayContaining(['README.md', 'sandbox/run/README.md', 'reconciler/README.md']),
    );
  });

  it.each(files.map((f) => [relative(REPO, f), f]))(
    '%s: every row has as many cells as its header',
    async (_, file) => {
      const bad = (await tables(readFileSync(file, 'utf8')))
        .map((t) => ({ line: t.line, header: t.cells[0], rows: t.cells.slice(1) }))
        .filter((t) => t.rows.some((n) => n !== t.header));
      expect(bad).toEqual([]);
    },
  );
});
