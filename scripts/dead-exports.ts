/**
 * `npx tsx scripts/dead-exports.ts`: exports no other file imports, and files nobody imports, with the TypeScript
 * compiler's parser (the script blocks of .svelte files included). An export is `unused` when its name appears
 * nowhere else in its file either (dead code), `used-inside` when only its own file uses it (the `export` can go).
 * Entry points (tests, specs, scripts, bin/, the two configs, web/src/main.ts) are not reported. Exits 1 when it
 * reports anything. A finding is a lead, not a verdict: a file loaded by path (Playwright's globalSetup) or an
 * export kept for a caller on another branch shows up too.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIRS = ['server', 'shared', 'web/src', 'scripts', 'test', 'e2e', 'bin'];
const files: string[] = [];
function walk(d: string) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (n === 'node_modules' || n === 'dist') continue;
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(ts|svelte|mjs|cjs|js)$/.test(n) && !n.endsWith('.d.ts')) files.push(p);
  }
}
for (const d of DIRS) walk(join(ROOT, d));
for (const f of ['vite.config.ts', 'playwright.config.ts']) files.push(join(ROOT, f));

function source(f: string): string {
  const text = readFileSync(f, 'utf8');
  if (!f.endsWith('.svelte')) return text;
  return [...text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');
}
function resolveSpec(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.') && !spec.startsWith('/')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const c of [base, base + '.ts', base + '/index.ts', base.replace(/\.js$/, '.ts')]) if (existsSync(c) && statSync(c).isFile()) return c;
  return undefined;
}
const exportsOf = new Map<string, Map<string, number>>(); // file -> name -> line
const used = new Map<string, Set<string>>(); // file -> names imported by others ('*' = all)
const localUse = new Map<string, string>(); // file -> text for internal-use check
const use = (f: string, n: string) => {
  if (!used.has(f)) used.set(f, new Set());
  used.get(f)!.add(n);
};
const reexports: { from: string; to: string; names: [string, string][] | '*' }[] = [];

for (const f of files) {
  const text = source(f);
  localUse.set(f, text);
  const sf = ts.createSourceFile(f, text, ts.ScriptTarget.Latest, true, f.endsWith('.svelte') || f.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const ex = new Map<string, number>();
  const line = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const t = resolveSpec(f, node.moduleSpecifier.text);
      const c = node.importClause;
      if (t && c) {
        if (c.name) use(t, 'default');
        if (c.namedBindings) {
          if (ts.isNamespaceImport(c.namedBindings)) use(t, '*');
          else for (const e of c.namedBindings.elements) use(t, (e.propertyName ?? e.name).text);
        }
      } else if (t) use(t, '*side');
    } else if (ts.isExportDeclaration(node)) {
      const t = node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) ? resolveSpec(f, node.moduleSpecifier.text) : undefined;
      if (node.exportClause && ts.isNamedExports(node.exportClause)) {
        for (const e of node.exportClause.elements) {
          ex.set(e.name.text, line(e));
          if (t) reexports.push({ from: f, to: t, names: [[e.name.text, (e.propertyName ?? e.name).text]] });
        }
      } else if (t) reexports.push({ from: f, to: t, names: '*' });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      const t = resolveSpec(f, node.arguments[0].text);
      if (t) use(t, '*');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      const t = resolveSpec(f, node.argument.literal.text);
      if (t) use(t, node.qualifier && ts.isIdentifier(node.qualifier) ? node.qualifier.text : '*');
    }
    const mods = ts.canHaveModifiers(node) ? ts.getModifiers(node) : undefined;
    if (mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) && node.parent === sf) {
      const isDefault = mods.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
      if (isDefault) ex.set('default', line(node));
      else if (ts.isVariableStatement(node))
        for (const d of node.declarationList.declarations) {
          if (ts.isIdentifier(d.name)) ex.set(d.name.text, line(d));
        }
      else {
        const name = (node as ts.Node & { name?: ts.Node }).name;
        if (name && ts.isIdentifier(name)) ex.set(name.text, line(node));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  exportsOf.set(f, ex);
}
// propagate re-exports: if X re-exports name from Y and X's name is used, Y's is used.
for (let i = 0; i < 5; i++)
  for (const r of reexports) {
    const u = used.get(r.from);
    if (!u) continue;
    if (r.names === '*') {
      for (const n of u) use(r.to, n);
    } else for (const [outer, inner] of r.names) if (u.has(outer) || u.has('*')) use(r.to, inner);
  }
/** Files something runs by path: test runners, npm scripts, bench.sh, Playwright's globalSetup, the UI's entry. */
const isEntry = (f: string) =>
  (/\/(test|e2e)\//.test(f) && /\.(test|spec)\.ts$/.test(f)) ||
  (/\/scripts\//.test(f) && !/fuzz-(seeds|mutate|codecs|live|faults)\.ts$/.test(f)) ||
  /\/bin\//.test(f) ||
  /(vite|playwright)\.config\.ts$/.test(f) ||
  f.endsWith('e2e/global-setup.ts') ||
  f.endsWith('web/src/main.ts');
let findings = 0;
for (const [f, ex] of exportsOf) {
  if (isEntry(f)) continue;
  const u = used.get(f) ?? new Set();
  if (u.has('*')) continue;
  for (const [n, l] of ex) {
    if (u.has(n)) continue;
    if (f.endsWith('.svelte')) continue;
    const text = localUse.get(f)!;
    const count = (text.match(new RegExp(`\\b${n.replace(/\$/g, '\\$')}\\b`, 'g')) ?? []).length;
    console.log(`${relative(ROOT, f)}:${l}\t${n}\t${count > 1 ? 'used-inside' : 'unused'}`);
    findings++;
  }
}
console.log('--- files nobody imports (not entries) ---');
for (const f of files) {
  if (isEntry(f) || used.has(f)) continue;
  console.log(relative(ROOT, f));
  findings++;
}
process.exitCode = findings > 0 ? 1 : 0;
