import { z } from 'zod';

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
      key: z.string().min(1),
      size: z.number().optional(),
      eTag: z.string().optional(),
    }),
  }),
});

export const s3EventSchema = z.object({ Records: z.array(s3RecordSchema).min(1) });

export interface S3ObjectRef {
  bucket: string;
  key: string;
  eventName: string;
  size?: number;
}

export class EventDecodeError extends Error {
  readonly code = 'INVALID_EVENT';
}

/** The inverse of the encoding AWS applies to keys in notifications. */
export function decodeS3EventKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replaceAll('+', ' '));
  } catch {
    throw new EventDecodeError(`Object key "${encoded}" in the S3 event is not valid URL encoding`);
  }
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

