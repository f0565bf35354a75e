/** Whole-object writes for the local S3 server: readers see the old object or the new one, never a part. */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FrontError } from '../protocol/errors.ts';
import { loadS3rver, type S3rverStore } from './s3rver.ts';

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
  const locks = new Map<string, Promise<void>>();
  const withKeyLock = async <T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const previous = locks.get(id) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    locks.set(id, mine);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (locks.get(id) === mine) locks.delete(id);
    }
  };
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key, options) => withKeyLock(bucket, key, () => getObject(bucket, key, options));

  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await fsp.mkdir(path.dirname(objectPath), { recursive: true });
    const temp = `${objectPath}.${randomBytes(8).toString('hex')}.tmp`; // never ends with OBJECT_SUFFIX: listing skips it
    const md5 = createHash('md5');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
      await pipeline(source, hashing, createWriteStream(temp));
    } catch (error) {
      await fsp.rm(temp, { force: true });
      // A body the front rejected (bad checksum, malformed aws-chunked): s3rver answers it with the right
      // status only when it is s3rver's own S3Error.
      if (error instanceof FrontError) throw new (loadS3rver().S3Error)(error.code, error.message, error.detail);
      throw error;
    }
    const digest = md5.digest('hex');
    await withKeyLock(object.bucket, object.key, async () => {
      try {
        await fsp.rename(temp, objectPath);
      } catch (error) {
        await fsp.rm(temp, { force: true });
        throw error;
      }
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    });
    return { size, md5: digest };
  };
}
