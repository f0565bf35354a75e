import middy from '@middy/core';
import { createS3Client } from '../lib/aws/s3.ts';
import { loadRatesConfig } from '../lib/config.ts';
import { UserError } from '../lib/errors.ts';
import { observability, recordRates, recordRatesFailure, recordRejected } from '../lib/observability.ts';
import { runRatesJobs, type RatesBatchReply, type RatesJobInput } from '../lib/rates/index.ts';
import { parseRatesEvent } from '../lib/rates/event.ts';

// Created once per container and reused by every invocation it serves.
const s3 = createS3Client();
const config = loadRatesConfig();

type Rejected = { error: { code: string; message: string } };

/** An S3 event, or `sls invoke -f rates -d '{"key":"uploads/x.csv","bins":50}'`: the same job without an S3 event. */
export const handler = middy(async (event: unknown): Promise<RatesBatchReply | Rejected> => {
  let inputs: RatesJobInput[];
  try {
    inputs = parseRatesEvent(event, config.dataBucket);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    const reply = { error: { code: error.code, message: error.message } };
    recordRejected('rates', reply.error);
    return reply;
  }
  try {
    const reply = await runRatesJobs(s3, inputs, config.defaults, config.limits);
    recordRates(reply.results);
    return reply;
  } catch (error) {
    recordRatesFailure(error);
    throw error;
  }
}).use(observability());
