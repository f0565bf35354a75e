/**
 * EC2 workers are shipped as one self-contained ESM file each (`<name>.mjs`, exporting `run(task)`), which the
 * user data downloads with a presigned URL: an instance has no npm, no repository and no credentials.
 *
 * They are built with esbuild into {@link WORKER_BUNDLE_DIR} by
 *   - `sls package` / `sls deploy` / `sls offline` / `sls invoke local`, through the local plugin
 *     serverless-plugins/ec2-worker-bundles.cjs, which runs this file as a script (the fan-out function ships
 *     the bundle in its zip, see `package.patterns` in serverless.yml);
 *   - `cloud-parallel local start` and the CLI's `--backend ec2`, in process.
 * At run time the caller reads the bundle ({@link readWorkerBundle}) and uploads it next to the run's results.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../errors.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Entry modules (relative to the project root) of the EC2 workers, by name. */
export const EC2_WORKERS = {
  primes: 'lib/primes/ec2-worker.ts',
  rates: 'lib/rates/ec2-worker.ts',
} as const;
export type Ec2WorkerName = keyof typeof EC2_WORKERS;

/** Relative to the project root, and to the function's root in its zip. */
export const WORKER_BUNDLE_DIR = '.ec2-workers';

/** The Node version the bundles are compiled for: the user data must find (or install) at least this major. */
export const WORKER_NODE_TARGET = 'node20';

/**
 * Builds every worker bundle into `outDir` (default `<project>/.ec2-workers`). Each file is written to a temporary
 * name and renamed, so a function reading it never sees half a bundle. esbuild is a build-time dependency, loaded
 * only here: deployed functions read the built files and never call this.
 */
export async function buildWorkerBundles(outDir = path.join(PROJECT_ROOT, WORKER_BUNDLE_DIR)): Promise<Record<Ec2WorkerName, string>> {
  const esbuild = await import('esbuild');
  mkdirSync(outDir, { recursive: true });
  const built = {} as Record<Ec2WorkerName, string>;
  for (const [name, entry] of Object.entries(EC2_WORKERS) as [Ec2WorkerName, string][]) {
    const result = await esbuild.build({
      entryPoints: [path.join(PROJECT_ROOT, entry)],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: WORKER_NODE_TARGET,
      minify: true,
      write: false,
      logLevel: 'silent',
      // Bundled CommonJS dependencies call require(); ESM output has none unless we make one.
      banner: { js: "import { createRequire as __cpCreateRequire } from 'node:module'; const require = __cpCreateRequire(import.meta.url);" },
    });
    const file = path.join(outDir, `${name}.mjs`);
    const contents = result.outputFiles[0]!.contents;
    // Rewrite only what changed: the fan-out function's package lists these files, so serverless-offline's
    // watcher reloads every handler when one is written — and a reload drops invocations in flight.
    if (!sameBytes(file, contents)) {
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, contents);
      renameSync(temporary, file);
    }
    built[name] = file;
  }
  return built;
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
    : [env.LAMBDA_TASK_ROOT, process.cwd(), PROJECT_ROOT].filter((d): d is string => Boolean(d)).map((d) => path.join(d, WORKER_BUNDLE_DIR));
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
