import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

type Hook = () => Promise<void> | void;
type CachePlugin = { hooks: Record<string, Hook> };
/** The plugin is CommonJS, as the framework loads it; its one export is the class. */
const OfflineBundleCache = createRequire(import.meta.url)('../../serverless-plugins/offline-bundle-cache.cjs') as new (
  serverless: unknown,
) => CachePlugin;

/** Stands in for serverless-esbuild: records its builds and writes what a build writes. */
class EsbuildServerlessPlugin {
  builds = 0;
  installs = 0;
  buildCache: Record<string, { result: { metafile: { inputs: Record<string, object> } } }> = {};
  buildResults: unknown[] = [];
  buildOptions: Record<string, unknown> = { outputFileExtension: '.js', minify: false };
  readonly buildDirPath: string;
  readonly functionEntries = [
    { entry: 'functions/f.ts', func: { handler: 'functions/f.handler' }, functionAlias: 'f' },
  ];
  constructor(readonly serviceDirPath: string) {
    this.buildDirPath = path.join(serviceDirPath, '.esbuild', '.build');
  }
  prepare(): void {}
  async bundle(): Promise<void> {
    this.builds++;
    mkdirSync(path.join(this.buildDirPath, 'functions'), { recursive: true });
    writeFileSync(path.join(this.buildDirPath, 'functions', 'f.js'), `built ${this.builds}\n`);
    const inputs = {
      [path.join(this.serviceDirPath, 'functions', 'f.ts')]: {},
      [path.join(this.serviceDirPath, 'lib', 'l.ts')]: {},
    };
    this.buildCache = { 'functions/f.ts': { result: { metafile: { inputs } } } };
  }
  async packExternalModules(): Promise<void> {
    this.installs++;
    writeFileSync(path.join(this.buildDirPath, 'package-lock.json'), '{}\n');
  }
}

describe('offline-bundle-cache', () => {
  let root: string;
  let esbuild: EsbuildServerlessPlugin | undefined;
  const logs: string[] = [];

  /** One `sls offline start` as far as the two plugins go: a fresh process each time, as a restarted stack. */
  async function start(): Promise<void> {
    const previous = esbuild;
    const next = new EsbuildServerlessPlugin(root);
    next.builds = previous?.builds ?? 0;
    next.installs = previous?.installs ?? 0;
    next.buildOptions = { ...(previous?.buildOptions ?? next.buildOptions) };
    esbuild = next;
    const serverless = { pluginManager: { plugins: [next] }, cli: { log: (line: string) => logs.push(line) } };
    await new OfflineBundleCache(serverless).hooks['before:offline:start:init']!();
    await next.bundle();
    await next.packExternalModules();
  }

  beforeEach(() => {
    esbuild = undefined;
    root = mkdtempSync(path.join(tmpdir(), 'cp-offline-cache-'));
    mkdirSync(path.join(root, 'functions'));
    mkdirSync(path.join(root, 'lib'));
    writeFileSync(path.join(root, 'functions', 'f.ts'), 'export const handler = () => 1;\n');
    writeFileSync(path.join(root, 'lib', 'l.ts'), 'export const l = 1;\n');
    writeFileSync(path.join(root, 'serverless.yml'), 'service: s\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('builds and installs on the first start, and reuses both while nothing changed', async () => {
    await start();
    await start();
    expect([esbuild?.builds, esbuild?.installs]).toEqual([1, 1]);
    expect(esbuild?.buildResults).toEqual([
      expect.objectContaining({ functionAlias: 'f', bundlePath: 'functions/f.js' }),
    ]);
  });

  it.each([
    [
      'a function changes',
      () => writeFileSync(path.join(root, 'functions', 'f.ts'), 'export const handler = () => 2;\n'),
    ],
    ['a lib module it imports changes', () => writeFileSync(path.join(root, 'lib', 'l.ts'), 'export const l = 2;\n')],
    ['serverless.yml changes', () => writeFileSync(path.join(root, 'serverless.yml'), 'service: t\n')],
    [
      'the bundle was overwritten (sls package)',
      () => writeFileSync(path.join(root, '.esbuild', '.build', 'functions', 'f.js'), 'x'),
    ],
    ['the bundle was deleted', () => rmSync(path.join(root, '.esbuild', '.build'), { recursive: true })],
    [
      'the build options change',
      () => {
        esbuild!.buildOptions = { ...esbuild!.buildOptions, minify: true };
      },
    ],
  ])('builds and installs again when %s', async (_what, change) => {
    await start();
    change();
    await start();
    expect([esbuild?.builds, esbuild?.installs]).toEqual([2, 2]);
    await start();
    expect([esbuild?.builds, esbuild?.installs]).toEqual([2, 2]);
  });

  it('builds again after a start that stopped between bundling and installing', async () => {
    await start();
    writeFileSync(path.join(root, 'lib', 'l.ts'), 'export const l = 3;\n');
    const interrupted = new EsbuildServerlessPlugin(root);
    interrupted.builds = esbuild!.builds;
    const serverless = { pluginManager: { plugins: [interrupted] }, cli: { log: () => {} } };
    await new OfflineBundleCache(serverless).hooks['before:offline:start:init']!();
    await interrupted.bundle();
    esbuild = interrupted; // the install never runs: the manifest still describes the first build
    await start();
    expect(esbuild?.builds).toBe(3);
  });
});
