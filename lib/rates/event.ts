/**
 * What the rates function accepts: an S3 event notification (the trigger) or a direct invocation payload
 * (`sls invoke -f rates -d '{"key":"uploads/x.csv","bins":50}'`), validated into one job input per object.
 */
import { z } from 'zod';
import { MAX_S3_KEY_BYTES, s3EventSchema, s3ObjectsFromEvent } from '../aws/s3-event.ts';
import { bucketName } from '../config.ts';
import { UserError } from '../errors.ts';
import { describeIssues } from '../validation.ts';
import type { RatesJobInput } from './job.ts';
import { rateOptionsSchema } from './options.ts';
import { refineOneSplit, splitShape } from './split.ts';

const objectKey = z
  .string()
  .min(1, 'must be an object key such as uploads/<name>.csv')
  .refine(
    (key) => Buffer.byteLength(key, 'utf8') <= MAX_S3_KEY_BYTES,
    `must be at most ${MAX_S3_KEY_BYTES} bytes (S3's limit on object keys)`,
  );

/**
 * A direct invocation; unknown fields are refused, so a misspelt option (`bin`) is not silently ignored. `workers` and
 * `chunkBytes` (a number or a size such as "64MiB") follow split.ts's rules, the ones the upload's metadata follows.
 */
export const ratesDirectInvocationSchema = z
  .strictObject({
    bucket: bucketName.optional(),
    key: objectKey,
    ...rateOptionsSchema.partial().shape,
    ...splitShape,
  })
  .superRefine(refineOneSplit);

const DIRECT_SHAPE =
  '{"key": "uploads/<name>.csv", "bucket"?, "numerator"?, "denominator"?, "bins"?, "workers"? or "chunkBytes"?}';

/**
 * The objects an event asks the job to process. Anything with `Records` is read as an S3 event (so a broken one
 * is reported as such); anything else as a direct invocation, whose bucket defaults to `dataBucket`.
 * Throws a UserError (INVALID_EVENT) naming every problem; nothing is read from S3 here.
 */
export function parseRatesEvent(event: unknown, dataBucket: string): RatesJobInput[] {
  if (typeof event === 'object' && event !== null && !Array.isArray(event) && 'Records' in event) {
    const parsed = s3EventSchema.safeParse(event);
    if (!parsed.success) throw invalidEvent(`Malformed S3 event: ${describeIssues(parsed.error)}`);
    // A key that cannot be decoded throws an EventDecodeError: a UserError with the same INVALID_EVENT code.
    return s3ObjectsFromEvent(parsed.data).map(({ bucket, key }) => ({ bucket, key }));
  }
  const parsed = ratesDirectInvocationSchema.safeParse(event);
  if (!parsed.success) throw invalidEvent(`Expected an S3 event or ${DIRECT_SHAPE}: ${describeIssues(parsed.error)}`);
  const { bucket, key, workers, chunkBytes, ...options } = parsed.data;
  const input: RatesJobInput = { bucket: bucket ?? dataBucket, key, options };
  if (workers !== undefined) input.split = { workers };
  if (chunkBytes !== undefined) input.split = { chunkBytes };
  return [input];
}

function invalidEvent(message: string): UserError {
  return new UserError('INVALID_EVENT', message);
}
