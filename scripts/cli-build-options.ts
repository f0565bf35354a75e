/**
 * How the CLI is compiled (scripts/build-cli.ts): esbuild's options, shared with bench/cli-probe-build.ts so that the
 * benchmark's probe is compiled exactly as the CLI users run is. Split into chunks at the dynamic imports, so a
 * command still loads only its own code. Every npm package stays external (native addons, the SDK, vega: loaded
 * from node_modules as the sources load them), so the output folder must sit inside the project.
 *
 * A compiled module sits in the output folder, not beside its source, so `import.meta.url` is rewritten to the
 * source's own URL (relative to the chunk): paths built from it (the project root, worker entries, the local
 * stack's server files, the sieve's .wasm) stay what they are when the sources run.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildOptions, Plugin } from 'esbuild';
import { PROJECT_ROOT } from '../cli/compiled.js';

/** `import.meta.url` outside string literals on its line (a line with an odd number of quotes before it is inside one). */
function sourceUrls(code: string, file: string, outdir: string): string {
  const fromBuild = path.relative(outdir, file).split(path.sep).join('/');
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

function keepSourceUrls(outdir: string): Plugin {
  return {
    name: 'keep-source-urls',
    setup(esbuild) {
      esbuild.onLoad({ filter: /\.[cm]?[jt]s$/ }, async ({ path: file }) => {
        if (file.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
        const code = await readFile(file, 'utf8');
        if (!code.includes('import.meta.url')) return undefined;
        return { contents: sourceUrls(code, file, outdir), loader: file.endsWith('ts') ? 'ts' : 'js' };
      });
    },
  };
}

/** The options that compile `entryPoints` (relative to the project) into `outdir` as the CLI is compiled. */
export function cliBuildOptions(
  entryPoints: Record<string, string>,
  outdir: string,
): BuildOptions & { metafile: true } {
  return {
    absWorkingDir: PROJECT_ROOT,
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    chunkNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    plugins: [keepSourceUrls(outdir)],
  };
}
