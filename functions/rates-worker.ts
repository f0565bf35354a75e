import middy from '@middy/core';
import { createS3Client } from '../lib/aws/s3.ts';
import { failsInvocation, jobErrors } from '../lib/middleware/job-errors.ts';
import { observability } from '../lib/observability.ts';
import { runWorkerTask, type WorkerResult } from '../lib/rates/parallel/worker.ts';

// Created once per container and reused by every invocation it serves.
const s3 = createS3Client();

/**
 * One task of a parallel rates run (lib/rates/parallel/tasks.ts): a byte range of the upload parsed into scratch
 * objects, or one round of the statistics over a chunk's values. Errors are thrown, not returned, a refused task
 * too: the coordinator's fan-out sees them as the invocation's FunctionError and names the chunk that failed.
 */
export const handler = middy((event: unknown): Promise<WorkerResult> => failsInvocation(runWorkerTask(s3, event)))
  .use(observability())
  .use(jobErrors({ job: 'rates-worker' }));
