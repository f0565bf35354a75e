import { PutObjectCommand } from '@aws-sdk/client-s3';
import middy from '@middy/core';
import { createS3Client, s3Uri } from '../lib/aws/s3.ts';
import { failsInvocation, jobErrors } from '../lib/middleware/job-errors.ts';
import { workerFacts } from '../lib/middleware/worker-facts.ts';
import { observability } from '../lib/observability.ts';
import { recordPrimesChunk } from '../lib/primes/metrics.ts';
import { runPrimesTask, type PrimesListStore } from '../lib/primes/worker.ts';

// Created once per container and reused by every invocation it serves.
const s3 = createS3Client();

/** Prime lists too big for a Lambda reply go to the data bucket, next to the other results. */
const storeInBucket: PrimesListStore = async (task, body) => {
  const bucket = process.env.DATA_BUCKET;
  if (!bucket) throw new Error('DATA_BUCKET is not set: the worker has nowhere to write a large prime list');
  const key = `results/primes/${task.start}-${task.end}.json`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
  return s3Uri(bucket, key);
};

/**
 * Counts (or lists) the primes in one chunk. Errors are thrown, not returned, a refused task too: the fan-out sees
 * them as the invocation's FunctionError and names the chunk that failed. The reply also carries the worker's
 * facts for the run's timeline (workerFacts: its clock, the container, a cold start), which the fan-out takes out.
 */
export const handler = middy(async (event: unknown) => {
  const result = await failsInvocation(runPrimesTask(event, storeInBucket));
  recordPrimesChunk(result);
  return result;
})
  .use(workerFacts())
  .use(observability())
  .use(jobErrors({ job: 'primes-worker' }));
