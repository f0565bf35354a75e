/**
 * One chunk's values object read with the SDK (the `rates-worker` Lambda, a local worker thread): each pass is one
 * GET conditional on the ETag the parse task answered, re-blocked by values-blocks.ts.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Uri } from '../../aws/s3.ts';
import type { ChunkValues } from './stats-rounds.ts';
import { chunkValuesFrom, VALUES_BLOCK } from './values-blocks.ts';
import { RatesWorkerError, scratchReadError } from './worker-errors.ts';

export { VALUES_BLOCK } from './values-blocks.ts';

export interface ValuesObject {
  bucket: string;
  key: string;
  eTag: string;
  /** How many values it holds: the object must be exactly 8 × count bytes. */
  count: number;
}

export function valuesObjectOf(s3: S3Client, object: ValuesObject, blockValues = VALUES_BLOCK): ChunkValues {
  return chunkValuesFrom(
    {
      uri: s3Uri(object.bucket, object.key),
      count: object.count,
      open: async () => {
        try {
          const got = await s3.send(
            new GetObjectCommand({ Bucket: object.bucket, Key: object.key, IfMatch: object.eTag }),
          );
          const body = got.Body as Readable | undefined;
          if (body === undefined)
            throw new RatesWorkerError(`S3 answered ${s3Uri(object.bucket, object.key)} without a body`);
          return { body, length: got.ContentLength };
        } catch (error) {
          if (error instanceof RatesWorkerError) throw error;
          throw scratchReadError(error, object);
        }
      },
      streamError: (error) => scratchReadError(error, object),
    },
    blockValues,
  );
}
