/** The handler's edge: every malformed event is answered with INVALID_EVENT before any S3 call. */
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
let handler: Handler;

beforeAll(async () => {
  vi.stubEnv('DATA_BUCKET', 'test-bucket');
  // Any S3 call would go here and fail loudly: these events must be rejected before reaching S3.
  vi.stubEnv('AWS_ENDPOINT_URL_S3', 'http://127.0.0.1:9');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  ({ handler } = (await import('../../functions/rates.ts')) as { handler: Handler });
});

const s3Record = (key: string, bucket: unknown = 'test-bucket') => ({
  eventSource: 'aws:s3',
  eventName: 'ObjectCreated:Put',
  s3: { bucket: { name: bucket }, object: { key } },
});

describe('rates handler input validation', () => {
  it.each([
    ['an empty object', {}, /Expected an S3 event or \{"key"/],
    ['null', null, /Expected an S3 event/],
    ['a string', 'uploads/a.csv', /Expected an S3 event/],
    ['a key that is not a string', { key: 42 }, /key/],
    ['bins out of range', { key: 'uploads/a.csv', bins: 0 }, /bins: must be at least 1/],
    ['bins not a number', { key: 'uploads/a.csv', bins: 'many' }, /bins/],
    ['an empty numerator', { key: 'uploads/a.csv', numerator: '' }, /numerator/],
    ['workers 0', { key: 'uploads/a.csv', workers: 0 }, /workers: must be at least 1/],
    ['a chunk size under 4 KiB', { key: 'uploads/a.csv', chunkBytes: '1KiB' }, /chunkBytes: must be at least 4096/],
    ['workers and chunkBytes', { key: 'uploads/a.csv', workers: 2, chunkBytes: 8192 }, /not both/],
    [
      'an S3 record without a bucket name',
      { Records: [s3Record('uploads/a.csv', 7)] },
      /Malformed S3 event: Records\.0\.s3\.bucket\.name/,
    ],
    ['a key with broken URL encoding', { Records: [s3Record('uploads/%E0%A4%A.csv')] }, /not valid URL encoding/],
  ])('answers %s with INVALID_EVENT', async (_label, event, message) => {
    const reply = (await handler(event, {} as Context)) as { error: { code: string; message: string } };
    expect(reply.error.code).toBe('INVALID_EVENT');
    expect(reply.error.message).toMatch(message);
  });

  it('answers a key outside uploads/ with NOT_AN_UPLOAD and writes nothing', async () => {
    const reply = (await handler({ Records: [s3Record('results/a/rates.csv')] }, {} as Context)) as {
      results: { status: string; error: { code: string }; errorObject: string | null }[];
    };
    expect(reply.results).toEqual([
      expect.objectContaining({
        status: 'error',
        error: expect.objectContaining({ code: 'NOT_AN_UPLOAD' }),
        errorObject: null,
      }),
    ]);
  });
});
