import type { Context } from 'aws-lambda';
import middy from '@middy/core';
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { lambdaDeadlineSignal } from '../lib/aws/lambda-deadline.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { loadRatesConfig } from '../lib/config.ts';
import { jobErrors, type Rejected } from '../lib/middleware/job-errors.ts';
import { asLoggable, logger, observability } from '../lib/observability.ts';
import { warmUpChart } from '../lib/rates/chart-warmup.ts';
import { runRatesJobs, type RatesBatchReply } from '../lib/rates/index.ts';
import { parseRatesEvent } from '../lib/rates/event.ts';
import { recordRates, recordRatesFailure } from '../lib/rates/metrics.ts';
import type { ParallelSetup } from '../lib/rates/parallel/run.ts';

// Created once per container and reused by every invocation it serves.
const s3 = createS3Client();
const config = loadRatesConfig();

// The first chart drawn in a process costs ~30 ms more CPU than the next: start paying it here, at container start,
// not in a run. Not awaited: serverless-offline cannot load a handler module with a top-level await (every invoke
// fails, found by test/e2e/rates.test.ts); Lambda keeps running it while the runtime asks for the first event. A
// failure is logged and the container serves runs all the same.
void warmUpChart(config.defaults, (error) =>
  logger.warn('chart warm-up at container start failed', { error: asLoggable(error) }),
);

/**
 * Big files are split across the rates-worker function (lib/rates/parallel/); without RATES_WORKER_FUNCTION (a
 * deployment or test without the worker) every file runs here.
 */
const parallel: ParallelSetup | undefined =
  config.parallel.workerFunction === null
    ? undefined
    : {
        aboveBytes: config.parallel.aboveBytes,
        chunkBytes: config.parallel.chunkBytes,
        concurrency: config.parallel.concurrency,
        backend: {
          name: 'lambda',
          client: createLambdaClient({ workerTimeoutSeconds: config.parallel.workerTimeoutSeconds }),
          functionName: config.parallel.workerFunction,
        },
      };

/**
 * Time kept back at the end of an invocation for a split run: its unfinished chunks are abandoned, error.json names
 * them and the scratch objects are deleted, rather than the timeout ending the function with nothing said.
 */
export const CLEANUP_MARGIN_MS = 20_000;

/** An S3 event, or `sls invoke -f rates -d '{"key":"uploads/x.csv","bins":50}'`: the same job without an S3 event. */
export const handler = middy(async (event: unknown, context: Context): Promise<RatesBatchReply | Rejected> => {
  const inputs = parseRatesEvent(event, config.dataBucket);
  const deadline = lambdaDeadlineSignal(context, CLEANUP_MARGIN_MS);
  try {
    const reply = await runRatesJobs(s3, inputs, config.defaults, config.limits, {
      ...(parallel === undefined ? {} : { parallel }),
      ...(deadline.signal === undefined ? {} : { signal: deadline.signal }),
    });
    recordRates(reply.results);
    return reply;
  } finally {
    deadline.dispose();
  }
})
  .use(observability())
  .use(jobErrors({ job: 'rates', recordFailure: recordRatesFailure }));
