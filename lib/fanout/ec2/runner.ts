import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { WorkerEnvelope } from '../envelope.ts';

/**
 * The EC2 runner: bundled into every worker bundle (./worker-bundle.ts), it is what runs when the user data
 * starts the bundle as `node worker.mjs <task.json> <result.json>` — it loads the worker, runs the one task,
 * and writes the worker envelope (../envelope.ts) to the result file for the user data to PUT. Imported instead
 * (a test, a tool), the bundle only exports `run(task)` and this does nothing.
 *
 * It exits 0 when the task threw (that is a result to report); only a runner that cannot write its output fails
 * the script. A worker process that dies under it (process.exit, out of memory, a signal) writes nothing, and the
 * user data reports that itself.
 */

/** A worker module as the bundle loads it: whatever it exports, `run` is what the runner calls. */
export type WorkerModule = { run?: unknown };

type Failure = Extract<WorkerEnvelope, { ok: false }>;

function failure(error: unknown): Failure {
  const e = error as { name?: unknown; message?: unknown } | null | undefined;
  return {
    ok: false,
    error: {
      type: (e && typeof e.name === 'string' && e.name) || typeof error,
      message: e && typeof e.message === 'string' ? e.message : String(error),
    },
  };
}

/** Runs the task in `taskPath` with the worker `load` gives and writes its envelope to `outPath`. */
export async function runTaskFile(load: () => Promise<WorkerModule>, taskPath: string, outPath: string): Promise<void> {
  const started = performance.now();
  // The instance's clock around the task, for the run's timeline (../trace.ts); the coordinator corrects its offset.
  const startedAt = Date.now();
  let result: WorkerEnvelope; // ms and the clock are added once the task is over
  try {
    const worker = await load();
    if (typeof worker.run !== 'function') throw new TypeError('the worker bundle does not export a run(task) function');
    const value: unknown = await (worker.run as (task: unknown) => unknown)(JSON.parse(readFileSync(taskPath, 'utf8')));
    result = { ok: true, value: value === undefined ? null : value };
  } catch (error) {
    result = failure(error);
  }
  const ms = Math.round((performance.now() - started) * 1000) / 1000;
  const clock = { startedAt, endedAt: Date.now() };
  let text: string;
  try {
    text = JSON.stringify({ ...result, ms, ...clock });
  } catch (error) {
    // A value JSON cannot hold (a BigInt, a cycle) is the worker's failure, reported like a throw.
    text = JSON.stringify({ ...failure(error), ms, ...clock });
  }
  writeFileSync(outPath, text);
}

function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // Node runs the main module from its real path; the user data may name it through a symlinked TMPDIR.
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** The bundle's entry calls this: started as a script it runs the task named on the command line, imported it does nothing. */
export async function runIfMain(moduleUrl: string, load: () => Promise<WorkerModule>): Promise<void> {
  if (!isMain(moduleUrl)) return;
  const [taskPath, outPath] = process.argv.slice(2);
  if (taskPath === undefined || outPath === undefined) {
    process.stderr.write('usage: node worker.mjs <task.json> <result.json>\n');
    process.exitCode = 2;
    return;
  }
  await runTaskFile(load, taskPath, outPath);
}
