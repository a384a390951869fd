// The tree's shape as a test: layers import downward only, nothing imports the CLI, no import cycle, no source
// file too long to read in one sitting. It reads the import lines of every source file (no bundler, no type
// checker: a regular expression over `import`/`export ... from` is enough for this code base, which has no
// dynamic import of its own modules outside the entry points listed below).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SOURCE_ROOTS = ['server', 'shared', 'web/src', 'e2e', 'test', 'scripts', 'bin'];
const SOURCE_FILE = /\.(ts|mts|cts|js|mjs|cjs|svelte)$/;
const MAX_LINES = 500;

function listFiles(dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(join(ROOT, dir), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist') out.push(...listFiles(rel));
    } else if (SOURCE_FILE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const files = SOURCE_ROOTS.flatMap(listFiles).sort();
const fileSet = new Set(files);

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Repository-relative paths of the repository files `file` imports (packages and node: modules left out). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec || !spec.startsWith('.')) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
    const candidates = [target, target.replace(/\.js$/, '.ts'), `${target}.ts`, join(target, 'index.ts')];
    const hit = candidates.find((c) => fileSet.has(c));
    if (hit) out.push(hit);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));
const within = (file: string, folder: string) => file === folder || file.startsWith(`${folder}/`);

/** The layers below the trace, from the top: each may import only itself, the layers under it, and the floors. */
const LOWER_LAYERS = ['server/iscsi', 'server/scsi', 'server/store'];
const FLOORS = ['server/taps', 'server/config', 'shared'];

describe('layering', () => {
  it('server/iscsi, server/scsi and server/store import only downward (and the floors under them)', () => {
    const bad: string[] = [];
    for (const [file, deps] of graph) {
      const layer = LOWER_LAYERS.findIndex((l) => within(file, l));
      if (layer < 0) continue;
      for (const dep of deps) {
        const ok = LOWER_LAYERS.slice(layer).some((l) => within(dep, l)) || FLOORS.some((f) => within(dep, f));
        if (!ok) bad.push(`${file} -> ${dep}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('nothing outside server/cli imports from server/cli (the entry point excepted)', () => {
    const entry = new Set(['server/cli.ts']);
    const bad = [...graph].flatMap(([file, deps]) =>
      within(file, 'server/cli') || entry.has(file) ? [] : deps.filter((d) => within(d, 'server/cli')).map((d) => `${file} -> ${d}`),
    );
    expect(bad).toEqual([]);
  });

  it('shared/ imports nothing from server/ or web/, and web/ nothing from server/', () => {
    const bad = [...graph].flatMap(([file, deps]) => {
      if (within(file, 'shared')) return deps.filter((d) => within(d, 'server') || within(d, 'web')).map((d) => `${file} -> ${d}`);
      if (within(file, 'web')) return deps.filter((d) => within(d, 'server')).map((d) => `${file} -> ${d}`);
      return [];
    });
    expect(bad).toEqual([]);
  });

  it('has no import cycle', () => {
    // Tarjan's strongly connected components: any component of more than one file (or a file importing itself) is a cycle.
    let counter = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const onStack = new Set<string>();
    const stack: string[] = [];
    const cycles: string[][] = [];
    const visit = (v: string): void => {
      index.set(v, counter);
      low.set(v, counter);
      counter++;
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!index.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
      }
    };
    for (const f of files) if (!index.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it(`has no source file over ${MAX_LINES} lines`, () => {
    const long = files
      .map((f) => ({ f, lines: readFileSync(join(ROOT, f), 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > MAX_LINES)
      .map(({ f, lines }) => `${f}: ${lines}`);
    expect(long).toEqual([]);
  });

  it('sees the tree it checks (a guard against a scan that finds nothing)', () => {
    expect(files.length).toBeGreaterThan(200);
    expect(graph.get('server/iscsi/target.ts')?.length).toBeGreaterThan(3);
  });
});
