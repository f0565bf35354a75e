/**
 * `npm run size`: the files and functions over issue 13's size limits (a source file over ~400 lines, a function
 * over ~80), read with the TypeScript compiler API so that arrows and methods count as well as declarations.
 * A function whose leading comment names the benchmark that keeps it long (`size: hot`, see sieve.ts) is listed
 * apart, not as an offender. Exits 1 when something is over, so CI may run it; `--all` lists the longest ones
 * even under the limits.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOTS = ['lib', 'functions', 'cli', 'local-stack', 'bench'];
const FILE_LIMIT = 400;
const FUNCTION_LIMIT = 80;
/** The marker a deliberately long hot function carries in its leading comment. */
const HOT_MARKER = /size:\s*hot/;

interface Finding {
  file: string;
  name: string;
  line: number;
  lines: number;
  hot: boolean;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** A readable name for a function node: its own, the variable or property it is assigned to, or `<anonymous>`. */
function nameOf(node: ts.Node, file: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(file);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText(file);
  }
  if (ts.isCallExpression(parent)) return `<callback of ${parent.expression.getText(file).slice(0, 40)}>`;
  return '<anonymous>';
}

function isFunction(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** The comment above a function, or above the statement that holds it (`const f = () => …`). */
function leadingComment(node: ts.Node, file: ts.SourceFile): string {
  let holder: ts.Node = node;
  while (
    holder.parent &&
    !ts.isSourceFile(holder.parent) &&
    !ts.isBlock(holder.parent) &&
    !ts.isClassLike(holder.parent)
  ) {
    holder = holder.parent;
  }
  const text = file.getFullText();
  const ranges = ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? [];
  return ranges.map((range) => text.slice(range.pos, range.end)).join('\n');
}

function scan(path: string): { lines: number; functions: Finding[] } {
  const text = readFileSync(path, 'utf8');
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const functions: Finding[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunction(node) && node.body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      functions.push({
        file: path,
        name: nameOf(node, file),
        line: start + 1,
        lines: end - start + 1,
        hot: HOT_MARKER.test(leadingComment(node, file)),
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return { lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0), functions };
}

const all = process.argv.includes('--all');
const root = process.cwd();
const files: { file: string; lines: number }[] = [];
const functions: Finding[] = [];
for (const dir of ROOTS) {
  for (const path of sources(join(root, dir))) {
    const result = scan(path);
    files.push({ file: relative(root, path), lines: result.lines });
    for (const f of result.functions) functions.push({ ...f, file: relative(root, path) });
  }
}

const longFiles = files.filter((f) => all || f.lines > FILE_LIMIT).sort((a, b) => b.lines - a.lines);
const longFunctions = functions.filter((f) => all || f.lines > FUNCTION_LIMIT).sort((a, b) => b.lines - a.lines);
const shown = all ? 25 : Infinity;

console.log(`files over ${FILE_LIMIT} lines:`);
for (const f of longFiles.slice(0, shown)) console.log(`  ${String(f.lines).padStart(5)}  ${f.file}`);
console.log(`functions over ${FUNCTION_LIMIT} lines:`);
for (const f of longFunctions.slice(0, shown)) {
  console.log(
    `  ${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}${f.hot ? '  (hot, kept long on purpose)' : ''}`,
  );
}
const offenders =
  longFiles.filter((f) => f.lines > FILE_LIMIT).length +
  longFunctions.filter((f) => f.lines > FUNCTION_LIMIT && !f.hot).length;
console.log(`${offenders} over the limits`);
process.exitCode = offenders > 0 ? 1 : 0;
