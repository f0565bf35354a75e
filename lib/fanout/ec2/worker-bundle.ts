/**
 * EC2 workers are shipped as one self-contained ESM file each (`<name>.mjs`, exporting `run(task)`), which the
 * user data downloads with a presigned URL: an instance has no npm, no repository and no credentials. Each bundle
 * holds the runner (./runner.ts) too: the user data starts it as `node worker.mjs <task.json> <result.json>`, and
 * it writes the task's worker envelope.
 *
 * They are built with esbuild into {@link WORKER_BUNDLE_DIR} by
 *   - `sls package` / `sls deploy` / `sls offline` / `sls invoke local`, through the local plugin
 *     serverless-plugins/ec2-worker-bundles.cjs, which runs this file as a script (the fan-out function ships
 *     the bundle in its zip, see `package.patterns` in serverless.yml), which is how `cloud-parallel local start`
 *     (it starts `sls offline`) builds them;
 *   - the CLI's `--backend ec2`, in process, when its inputs changed ({@link ensureWorkerBundles}).
 * At run time the caller reads the bundle ({@link readWorkerBundle}) and uploads it next to the run's results.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../errors.ts';
import { SIEVE_WASM_PATH } from '../../primes/wasm-kernel.ts';
import { ROWS_WASM_PATH } from '../../rates/row-kernel.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Entry modules (relative to the project root) of the EC2 workers, by name. */
export const EC2_WORKERS = {
  primes: 'lib/primes/ec2-worker.ts',
  rates: 'lib/rates/ec2-worker.ts',
  'rates-chunk': 'lib/rates/parallel/ec2-worker.ts',
} as const;
export type Ec2WorkerName = keyof typeof EC2_WORKERS;

/** Relative to the project root, and to the function's root in its zip. */
export const WORKER_BUNDLE_DIR = '.ec2-workers';

/** The Node version the bundles are compiled for: the user data must find (or install) at least this major. */
export const WORKER_NODE_TARGET = 'node20';

/**
 * Builds every worker bundle into `outDir` (default `<project>/.ec2-workers`). Each file is written to a temporary
 * name and renamed, so a function reading it never sees half a bundle. esbuild is a build-time dependency, loaded
 * only when building: deployed functions read the built files and never call this.
 */
export async function buildWorkerBundles(
  outDir = path.join(PROJECT_ROOT, WORKER_BUNDLE_DIR),
): Promise<Record<Ec2WorkerName, string>> {
  mkdirSync(outDir, { recursive: true });
  const built = {} as Record<Ec2WorkerName, string>;
  const inputs = new Set(BUILD_INPUTS);
  for (const [name, entry] of Object.entries(EC2_WORKERS) as [Ec2WorkerName, string][]) {
    const { contents, read } = await bundleWorker(path.join(PROJECT_ROOT, entry));
    for (const file of read) inputs.add(file);
    const file = path.join(outDir, `${name}.mjs`);
    // Rewrite only what changed: the fan-out function's package lists these files, so serverless-offline's
    // watcher reloads every handler when one is written — and a reload drops invocations in flight.
    if (!sameBytes(file, contents)) {
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, contents);
      renameSync(temporary, file);
    }
    built[name] = file;
  }
  // What the plugin checks before it spends a process and seconds on building again (ec2-worker-bundles.cjs).
  inputManifest().writeManifest(PROJECT_ROOT, path.join(outDir, INPUTS_MANIFEST), [...inputs, ...Object.values(built)]);
  return built;
}

/**
 * The bundles in `outDir` as {@link buildWorkerBundles} returns them, built only when its inputs.json no longer
 * holds (a file the last build read, or a bundle, has other contents now): the check the serverless plugin makes
 * (ec2-worker-bundles.cjs), milliseconds against the seconds esbuild takes, which a CLI run with `--backend ec2`
 * paid every time. `onBuild` hears of a build before it starts, to tell the user what the wait is.
 */
export async function ensureWorkerBundles(
  options: { outDir?: string; onBuild?: () => void } = {},
): Promise<Record<Ec2WorkerName, string>> {
  const outDir = options.outDir ?? path.join(PROJECT_ROOT, WORKER_BUNDLE_DIR);
  if (inputManifest().manifestHolds(PROJECT_ROOT, path.join(outDir, INPUTS_MANIFEST))) {
    const names = Object.keys(EC2_WORKERS) as Ec2WorkerName[];
    return Object.fromEntries(names.map((name) => [name, path.join(outDir, `${name}.mjs`)])) as Record<
      Ec2WorkerName,
      string
    >;
  }
  options.onBuild?.();
  return buildWorkerBundles(outDir);
}

/** Lists every file the bundles in its folder were built from, and the bundles, with their hashes. */
export const INPUTS_MANIFEST = 'inputs.json';

/** The WebAssembly modules the bundles carry inline, by the `define` their loaders read. */
const INLINED_WASM = { SIEVE_WASM_BASE64: SIEVE_WASM_PATH, ROWS_WASM_BASE64: ROWS_WASM_PATH };

/** Inputs esbuild does not see as modules: this builder (its options), esbuild's version, the inlined kernels. */
const BUILD_INPUTS = [
  fileURLToPath(import.meta.url),
  path.join(PROJECT_ROOT, 'node_modules', 'esbuild', 'package.json'),
  ...Object.values(INLINED_WASM).map((file) => path.join(PROJECT_ROOT, file)),
];

type InputManifest = typeof import('../../../serverless-plugins/input-manifest.cjs');
/**
 * The manifest's one implementation is CommonJS, because the serverless plugins that read it are; required when
 * building only, so the functions that bundle this module (to read the bundles) do not carry it.
 */
