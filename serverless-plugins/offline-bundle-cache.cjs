'use strict';
// `sls offline` only: lets serverless-esbuild reuse the function bundles and the externals it installed at the
// previous start when nothing they were made from has changed. Without it every local stack start bundles all the
// functions again and runs `npm ci` + `npm prune` for the externals: most of serverless-offline's ~8 s boot.
//
// serverless-esbuild has no such cache (its buildCache lives in the process; skipBuild means "someone else built
// it"), so this plugin wraps two of its methods, bundle and packExternalModules, in this process only. A build that
// does run asks esbuild for its metafile, and the files it lists — every module each bundle read, node_modules
// included — are hashed into .esbuild/offline-inputs.json with the bundles, the installed externals' lockfile and
// serverless.yml; the next start reuses the output only if every one of them hashes the same (input-manifest.cjs).
// `sls package`/`deploy` never go through here: what ships is always built fresh.
const path = require('node:path');
const { manifestHolds, writeManifest } = require('./input-manifest.cjs');

const MANIFEST = path.join('.esbuild', 'offline-inputs.json');
const WRAPPED = Symbol('offline-bundle-cache');

class OfflineBundleCache {
  constructor(serverless) {
    this.serverless = serverless;
    const wrap = () => this.wrap();
    // Ours run before serverless-esbuild's hooks of the same events: the plugin is listed before it.
    this.hooks = { 'before:offline:start': wrap, 'before:offline:start:init': wrap };
  }

  wrap() {
    const plugin = this.serverless.pluginManager.plugins.find(
      (p) => p?.constructor?.name === 'EsbuildServerlessPlugin',
    );
    if (plugin === undefined) throw new Error('offline-bundle-cache: serverless-esbuild is not loaded');
    if (plugin[WRAPPED]) return;
    plugin[WRAPPED] = true;
    const root = plugin.serviceDirPath;
    const manifest = path.join(root, MANIFEST);
    const bundle = plugin.bundle;
    const packExternalModules = plugin.packExternalModules;
    let reused = false;
    let inputs = [];

    plugin.bundle = async () => {
      const key = buildKey(plugin);
      // Checked again on every call: serverless-esbuild's watcher calls bundle() when a file changes.
      if (manifestHolds(root, manifest, key)) {
        plugin.prepare();
        plugin.buildResults = bundlePaths(plugin).map(({ func, functionAlias, bundlePath }) => ({
          func,
          functionAlias,
          bundlePath,
        }));
        reused = true;
        this.serverless.cli.log('Function bundles in .esbuild/ are up to date (offline-bundle-cache)');
        return;
      }
      reused = false;
      plugin.buildOptions.metafile = true;
      await bundle.call(plugin);
      inputs = Object.values(plugin.buildCache).flatMap(({ result }) =>
        Object.keys(result?.metafile?.inputs ?? {}).map((file) => path.resolve(file)),
      );
    };

    plugin.packExternalModules = async () => {
      if (reused) return;
      await packExternalModules.call(plugin);
      // Written only once the externals are installed too: a start cut short in between builds again.
      const outputs = bundlePaths(plugin).flatMap(({ bundlePath }) => {
        const file = path.join(plugin.buildDirPath, bundlePath);
        return [file, `${file}.map`];
      });
      const installed = ['package.json', 'package-lock.json', path.join('node_modules', '.package-lock.json')].map(
        (file) => path.join(plugin.buildDirPath, file),
      );
      const project = ['serverless.yml', 'package.json', 'package-lock.json'];
      writeManifest(root, manifest, [...project, ...inputs, ...outputs, ...installed], buildKey(plugin));
    };
  }
}

/** Each function's bundle, named as serverless-esbuild names it (relative to its build folder). */
function bundlePaths(plugin) {
  const extension = plugin.buildOptions.outputFileExtension;
  return plugin.functionEntries.map(({ entry, func, functionAlias }) => ({
    func,
    functionAlias,
    bundlePath: entry.slice(0, entry.lastIndexOf('.')) + extension,
  }));
}

/** What decides the bundles besides the files: the build options, the entries, this Node (externals' binaries). */
function buildKey(plugin) {
  const { metafile: _, ...options } = plugin.buildOptions;
  const entries = plugin.functionEntries.map(({ entry, functionAlias }) => [functionAlias, entry]);
  return JSON.stringify({ options, entries, node: process.version, platform: `${process.platform}-${process.arch}` });
}

module.exports = OfflineBundleCache;
