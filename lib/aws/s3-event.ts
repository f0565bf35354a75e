import { z } from 'zod';
import { UserError } from '../errors.ts';

/** S3's limit on an object key, in bytes of UTF-8. */
export const MAX_S3_KEY_BYTES = 1024;
/** Percent-encoding takes at most 3 characters per byte. */
const MAX_ENCODED_KEY_CHARS = 3 * MAX_S3_KEY_BYTES;
/**
 * Records one event may carry. S3 delivers one record per notification; a hand-made event with more would run the
 * job once per record in one invocation, so this bounds its duration and the size of its reply.
 */
export const MAX_S3_EVENT_RECORDS = 100;

/**
 * S3 event notifications as AWS delivers them to Lambda. Keys arrive URL-encoded with spaces as '+'
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
 */
const s3RecordSchema = z.object({
  eventSource: z.literal('aws:s3'),
  eventName: z.string(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z
        .string()
        .min(1)
        .max(MAX_ENCODED_KEY_CHARS, `object keys are at most ${MAX_S3_KEY_BYTES} bytes (S3's limit)`),
      size: z.number().optional(),
      eTag: z.string().optional(),
    }),
  }),
});

export const s3EventSchema = z.object({
  Records: z
    .array(s3RecordSchema)
    .min(1, 'an S3 event has at least one record')
    .max(MAX_S3_EVENT_RECORDS, `at most ${MAX_S3_EVENT_RECORDS} records per event (S3 delivers one per notification)`),
});

export interface S3ObjectRef {
  bucket: string;
  key: string;
  eventName: string;
  size?: number;
}

/** A key in an S3 event that cannot be decoded: the event is refused (INVALID_EVENT), as a whole. */
export class EventDecodeError extends UserError {
  constructor(message: string) {
    super('INVALID_EVENT', message);
  }
}

/** The start of a key for a message: a bad key may be long. */
export function keyPreview(key: string, chars = 120): string {
  return key.length <= chars ? key : `${key.slice(0, chars)}… (${key.length} characters)`;
}

/** The inverse of the encoding AWS applies to keys in notifications. */
export function decodeS3EventKey(encoded: string): string {
  let key: string;
  try {
    key = decodeURIComponent(encoded.replaceAll('+', ' '));
  } catch {
    throw new EventDecodeError(`Object key "${keyPreview(encoded)}" in the S3 event is not valid URL encoding`);
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_S3_KEY_BYTES) {
    throw new EventDecodeError(
      `Object key "${keyPreview(key)}" in the S3 event is ${bytes} bytes; S3 keys are at most ${MAX_S3_KEY_BYTES}`,
    );
  }
  return key;
}

export function isS3Event(event: unknown): event is z.infer<typeof s3EventSchema> {
  return (
    typeof event === 'object' &&
    event !== null &&
    Array.isArray((event as { Records?: unknown }).Records) &&
    ((event as { Records: unknown[] }).Records[0] as { eventSource?: unknown } | undefined)?.eventSource === 'aws:s3'
  );
}

export function s3ObjectsFromEvent(event: z.infer<typeof s3EventSchema>): S3ObjectRef[] {
  return event.Records.map((record) => ({
    bucket: record.s3.bucket.name,
    key: decodeS3EventKey(record.s3.object.key),
    eventName: record.eventName,
    ...(record.s3.object.size === undefined ? {} : { size: record.s3.object.size }),
  }));
}
