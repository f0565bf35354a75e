/**
 * A worker's scratch object (a chunk's rates.csv bytes or its values), uploaded while it is produced, as
 * streamed-upload.ts uploads rates.csv: one PutObject when it ends under a part's size, a multipart upload
 * otherwise. Unlike that one, it counts the bytes that went through it, because the worker vouches for each
 * object's size in its answer and the coordinator assembles rates.csv from those sizes.
 *
 * Memory stays flat whatever the object's size: the stream holds `highWaterMark` bytes and lib-storage at most
 * `queueSize` parts of 5 MiB; a writer that outpaces S3 waits for 'drain'.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/** Counts what passes through: exactly the bytes lib-storage reads, so exactly the bytes of the object. */
class CountingStream extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

export interface Landed {
  bytes: number;
  eTag: string;
}

export interface ScratchUpload {
  /** Where the object's bytes are written. */
  stream: NodeJS.WritableStream;
  /** Rejects if the upload fails on its own (never resolves): a writer waiting for 'drain' would wait forever. */
  failed: Promise<never>;
  /** Ends the stream; resolves once the object is in S3, with its size and ETag. */
  land(): Promise<Landed>;
  /**
   * Makes sure the object never appears (unless it already has) and no multipart upload is left open; resolves once
   * lib-storage has aborted, with the upload's own error if it failed for a reason other than this.
   */
  abandon(): Promise<unknown>;
}

export function scratchUpload(
  s3: S3Client,
  target: { bucket: string; key: string; contentType: string; queueSize?: number },
): ScratchUpload {
  const stream = new CountingStream({ highWaterMark: 1 << 20 });
  // abandon() destroys the stream with an error that lib-storage may no longer be reading: it must not go unhandled.
  stream.on('error', () => undefined);
  const upload = new Upload({
    client: s3,
    params: { Bucket: target.bucket, Key: target.key, Body: stream, ContentType: target.contentType },
    queueSize: target.queueSize ?? 2,
    partSize: 5 * 1024 * 1024,
    // A failed upload aborts its multipart upload: an unfinished one bills until it is aborted.
    leavePartsOnError: false,
  });
  const done = upload.done();
  done.catch(() => undefined); // observed through failed / land / abandon
  const failed = new Promise<never>((_resolve, reject) => {
    done.catch(reject);
  });
  failed.catch(() => undefined);
  const abandoned = new Error(`upload of ${target.key} abandoned`);
  return {
    stream,
    failed,
    land: async () => {
      stream.end();
      const result = await done;
      const eTag = result.ETag;
      if (eTag === undefined) throw new Error(`S3 stored ${target.key} without answering its ETag`);
      return { bytes: stream.bytes, eTag };
    },
    abandon: async () => {
      stream.destroy(abandoned);
      const error = await done.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      return error === abandoned ? undefined : error;
    },
  };
}
