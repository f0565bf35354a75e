/**
 * A chunk's values object (little-endian Float64 rates in row order, written by a parse task) read back as the
 * `ChunkValues` a statistics round answers from (stats-rounds.ts), whatever fetches it: the SDK with credentials
 * (values-object.ts) or a presigned URL on an EC2 instance (ec2-worker.ts). Every pass is one GET, streamed and
 * re-blocked into Float64Arrays of a fixed size, so a worker's memory stays one block whatever the chunk's size.
 * Imports no AWS SDK: the EC2 worker bundle carries this file.
 */
import { endianness } from 'node:os';
import type { ChunkValues } from './stats-rounds.ts';
import { RatesWorkerError } from './worker-errors.ts';

/** Values per block handed to a pass: 512 KiB. */
export const VALUES_BLOCK = 64 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';

/** One GET of the object: its body and the length the response announced, if any. */
export interface OpenedValues {
  body: AsyncIterable<Uint8Array> & { destroy(): void };
  length?: number | undefined;
}

export interface ValuesSource {
  /** `s3://bucket/key`, for messages. */
  uri: string;
  /** How many values it holds: the object must be exactly 8 × count bytes. */
  count: number;
  /** Starts one GET; what it throws is already the error to report. */
  open(): Promise<OpenedValues>;
  /** The error to report for a failure while the body streams. */
  streamError(error: unknown): Error;
}

export function chunkValuesFrom(source: ValuesSource, blockValues = VALUES_BLOCK): ChunkValues {
  return {
    count: source.count,
    forEachBlock: (visit) => readValues(source, blockValues, visit),
  };
}

function wrongSize(source: ValuesSource, bytes: number, atLeast: boolean): RatesWorkerError {
  return new RatesWorkerError(
    `${source.uri} holds ${atLeast ? 'at least ' : ''}${bytes} bytes, not 8 × ${source.count} = ` +
      `${8 * source.count}: it is not the values object its parse task answered`,
  );
}

async function openValues(source: ValuesSource): Promise<OpenedValues['body']> {
  const { body, length } = await source.open();
  if (length !== undefined && length !== 8 * source.count) {
    body.destroy();
    throw wrongSize(source, length, false);
  }
  return body;
}

/**
 * One pass: the object's bytes copied into one block's buffer, which is visited each time it fills (a network
 * chunk can end mid-double: the rest of it starts the next block). The same block is reused, which is safe
 * because the passes (rank-answer.ts) copy whatever values they keep.
 */
async function readValues(
  source: ValuesSource,
  blockValues: number,
  visit: (values: Float64Array) => void,
): Promise<void> {
  const expected = 8 * source.count;
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
  const body = await openValues(source);
  let total = 0;
  let fill = 0;
  try {
    for await (const raw of body) {
      total += raw.length;
      if (total > expected) throw wrongSize(source, total, true);
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
    throw source.streamError(error);
  } finally {
    body.destroy();
  }
  if (total !== expected) throw wrongSize(source, total, false);
  if (fill > 0) flush(fill);
}
