/** Whole-object writes for the local S3 server: readers see the old object or the new one, never a part. */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FrontError } from '../protocol/errors.ts';
import { writeToFile } from './file-sink.ts';
import { keyLockOf } from './key-locks.ts';
import { readObjectWithLargeReads } from './object-reads.ts';
import { loadS3rver, type ObjectMetadata, type S3rverStore } from './s3rver.ts';

/**
 * s3rver writes an object in place and answers the PUT before the file is flushed, so a GET during or
 * just after a PUT can read a partial object — which S3 never shows (seen as an empty result read by the
 * EC2 backend's poll). Objects are written to a temp file beside the object, flushed, then renamed over
 * it, so readers see the old object or the new one, never a part.
 *
 * s3rver's GET also reads the object's size (stat) and opens the file in two steps: a rename in between would
 * serve the new file cut to the old size. So the rename with its metadata, and a GET's stat-and-open, take a
 * per-key lock; once the file is open, a later rename no longer affects what the reader streams.
 */
export function makeObjectWritesAtomic(store: S3rverStore): void {
  const withKeyLock = keyLockOf(store);
  store.getObject = (bucket, key, options) =>
    withKeyLock(bucket, key, () => readObjectWithLargeReads(store, bucket, key, options));

  store.putObject = async (object) => {
    const temp = await tempFileFor(store, object.bucket, object.key);
    let written: Awaited<ReturnType<typeof writeToFile>>;
    try {
      written = await writeToFile(object.content, temp);
    } catch (error) {
      // A body the front rejected (bad checksum, malformed aws-chunked): s3rver answers it with the right
      // status only when it is s3rver's own S3Error.
      if (error instanceof FrontError) throw new (loadS3rver().S3Error)(error.code, error.message, error.detail);
      throw error;
    }
    await commitObject(store, { bucket: object.bucket, key: object.key, temp, metadata: object.metadata }, written.md5);
    return written;
  };
}

/** A fresh temp path beside the object's file (its folder created); never ends with OBJECT_SUFFIX, so listing skips it. */
export async function tempFileFor(store: S3rverStore, bucket: string, key: string): Promise<string> {
  const objectPath = store.getResourcePath(bucket, key, 'object');
  await fsp.mkdir(path.dirname(objectPath), { recursive: true });
  return `${objectPath}.${randomBytes(8).toString('hex')}.tmp`;
}

/** Renames a fully written temp file over the object and stores its metadata and ETag, under the key's lock. */
export async function commitObject(
  store: S3rverStore,
  object: { bucket: string; key: string; temp: string; metadata: ObjectMetadata },
  eTag: string,
): Promise<void> {
  await keyLockOf(store)(object.bucket, object.key, async () => {
    try {
      await fsp.rename(object.temp, store.getResourcePath(object.bucket, object.key, 'object'));
    } catch (error) {
      await fsp.rm(object.temp, { force: true });
      throw error;
    }
    await store.putMetadata(object.bucket, object.key, object.metadata, eTag);
  });
}
