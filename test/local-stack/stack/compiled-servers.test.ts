import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { OnLoadArgs, OnLoadResult, PluginBuild } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { BUILD_DIR, PROJECT_ROOT } from '../../../cli/compiled.js';
import {
  decideCompiled,
  isStackServerEntry,
  serverArgs,
  STACK_SERVERS,
  type StackServer,
  stackServerEntries,
  stackServerEntryPoints,
} from '../../../local-stack/stack/compiled-servers.ts';

const names = Object.keys(STACK_SERVERS) as StackServer[];

/** The plugin's onLoad, captured from a stand-in for esbuild (no build, no esbuild process). */
function entryLoader(): (args: Pick<OnLoadArgs, 'path'>) => OnLoadResult {
  let load: ((args: Pick<OnLoadArgs, 'path'>) => OnLoadResult) | undefined;
  const build = {
    onResolve: () => undefined,
    onLoad: (_options: unknown, callback: (args: Pick<OnLoadArgs, 'path'>) => OnLoadResult) => {
      load = callback;
    },
  } as unknown as PluginBuild; // only the two hooks the plugin registers
  void stackServerEntries.setup(build);
  if (load === undefined) throw new Error('the plugin registered no onLoad');
  return load;
}

describe('the stack servers compiled or from their sources', () => {
  it('names a source that exists for every server', () => {
    for (const name of names) expect(existsSync(path.join(PROJECT_ROOT, STACK_SERVERS[name])), name).toBe(true);
  });

  it('runs a source through tsx, or its compiled entry in .cli-build/stack/', () => {
    for (const name of names) {
      const source = serverArgs(name, false);
      expect(source[0]).toBe('--import');
      expect(source.at(-1)).toBe(path.join(PROJECT_ROOT, STACK_SERVERS[name]));
      expect(serverArgs(name, true)).toEqual([path.join(BUILD_DIR, 'stack', `${name}.js`)]);
    }
  });

  it('runs the sources when CLOUD_PARALLEL_CLI_SOURCES=1 (as the tests set it)', () => {
    expect(process.env.CLOUD_PARALLEL_CLI_SOURCES).toBe('1');
    expect(decideCompiled()).toBe(false);
  });

  // A server runs its main only when process.argv[1] is its own file (shared/server-process.ts: isMainModule).
  it("gives each entry its source's path as argv[1] before the source runs, relative to the entry's place", () => {
    const load = entryLoader();
    const entries = stackServerEntryPoints();
    for (const name of names) {
      const virtual = entries[`stack/${name}`]!;
      expect(isStackServerEntry(virtual)).toBe(true);
      const { contents } = load({ path: virtual });
      const [argvLine, importLine] = String(contents).split('\n').slice(1);
      const relative = /new URL\(("[^"]+")/.exec(argvLine ?? '')?.[1];
      const entryUrl = pathToFileURL(path.join(BUILD_DIR, 'stack', `${name}.js`));
      expect(fileURLToPath(new URL(JSON.parse(relative ?? '""') as string, entryUrl))).toBe(
        path.join(PROJECT_ROOT, STACK_SERVERS[name]),
      );
      expect(importLine).toBe(`await import(${JSON.stringify(path.join(PROJECT_ROOT, STACK_SERVERS[name]))});`);
    }
  });

  it('records no virtual entry as a source file', () => {
    expect(isStackServerEntry('local-stack/mongo/main.ts')).toBe(false);
  });
});
