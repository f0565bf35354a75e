import { describe, expect, it } from 'vitest';
import {
  decodeS3EventKey,
  EventDecodeError,
  isS3Event,
  s3EventSchema,
  s3ObjectsFromEvent,
} from '../../../lib/aws/s3-event.ts';
import sampleEvent from '../../../events/rates-s3-put.json' with { type: 'json' };

describe('S3 event parsing', () => {
  it('decodes keys the way AWS encodes them in notifications', () => {
    expect(decodeS3EventKey('uploads/my+file%2B1.csv')).toBe('uploads/my file+1.csv');
    expect(decodeS3EventKey('uploads/caf%C3%A9.csv')).toBe('uploads/café.csv');
    expect(decodeS3EventKey('uploads/plain.csv')).toBe('uploads/plain.csv');
  });

  it('rejects malformed percent-encoding with a clear error', () => {
    expect(() => decodeS3EventKey('uploads/%E0%A4%A.csv')).toThrow(EventDecodeError);
    expect(() => decodeS3EventKey('uploads/%E0%A4%A.csv')).toThrow(/not valid URL encoding/);
  });

  it('reads every record of the sample event', () => {
    expect(isS3Event(sampleEvent)).toBe(true);
    const objects = s3ObjectsFromEvent(s3EventSchema.parse(sampleEvent));
    expect(objects).toEqual([
      {
        bucket: 'cloud-parallel-dev-us-east-1-data',
        key: 'uploads/us-counties.csv',
        eventName: 'ObjectCreated:Put',
        size: 120000,
      },
    ]);
  });

  it('tells S3 events from other payloads', () => {
    expect(isS3Event({ key: 'uploads/a.csv' })).toBe(false);
    expect(isS3Event({ Records: [] })).toBe(false);
    expect(isS3Event({ Records: [{ eventSource: 'aws:sqs' }] })).toBe(false);
    expect(isS3Event(null)).toBe(false);
  });
});
