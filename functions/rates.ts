import middy from '@middy/core';
import { createS3Client } from '../lib/aws/s3.ts';
import { loadRatesConfig } from '../lib/config.ts';
import { jobErrors, type Rejected } from '../lib/middleware/job-errors.ts';
import { observability } from '../lib/observability.ts';
import { runRatesJobs, type RatesBatchReply } from '../lib/rates/index.ts';
import { parseRatesEvent } from '../lib/rates/event.ts';
import { recordRates, recordRatesFailure } from '../lib/rates/metrics.ts';

// Created once per container and reused by every invocation it serves.
const s3 = createS3Client();
const config = loadRatesConfig();

/** An S3 event, or `sls invoke -f rates -d '{"key":"uploads/x.csv","bins":50}'`: the same job without an S3 event. */
export const handler = middy(async (event: unknown): Promise<RatesBatchReply | Rejected> => {
  const inputs = parseRatesEvent(event, config.dataBucket);
  const reply = await runRatesJobs(s3, inputs, config.defaults, config.limits);
  recordRates(reply.results);
  return reply;
})
  .use(observability())
  .use(jobErrors({ job: 'rates', recordFailure: recordRatesFailure }));
