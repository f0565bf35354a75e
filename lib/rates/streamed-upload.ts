import { Transform, type TransformCallback } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/**
 * An object uploaded as it is produced — rates.csv on the single path, a chunk's scratch objects on a split run's
 * worker — visible in S3 only once `land()` is called: a stream of unknown length goes up as one PutObject when it
 * ends under a part's size, or as a multipart upload that is completed when it ends.
 *
 * Memory stays flat whatever the object's size: the stream holds 1 MiB and lib-storage at most `queueSize` parts of
 * 5 MiB; a writer that outpaces S3 waits for 'drain'. It counts the bytes lib-storage read, so `land()` tells the
 * object's exact size (a split run's worker vouches for it; the coordinator assembles rates.csv from those sizes).
 */

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
  /** As S3 answered it (quoted); undefined if it answered none. */
  eTag: string | undefined;
}

export interface StreamedUpload {
  /** Where the object's bytes are written. */
  stream: NodeJS.WritableStream;
  /** Rejects if the upload fails on its own (never resolves): a writer waiting for 'drain' would wait forever. */
  failed: Promise<never>;
  /** Ends the stream, so the object appears; resolves once it is there, with its size and ETag. */
  land(): Promise<Landed>;
  /**
   * Makes sure the object can no longer appear (unless it already has), and waits for lib-storage to abort its
   * multipart upload (it does so when the stream errors; `Upload.abort()` would only stop waiting for it). Resolves
   * with the upload's own error, if it failed for a reason other than this.
   */
  abandon(): Promise<unknown>;
}

export function streamedUpload(
  s3: S3Client,
  target: { bucket: string; key: string; contentType?: string; queueSize?: number },
): StreamedUpload {
  const stream = new CountingStream({ highWaterMark: 1 << 20 });
  // abandon() destroys the stream with an error; lib-storage reads it while it uploads, but perhaps no longer then.
  stream.on('error', () => undefined);
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: target.bucket,
      Key: target.key,
      Body: stream,
      ContentType: target.contentType ?? 'text/csv; charset=utf-8',
    },
    queueSize: target.queueSize ?? 4,
    partSize: 5 * 1024 * 1024,
    // A failed upload aborts its multipart upload: an unfinished one bills until it is aborted.
    leavePartsOnError: false,
  });
  const done = upload.done();
  done.catch(() => undefined); // observed through failed / land / abandon
  const abandoned = new Error(`upload of ${target.key} abandoned`);
  const failed = new Promise<never>((_resolve, reject) => {
    done.catch(reject);
  });
  failed.catch(() => undefined);
  return {
    stream,
    failed,
    land: async () => {
      stream.end();
      const result = await done;
      return { bytes: stream.bytes, eTag: result.ETag };
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
