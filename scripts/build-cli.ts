/**
 * `npm run build:cli` (run by `npm install`'s prepare script): the CLI compiled by esbuild into .cli-build/, so a
 * command pays neither tsx's loader nor compiling TypeScript on every start. Split into chunks at the CLI's dynamic
 * imports, so a command still loads only its own code. Every npm package stays external (native addons, the SDK,
 * vega: loaded from node_modules as the sources load them). cli/compiled.js records the inputs and decides when
 * cli/bin.js may run the result.
 *
 * A compiled module sits in .cli-build/, not beside its source, so `import.meta.url` is rewritten to the source's
 * own URL (relative to the chunk): paths built from it (the project root, worker entries, the local stack's server
 * files, the sieve's .wasm) stay what they are when the sources run.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { BUILD_DIR, PROJECT_ROOT, writeStamp } from '../cli/compiled.js';
import {
  isStackServerEntry,
  stackServerEntries,
  stackServerEntryPoints,
} from '../local-stack/stack/compiled-servers.ts';

/** `import.meta.url` outside string literals on its line (a line with an odd number of quotes before it is inside one). */
function sourceUrls(code: string, file: string): string {
  const fromBuild = path.relative(BUILD_DIR, file).split(path.sep).join('/');
  const url = `new URL(${JSON.stringify(fromBuild)}, import.meta.url).href`;
  return code
    .split('\n')
    .map((line) =>
      line.replace(/import\.meta\.url/g, (match, at: number) => {
        const before = line.slice(0, at);
        const quotes = (before.match(/['"`]/g) ?? []).length;
        return quotes % 2 === 0 ? url : match;
      }),
    )
    .join('\n');
}

const keepSourceUrls: Plugin = {
  name: 'keep-source-urls',
  setup(esbuild) {
    esbuild.onLoad({ filter: /\.[cm]?[jt]s$/ }, async ({ path: file }) => {
      if (file.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const code = await readFile(file, 'utf8');
      if (!code.includes('import.meta.url')) return undefined;
      return { contents: sourceUrls(code, file), loader: file.endsWith('ts') ? 'ts' : 'js' };
    });
  },
};

await rm(BUILD_DIR, { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: PROJECT_ROOT,
  // The local stack's servers too (local-stack/stack/compiled-servers.ts): `local start` runs them from here.
  entryPoints: { main: 'cli/main.ts', ...stackServerEntryPoints() },
  outdir: BUILD_DIR,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
  plugins: [keepSourceUrls, stackServerEntries],
});
// The servers' virtual entries (three lines made from a name) have no file to record.
const inputs = Object.keys(metafile.inputs).filter(
  (file) => !file.includes('node_modules/') && !isStackServerEntry(file),
);
writeStamp(inputs);
process.stdout.write(`compiled the CLI into ${path.relative(PROJECT_ROOT, BUILD_DIR)}/ from ${inputs.length} files\n`);
