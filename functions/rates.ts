import middy from '@middy/core';
import { z } from 'zod';
import { createS3Client } from '../lib/aws/s3.ts';
import { isS3Event, s3EventSchema, s3ObjectsFromEvent } from '../lib/aws/s3-event.ts';
import { binCount, columnName, loadRatesConfig } from '../lib/config.ts';
import { observability, recordRates, recordRatesFailure, recordRejected } from '../lib/observability.ts';
import { runRatesJobs, type RatesJobInput, type RatesBatchReply } from '../lib/rates/index.ts';
import { describeIssues } from '../lib/validation.ts';

// Created once per container and reused by every invocation it serves.
const s3 = createS3Client();
const config = loadRatesConfig();

/** `sls invoke -f rates -d '{"key":"uploads/x.csv","bins":50}'`: the same job without an S3 event. */
const directInvocationSchema = z.object({
  bucket: z.string().min(1).optional(),
  key: z.string().min(1),
  numerator: columnName.optional(),
  denominator: columnName.optional(),
  bins: binCount.optional(),
});

function parseEvent(event: unknown): RatesJobInput[] | { error: { code: string; message: string } } {
  if (isS3Event(event)) {
    const parsed = s3EventSchema.safeParse(event);
    if (!parsed.success) return invalid(`Malformed S3 event: ${describeIssues(parsed.error)}`);
    try {
      return s3ObjectsFromEvent(parsed.data).map(({ bucket, key }) => ({ bucket, key }));
    } catch (error) {
      return invalid((error as Error).message);
    }
  }
  const parsed = directInvocationSchema.safeParse(event);
  if (!parsed.success) {
    return invalid(
      `Expected an S3 event or {"key": "uploads/<name>.csv", "bucket"?, "numerator"?, "denominator"?, "bins"?}: ${describeIssues(parsed.error)}`,
    );
  }
  const { bucket, key, ...options } = parsed.data;
  return [{ bucket: bucket ?? config.dataBucket, key, options }];
}

function invalid(message: string) {
  return { error: { code: 'INVALID_EVENT', message } };
}

export const handler = middy(async (event: unknown): Promise<RatesBatchReply | ReturnType<typeof invalid>> => {
  const inputs = parseEvent(event);
  if (!Array.isArray(inputs)) {
    recordRejected('rates', inputs.error);
    return inputs;
  }
  try {
    const reply = await runRatesJobs(s3, inputs, config.defaults);
    recordRates(reply.results);
    return reply;
  } catch (error) {
    recordRatesFailure(error);
    throw error;
  }
}).use(observability());
