/**
 * GetObject's file read, as s3rver's filesystem store does it (range clamped to the object, an unsatisfiable range
 * answered with no content, a missing key with null) but in reads of 1 MiB instead of Node's default 64 KiB: every
 * read is a stream chunk and a socket write, whose fixed costs dominated the server's CPU for ranged reads of
 * large objects.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { loadS3rver, type S3rverStore } from './s3rver.ts';

const READ_BYTES = 1024 * 1024;

/** What s3rver's controller passes: the range's first and last byte, when the request has one. */
interface RangeOptions {
  start?: number;
  end?: number;
}

export async function readObjectWithLargeReads(
  store: S3rverStore,
  bucket: string,
  key: string,
  options: unknown,
): Promise<unknown> {
  const { S3Object } = loadS3rver();
  const asked = (options ?? {}) as RangeOptions;
  let metadata: Awaited<ReturnType<S3rverStore['getMetadata']>>;
  try {
    metadata = await store.getMetadata(bucket, key);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return null;
    throw error;
  }
  const lastByte = Math.max(0, Number(metadata['content-length']) - 1);
  const range = { start: asked.start || 0, end: Math.min(asked.end || Number.POSITIVE_INFINITY, lastByte) };
  const ranged = asked.start !== undefined || Boolean(asked.end);
  const satisfiable = range.start >= 0 && range.end >= range.start;
  let content: ReadStream | null = null;
  if (satisfiable) {
    try {
      content = await openAt(store.getResourcePath(bucket, key, 'object'), range);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return null;
      throw error;
    }
  }
  const object = new S3Object(bucket, key, content, metadata);
  if (ranged) object.range = range;
  return object;
}

function openAt(file: string, range: { start: number; end: number }): Promise<ReadStream> {
  return new Promise((resolve, reject) => {
    const stream = createReadStream(file, { ...range, highWaterMark: READ_BYTES })
      .on('error', reject)
      .on('open', () => resolve(stream));
  });
}
