/**
 * How bench/cli-probe.ts runs, so that its breakdown measures what users run: while cli/bin.js would run the compiled
 * CLI (.cli-build/ matches the sources, cli/compiled.js), the probe is compiled the same way
 * (scripts/cli-build-options.ts: the same esbuild options, chunks at the same dynamic imports) and runs on plain
 * node; otherwise through tsx, as bin.js then runs the sources, and the reason is named.
 */
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { compiledEntry, PROJECT_ROOT } from '../cli/compiled.js';
import { cliBuildOptions } from '../scripts/cli-build-options.ts';

export interface ProbeLauncher {
  /** node's arguments before the probe's own. */
  args: string[];
  /** What the probe runs, for the report's title. */
  runs: string;
  /** Deletes what was compiled. */
  dispose: () => void;
}

/** The probe as users' CLI would run now; compiled into a folder of the project (its packages resolve from there). */
export async function prepareProbe(): Promise<ProbeLauncher> {
  const compiled = compiledEntry();
  if (!('url' in compiled)) {
    return {
      args: ['--import', 'tsx', path.join(PROJECT_ROOT, 'bench', 'cli-probe.ts')],
      runs: `the sources through tsx, as bin.js runs them now (${compiled.reason ?? 'CLOUD_PARALLEL_CLI_SOURCES=1'})`,
      dispose: () => undefined,
    };
  }
  const dataDir = path.join(PROJECT_ROOT, '.bench-data');
  const outdir = path.join(dataDir, `cli-probe-${process.pid}`);
  const dispose = () => {
    rmSync(outdir, { recursive: true, force: true });
    // .bench-data/ is every benchmark's: removed only when this probe was all it held.
    if (existsSync(dataDir) && readdirSync(dataDir).length === 0) rmdirSync(dataDir);
  };
  try {
    const { build } = await import('esbuild');
    await build(cliBuildOptions({ 'cli-probe': 'bench/cli-probe.ts' }, outdir));
  } catch (error) {
    dispose();
    throw error;
  }
  return {
    args: [path.join(outdir, 'cli-probe.js')],
    runs: 'compiled as .cli-build/ is (current), on plain node',
    dispose,
  };
}
