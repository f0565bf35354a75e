/**
 * A body written to a new file with its MD5 and size, in one pass: what the store's object and part writes share.
 *
 * Socket reads arrive in chunks of ~64 KiB; piping them through a hashing Transform into a file WriteStream cost
 * one fs write and several stream hops per chunk, which made the local S3 server spend about as much CPU per byte
 * as the job it serves. Chunks are hashed as they arrive and written in batches of ~1 MiB with one `writev`.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';

const BATCH_BYTES = 1024 * 1024;

export interface WrittenFile {
  size: number;
  /** Hex MD5 of the bytes written: the ETag S3 gives an object or part written whole. */
  md5: string;
}

/**
 * Writes `content` to `file` (created: `flags` `wx` refuses an existing one) and resolves with its size and MD5.
 * On any failure the file is removed and the error rethrown; a stream failure is the stream's own error.
 */
export async function writeToFile(content: Buffer | Readable, file: string, flags = 'w'): Promise<WrittenFile> {
  const md5 = createHash('md5');
  let size = 0;
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, flags);
  } catch (error) {
    // As stream.pipeline would: the body nobody will read is released (a request's rest is then discarded).
    if (!Buffer.isBuffer(content)) content.destroy();
    throw error;
  }
  try {
    if (Buffer.isBuffer(content)) {
      md5.update(content);
      size = content.length;
      await handle.writeFile(content);
    } else {
      let batch: Buffer[] = [];
      let batchBytes = 0;
      for await (const chunk of content) {
        const data = chunk as Buffer;
        md5.update(data);
        size += data.length;
        batch.push(data);
        batchBytes += data.length;
        if (batchBytes >= BATCH_BYTES) {
          await writeAll(handle, batch);
          batch = [];
          batchBytes = 0;
        }
      }
      await writeAll(handle, batch);
    }
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined); // the write's error is the one to report
    await fsp.rm(file, { force: true });
    throw error;
  }
  return { size, md5: md5.digest('hex') };
}

/** `writev` may write less than asked (as write may); the rest is written until nothing is left. */
async function writeAll(handle: fsp.FileHandle, buffers: Buffer[]): Promise<void> {
  let pending = buffers.filter((buffer) => buffer.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending);
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (skip >= buffer.length) {
        skip -= buffer.length;
        continue;
      }
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
    pending = rest;
  }
}
