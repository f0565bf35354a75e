import { InfrastructureError } from '../../errors.ts';
import type { TaskError } from '../../fanout/index.ts';
import type { WorkerTask } from './tasks.ts';

/**
 * A chunk failed for good (after the fan-out's retries): the run fails, naming the chunk, its byte range and
 * what its last attempt said. An infrastructure error: Lambda's retry of the whole run may well succeed.
 */
export class ChunkFailedError extends InfrastructureError {
  constructor(
    readonly chunk: number,
    task: WorkerTask,
    readonly taskError: TaskError,
    attempts: number,
  ) {
    const what =
      task.kind === 'parse'
        ? `parsing bytes [${task.s}, ${task.e}) of s3://${task.source.bucket}/${task.source.key}`
        : `the statistics round ${task.plan.round} over ${task.values.key}`;
    super(`chunk ${chunk} failed (${what}) after ${attempts} attempt(s): ${taskError.type}: ${taskError.message}`);
    this.name = 'ChunkFailedError';
  }

  override get code(): string {
    return 'CHUNK_FAILED';
  }
}
