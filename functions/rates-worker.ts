import middy from '@middy/core';
import { createS3Client } from '../lib/aws/s3.ts';
import { failsInvocation, jobErrors } from '../lib/middleware/job-errors.ts';
import { workerFacts } from '../lib/middleware/worker-facts.ts';
import { observability } from '../lib/observability.ts';
import { runWorkerTask, type WorkerResult } from '../lib/rates/parallel/worker.ts';

// Created once per container and reused by every invocation it serves.
const s3 = createS3Client();

/**
 * One task of a parallel rates run (lib/rates/parallel/tasks.ts): a byte range of the upload parsed into scratch
 * objects, or one round of the statistics over a chunk's values. Errors are thrown, not returned, a refused task
 * too: the coordinator's fan-out sees them as the invocation's FunctionError and names the chunk that failed. The
 * reply also carries the worker's facts for the run's timeline (workerFacts: its clock, the container, a cold
 * start), which the fan-out's Lambda backend takes out before the coordinator reads the reply.
 */
export const handler = middy((event: unknown): Promise<WorkerResult> => failsInvocation(runWorkerTask(s3, event)))
  .use(workerFacts())
  .use(observability())
  .use(jobErrors({ job: 'rates-worker' }));
