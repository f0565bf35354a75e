/**
 * The stack's servers run compiled, as the CLI does: `npm run build:cli` (scripts/build-cli.ts) adds one entry per
 * server to .cli-build/stack/, and a start runs those while cli/compiled.js finds the build matches every source it
 * was compiled from; otherwise (an edited source, no build, the tests' CLOUD_PARALLEL_CLI_SOURCES=1) the sources
 * through tsx, as before. Measured on `npm run bench -- cli --rows start`: each server under tsx spends most of its
 * start compiling TypeScript, and six of them at once compete with serverless-offline for the two cores.
 *
 * Each compiled entry first sets `process.argv[1]` to its source's path and then imports the source: a server runs
 * its `main` only when it is the script node was started with (shared/server-process.ts: isMainModule), and the
 * build keeps `import.meta.url` pointing at each source, so the server sees exactly what it sees from the sources.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Plugin } from 'esbuild';
import { BUILD_DIR, compiledEntry, PROJECT_ROOT } from '../../cli/compiled.js';

/** Each server the stack spawns, by the name of its compiled entry, and its source (relative to the project). */
export const STACK_SERVERS = {
  s3: 'local-stack/s3/process.ts',
  'lambda-front': 'local-stack/lambda/cli.ts',
  ec2: 'local-stack/ec2/cli.ts',
  mongo: 'local-stack/mongo/main.ts',
  api: 'local-stack/api-fixture/main.ts',
  dashboard: 'dashboard/main.ts',
} as const;

export type StackServer = keyof typeof STACK_SERVERS;

const NAMESPACE = 'stack-server';
const compiledFile = (name: string) => path.join(BUILD_DIR, 'stack', `${name}.js`);

/** esbuild's entry points for the servers: `stack/<name>` built from a virtual module that starts its source. */
export function stackServerEntryPoints(): Record<string, string> {
  return Object.fromEntries(Object.keys(STACK_SERVERS).map((name) => [`stack/${name}`, `${NAMESPACE}:${name}`]));
}

/** True for a virtual entry in esbuild's metafile (namespace-prefixed), which has no source file of its own. */
export const isStackServerEntry = (input: string): boolean => input.startsWith(`${NAMESPACE}:`);

/** Resolves the virtual entries of stackServerEntryPoints; the source itself is bundled as any other module. */
export const stackServerEntries: Plugin = {
  name: 'stack-server-entries',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^${NAMESPACE}:`) }, ({ path: entry }) => ({
      path: entry,
      namespace: NAMESPACE,
    }));
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, ({ path: entry }) => {
      const name = entry.slice(NAMESPACE.length + 1) as StackServer;
      const source = path.join(PROJECT_ROOT, STACK_SERVERS[name]);
      const fromBuild = path
        .relative(path.dirname(compiledFile(name)), source)
        .split(path.sep)
        .join('/');
      // A dynamic import, so argv[1] is set before the source's module body runs (static imports run first).
      const contents = [
        "import { fileURLToPath } from 'node:url';",
        `process.argv[1] = fileURLToPath(new URL(${JSON.stringify(fromBuild)}, import.meta.url));`,
        `await import(${JSON.stringify(source)});`,
      ].join('\n');
      return { contents, loader: 'js', resolveDir: PROJECT_ROOT };
    });
  },
};

/**
 * How node runs a server: its compiled entry while the build matches the sources, else its source through tsx.
 * `compiled` is decided once per start (decideCompiled), so every server of one stack runs the same code.
 */
export function serverArgs(name: StackServer, compiled: boolean): string[] {
  if (compiled) return [compiledFile(name)];
  return ['--import', createRequire(import.meta.url).resolve('tsx'), path.join(PROJECT_ROOT, STACK_SERVERS[name])];
}

/** Whether this start may run the compiled servers: the build matches its sources and has every server's entry. */
export function decideCompiled(): boolean {
  const build = compiledEntry() as { url?: string };
  return build.url !== undefined && Object.keys(STACK_SERVERS).every((name) => existsSync(compiledFile(name)));
}
