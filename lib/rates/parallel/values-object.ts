/**
 * One chunk's values object (little-endian Float64 rates in row order, written by a parse task) read back as the
 * `ChunkValues` a statistics round answers from (stats-rounds.ts): every pass is one GET, conditional on the ETag
 * the parse task answered, streamed and re-blocked into Float64Arrays of a fixed size, so a worker's memory stays
 * one block whatever the chunk's size.
 */
import { endianness } from 'node:os';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Uri } from '../../aws/s3.ts';
import type { ChunkValues } from './stats-rounds.ts';
import { RatesWorkerError, scratchReadError } from './worker-errors.ts';

/** Values per block handed to a pass: 512 KiB. */
export const VALUES_BLOCK = 64 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';

export interface ValuesObject {
  bucket: string;
  key: string;
  eTag: string;
  /** How many values it holds: the object must be exactly 8 × count bytes. */
  count: number;
}

export function valuesObjectOf(s3: S3Client, object: ValuesObject, blockValues = VALUES_BLOCK): ChunkValues {
  return {
    count: object.count,
    forEachBlock: (visit) => readValues(s3, object, blockValues, visit),
  };
}

function wrongSize(object: ValuesObject, bytes: number, atLeast: boolean): RatesWorkerError {
  return new RatesWorkerError(
    `${s3Uri(object.bucket, object.key)} holds ${atLeast ? 'at least ' : ''}${bytes} bytes, not 8 × ${object.count} = ` +
      `${8 * object.count}: it is not the values object its parse task answered`,
  );
}

async function openValues(s3: S3Client, object: ValuesObject): Promise<Readable> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: object.bucket, Key: object.key, IfMatch: object.eTag }));
    const body = got.Body as Readable | undefined;
    if (body === undefined)
      throw new RatesWorkerError(`S3 answered ${s3Uri(object.bucket, object.key)} without a body`);
    if (got.ContentLength !== undefined && got.ContentLength !== 8 * object.count) {
      body.destroy();
      throw wrongSize(object, got.ContentLength, false);
    }
    return body;
  } catch (error) {
    if (error instanceof RatesWorkerError) throw error;
    throw scratchReadError(error, object);
  }
}

/**
 * One pass: the object's bytes copied into one block's buffer, which is visited each time it fills (a network
 * chunk can end mid-double: the rest of it starts the next block). The same block is reused, which is safe
 * because the passes (rank-answer.ts) copy whatever values they keep.
 */
async function readValues(
  s3: S3Client,
  object: ValuesObject,
  blockValues: number,
  visit: (values: Float64Array) => void,
): Promise<void> {
  const expected = 8 * object.count;
  const block = new Float64Array(blockValues);
  const bytes = new Uint8Array(block.buffer);
  // An error of the pass itself is passed on as it is: only the stream's errors are S3's.
  let inPass = false;
  const flush = (len: number): void => {
    // The object is little-endian; a big-endian machine swaps each double in place before reading it.
    if (!LITTLE_ENDIAN) Buffer.from(block.buffer, 0, len).swap64();
    inPass = true;
    visit(block.subarray(0, len / 8));
    inPass = false;
  };
  const body = await openValues(s3, object);
  let total = 0;
  let fill = 0;
  try {
    for await (const raw of body as AsyncIterable<Uint8Array>) {
      total += raw.length;
      if (total > expected) throw wrongSize(object, total, true);
      for (let o = 0; o < raw.length; ) {
        const n = Math.min(raw.length - o, bytes.length - fill);
        bytes.set(raw.subarray(o, o + n), fill);
        fill += n;
        o += n;
        if (fill === bytes.length) {
          flush(fill);
          fill = 0;
        }
      }
    }
  } catch (error) {
    if (error instanceof RatesWorkerError || inPass) throw error;
    throw scratchReadError(error, object);
  } finally {
    body.destroy();
  }
  if (total !== expected) throw wrongSize(object, total, false);
  if (fill > 0) flush(fill);
}
