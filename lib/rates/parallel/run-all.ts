/**
 * One fan-out of a parallel rates run (parse, re-runs, a statistics round): every task's checked value in task order,
 * or the first chunk that finally failed as a ChunkFailedError — the deadline included, even if workers never answer.
 */
import type { TaskUsage } from '../../fanout/cost.ts';
import {
  abortReason,
  type Backend,
  type FanoutOptions,
  type FanoutTrace,
  type ProgressEvent,
} from '../../fanout/index.ts';
import { ChunkFailedError } from './chunk-failed.ts';
import { fanoutUntilAborted, type Unsettled } from './deadline.ts';
import type { WorkerTask } from './tasks.ts';

export interface RunAllSettings {
  concurrency?: number;
  retries?: number;
  signal?: AbortSignal;
}

/** One fan-out's trace, for the run's timeline (timeline.ts): which phase it was, and the chunk of each task. */
export interface PhaseTrace {
  /** `parse`, `rerun r1`, `stats r2`, ...: what the timeline's rows are named by, with the chunk. */
  phase: string;
  chunks: readonly number[];
  trace: FanoutTrace;
}

/** What the coordinator keeps of every fan-out it runs, in run order: each task's time (for the cost), each trace. */
export interface RunLog {
  usage: TaskUsage[];
  traces: PhaseTrace[];
}

/** Which fan-out of the run this is, and the chunk each task is about (`chunks[k]` for `tasks[k]`). */
export interface RunAllPhase {
  phase: string;
  chunks: readonly number[];
}

/**
 * Runs `tasks` and returns their values in order; the first chunk that finally failed fails the run. At the signal's
 * abort (the deadline) the run fails at once, naming the chunks not finished, even if their workers never answer.
 */
export async function runAll<R>(
  backend: Backend<WorkerTask, unknown>,
  tasks: readonly WorkerTask[],
  { phase, chunks: indexes }: RunAllPhase,
  check: (value: unknown) => R,
  settings: RunAllSettings,
  log: RunLog,
  onEvent?: (event: ProgressEvent) => void,
): Promise<R[]> {
  const options: FanoutOptions = {
    ...(settings.concurrency === undefined ? {} : { concurrency: settings.concurrency }),
    ...(settings.retries === undefined ? {} : { retries: settings.retries }),
    ...(settings.signal === undefined ? {} : { signal: settings.signal }),
    ...(onEvent === undefined ? {} : { onProgress: onEvent }),
  };
  const ran = await fanoutUntilAborted(tasks, backend, options);
  if ('unsettled' in ran) throw abandonedAt(ran.unsettled, tasks, indexes, settings.signal);
  const { result } = ran;
  log.traces.push({ phase, chunks: indexes, trace: result.trace });
  const values: R[] = [];
  for (const outcome of result.outcomes) {
    const task = tasks[outcome.index] as WorkerTask;
    const chunk = indexes[outcome.index] as number;
    log.usage.push({ ms: outcome.ms, attempts: outcome.attempts });
    if (!outcome.ok) throw new ChunkFailedError(chunk, task, outcome.error, outcome.attempts);
    try {
      values.push(check(outcome.value));
    } catch (error) {
      throw new ChunkFailedError(chunk, task, { kind: 'function', type: 'InvalidResult', message: String(error) }, 1);
    }
  }
  return values;
}

/** The run stopped at its deadline (or another abort) with these tasks unfinished: the first is named, and all counted. */
function abandonedAt(
  unsettled: readonly Unsettled[],
  tasks: readonly WorkerTask[],
  indexes: readonly number[],
  signal: AbortSignal | undefined,
): ChunkFailedError {
  const first = unsettled[0] as Unsettled;
  const chunks = unsettled.map((u) => indexes[u.index] as number);
  const message =
    `${first.attempts === 0 ? 'not started' : 'still running'} when the run was stopped (${abortReason(signal)}); ` +
    `chunk(s) not finished: ${chunks.join(', ')}`;
  return new ChunkFailedError(
    chunks[0] as number,
    tasks[first.index] as WorkerTask,
    { kind: 'aborted', type: 'AbortError', message },
    first.attempts,
  );
}
