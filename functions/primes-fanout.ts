import type { Context } from 'aws-lambda';
import middy from '@middy/core';
import { createEc2Client } from '../lib/aws/ec2.ts';
import { createSsmClient } from '../lib/aws/ssm.ts';
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { lambdaDeadlineSignal } from '../lib/aws/lambda-deadline.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { loadEc2Config, loadPrimesConfig } from '../lib/config.ts';
import { UserError } from '../lib/errors.ts';
import { failsInvocation, jobErrors } from '../lib/middleware/job-errors.ts';
import { observability } from '../lib/observability.ts';
import { recordPrimes } from '../lib/primes/metrics.ts';
import { parsePrimesEvent, type PrimesRunInput } from '../lib/primes/run-input.ts';
import { s3ProgressStore } from '../lib/primes/run-progress.ts';
import { s3RunRecorder } from '../lib/primes/run-record.ts';
import { runPrimes, type PrimesTargets } from '../lib/primes/run.ts';

// Created once per container and reused by every invocation it serves.
const config = loadPrimesConfig();
const lambda = createLambdaClient({ workerTimeoutSeconds: config.workerTimeoutSeconds });
const s3 = createS3Client();
const ec2Config = loadEc2Config();
const targets: PrimesTargets = {
  lambda: { client: lambda, functionName: config.workerFunction },
  ec2: { clients: { ec2: createEc2Client(), s3, ssm: createSsmClient() }, config: ec2Config },
};
/** Every run's timeline and summary go to results/primes/<runId>/ in the data bucket (lib/primes/run-record.ts). */
const record = s3RunRecorder(s3, ec2Config.bucket);
/** ...and, while it runs, its progress.json (lib/primes/run-progress.ts), which the dashboard polls. */
const progress = s3ProgressStore(s3, ec2Config.bucket);

/**
 * Time kept back at the end of an invocation, on either backend: the run stops this long before the function's
 * timeout (abandoning Lambda invocations still waiting, terminating instances, deleting the run's scratch objects)
 * and returns the chunks that finished, the others named in failedChunks. Without it, the timeout would end the
 * function with nothing returned and every finished chunk lost.
 */
export const CLEANUP_MARGIN_MS = 30_000;

/**
 * `{start, end, chunks | chunkSize, backend?, concurrency?, runId?}` → the exact count, per-chunk timings, speedup and
 * cost, the run's id (the caller's `runId` when given), and the keys of its timeline and summary (`timeline.files`)
 * under `results/primes/<runId>/`, where its progress.json is kept up to date while it runs.
 */
export const handler = middy(async (event: unknown, context: Context) => {
  const input = parsePrimesEvent(event);
  if (input.backend !== 'lambda' && input.backend !== 'ec2') {
    throw new UserError(
      'INVALID_INPUT',
      `backend "${input.backend}" runs only from the CLI; the fan-out Lambda uses "lambda" or "ec2"`,
    );
  }
  // A UserError from the run itself (the EC2 worker bundle missing) is the deployment's fault: the invocation fails.
  const result = await failsInvocation(runBeforeDeadline(input, context));
  recordPrimes(result);
  return result;
})
  .use(observability())
  .use(jobErrors({ job: 'primes' }));

async function runBeforeDeadline(input: PrimesRunInput, context: Context) {
  const deadline = lambdaDeadlineSignal(context, CLEANUP_MARGIN_MS);
  try {
    return await runPrimes(input, targets, {
      pricing: config.pricing,
      record,
      progress,
      ...(deadline.signal === undefined ? {} : { signal: deadline.signal }),
    });
  } finally {
    deadline.dispose();
  }
}