const inputManifest = () =>
  createRequire(import.meta.url)('../../../serverless-plugins/input-manifest.cjs') as InputManifest;

const RUNNER = fileURLToPath(new URL('./runner.ts', import.meta.url));
/** Stands for a worker given as source text ({@link bundleWorkerSource}). */
const SOURCE_WORKER = 'cloud-parallel:worker-source';

/**
 * The bundle's entry: exports the worker's `run`, and when started as a script hands the task to the runner. The
 * worker is imported lazily (esbuild inlines the dynamic import), so a worker that throws while loading is
 * reported by the runner as the task's failure, as Lambda reports Runtime.ImportModuleError.
 */
function entrySource(worker: string): string {
  return [
    `import { runIfMain } from ${JSON.stringify(RUNNER)};`,
    `const load = () => import(${JSON.stringify(worker)});`,
    'export async function run(task) { return (await load()).run(task); }',
    'await runIfMain(import.meta.url, load);',
  ].join('\n');
}

/**
 * One worker bundle: `worker` (a module path, or {@link SOURCE_WORKER} with `source`) with the runner, and the files
 * it was built from (absolute paths).
 */
async function bundleWorker(worker: string, source?: string): Promise<{ contents: Uint8Array; read: string[] }> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    stdin: {
      contents: entrySource(worker),
      resolveDir: PROJECT_ROOT,
      sourcefile: 'ec2-worker-entry.mjs',
      loader: 'js',
    },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: WORKER_NODE_TARGET,
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // The primes worker's WebAssembly kernel travels inside its bundle: an instance downloads one file.
    define: wasmDefines(),
    // Bundled CommonJS dependencies call require(); ESM output has none unless we make one.
    banner: {
      js: "import { createRequire as __cpCreateRequire } from 'node:module'; const require = __cpCreateRequire(import.meta.url);",
    },
    plugins:
      source === undefined
        ? []
        : [
            {
              name: 'worker-source',
              setup(build) {
                build.onResolve({ filter: /^cloud-parallel:worker-source$/ }, () => ({
                  path: SOURCE_WORKER,
                  namespace: 'worker-source',
                }));
                build.onLoad({ filter: /.*/, namespace: 'worker-source' }, () => ({
                  contents: source,
                  loader: 'js',
                  resolveDir: PROJECT_ROOT,
                }));
              },
            },
          ],
  });
  // Keys are relative to esbuild's working directory; the stdin entry and the source worker are no files.
  const read = Object.keys(result.metafile.inputs)
    .filter((key) => key !== 'ec2-worker-entry.mjs' && !key.startsWith('worker-source:'))
    .map((key) => path.resolve(key));
  return { contents: result.outputFiles[0]!.contents, read };
}

/**
 * esbuild `define`s that inline the WebAssembly kernels (the sieve's, lib/primes/wasm-kernel.ts; the rates row
 * kernel, lib/rates/row-kernel.ts), each only when it is built: without one the bundle warns and takes the slower path.
 */
function wasmDefines(): Record<string, string> {
  const defines: Record<string, string> = {};
  for (const [name, file] of Object.entries(INLINED_WASM)) {
    const built = path.join(PROJECT_ROOT, file);
    if (existsSync(built)) defines[name] = JSON.stringify(readFileSync(built).toString('base64'));
  }
  return defines;
}

/**
 * A bundle from a worker's source text (an ESM module exporting `run(task)`), with the runner: how tests and tools
 * make a worker without a file in the project.
 */
export async function bundleWorkerSource(source: string): Promise<Buffer> {
  return Buffer.from((await bundleWorker(SOURCE_WORKER, source)).contents);
}

function sameBytes(file: string, contents: Uint8Array): boolean {
  try {
    return Buffer.from(contents).equals(readFileSync(file));
  } catch {
    return false; // not built yet
  }
}

/**
 * Where a running function or CLI finds a built bundle: `EC2_WORKER_BUNDLE_DIR` when set, else the function's
 * root (`LAMBDA_TASK_ROOT`, the unpacked zip), else the working directory (the project, locally).
 */
export function workerBundlePath(name: Ec2WorkerName, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = env.EC2_WORKER_BUNDLE_DIR
    ? [env.EC2_WORKER_BUNDLE_DIR]
    : [env.LAMBDA_TASK_ROOT, process.cwd(), PROJECT_ROOT]
        .filter((d): d is string => Boolean(d))
        .map((d) => path.join(d, WORKER_BUNDLE_DIR));
  const files = candidates.map((dir) => path.join(dir, `${name}.mjs`));
  return files.find((f) => existsSync(f)) ?? files[0]!;
}

export function readWorkerBundle(name: Ec2WorkerName, env: NodeJS.ProcessEnv = process.env): Buffer {
  const file = workerBundlePath(name, env);
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UserError(
      'CONFIG',
      `The EC2 worker bundle "${name}" is missing (${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). ` +
        'It is built by `sls package`/`sls deploy` (serverless-plugins/ec2-worker-bundles.cjs) and by `cloud-parallel local start`; ' +
        'locally, `node --import tsx lib/fanout/ec2/worker-bundle.ts` builds it.',
    );
  }
}

// As a script: build every bundle (the serverless plugin's way in), print where they went.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2];
  buildWorkerBundles(outDir === undefined ? undefined : path.resolve(outDir)).then(
    (built) => process.stdout.write(`${JSON.stringify(built)}\n`),
    (error: unknown) => {
      process.stderr.write(`could not build the EC2 worker bundles: ${(error as Error)?.message ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
