/**
 * CompleteMultipartUpload's assembly of the parts into the object, replacing s3rver's: s3rver streamed every part
 * through an MD5 of the whole object and a file WriteStream (the most CPU the local S3 server spent on a split rates
 * run). Here the parts are copied through one reused buffer, and the ETag is what S3 gives a multipart
 * object — the MD5 of the parts' binary MD5s, a dash and the number of parts — from the MD5s the part writes kept,
 * so no byte is hashed twice. The object is committed as every object write is (state/atomic-writes.ts: temp file,
 * rename and metadata under the key's lock); the upload's folder is removed afterwards, as s3rver did.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { commitObject, tempFileFor } from './atomic-writes.ts';
import type { ObjectMetadata, S3rverStore } from './s3rver.ts';

// Small enough to stay in the CPU cache between the read and the write: 4 MiB cost twice the system time.
const COPY_BYTES = 256 * 1024;

/** Replaces the store's putObjectMultipart; call before confineStore, which wraps it with its checks. */
export function makeMultipartAssemblyLean(store: S3rverStore): void {
  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    const uploadDir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const [key, metadata] = await Promise.all([
      fsp.readFile(path.join(uploadDir, 'key'), 'utf8'),
      fsp.readFile(path.join(uploadDir, 'metadata'), 'utf8').then((text) => JSON.parse(text) as ObjectMetadata),
    ]);
    const partPaths = [...parts]
      .sort((a, b) => Number(a.number) - Number(b.number))
      .map((part) => path.join(uploadDir, String(part.number)));
    const md5s = await Promise.all(partPaths.map((part) => fsp.readFile(`${part}.md5`, 'utf8')));
    const eTag = `${createHash('md5')
      .update(Buffer.concat(md5s.map((md5) => Buffer.from(md5.trim(), 'hex'))))
      .digest('hex')}-${partPaths.length}`;
    const temp = await tempFileFor(store, bucket, key);
    let size: number;
    try {
      size = await concatenate(partPaths, temp);
    } catch (error) {
      await fsp.rm(temp, { force: true });
      throw error;
    }
    await commitObject(store, { bucket, key, temp, metadata }, eTag);
    await fsp.rm(uploadDir, { recursive: true, force: true });
    return { size, md5: eTag };
  };
}

/** Writes the files one after the other into `target` (created); resolves with the bytes written. */
async function concatenate(files: string[], target: string): Promise<number> {
  const buffer = Buffer.allocUnsafe(COPY_BYTES);
  const out = await fsp.open(target, 'wx');
  let size = 0;
  try {
    for (const file of files) {
      const input = await fsp.open(file, 'r');
      try {
        for (;;) {
          const { bytesRead } = await input.read(buffer, 0, COPY_BYTES, null);
          if (bytesRead === 0) break;
          let written = 0;
          while (written < bytesRead) {
            written += (await out.write(buffer, written, bytesRead - written, size + written)).bytesWritten;
          }
          size += bytesRead;
        }
      } finally {
        await input.close();
      }
    }
  } finally {
    await out.close();
  }
  return size;
}
