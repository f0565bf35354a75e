import { PassThrough } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/**
 * `rates.csv` uploaded as it is produced, visible in S3 only once `land()` is called: a stream of unknown length goes
 * up as one PutObject when it ends (under 5 MB) or as a multipart upload that is completed when it ends.
 */
export function streamedUpload(s3: S3Client, bucket: string, key: string) {
  const stream = new PassThrough({ highWaterMark: 1 << 20 });
  // abandon() destroys the stream with an error; lib-storage reads it while it uploads, but perhaps no longer then.
  stream.on('error', () => undefined);
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: stream, ContentType: 'text/csv; charset=utf-8' },
    queueSize: 4,
    partSize: 5 * 1024 * 1024,
    leavePartsOnError: false,
  });
  const done = upload.done();
  done.catch(() => undefined); // observed through failed / land / abandon
  const abandoned = new Error('rates.csv upload abandoned');
  const failed = new Promise<never>((_resolve, reject) => {
    done.catch(reject);
  });
  failed.catch(() => undefined);
  return {
    stream,
    /** Rejects if the upload fails on its own (never resolves). */
    failed,
    /** Ends the stream, so rates.csv appears; resolves once it is there. */
    land: (): Promise<unknown> => {
      stream.end();
      return done;
    },
    /**
     * Makes sure rates.csv can no longer appear, and waits for lib-storage to abort its multipart upload (it does so
     * when the stream errors; `Upload.abort()` would only stop waiting for it). Resolves with the upload's own error,
     * if it failed for a reason other than this.
     */
    abandon: async (): Promise<unknown> => {
      stream.destroy(abandoned);
      const error = await done.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      return error === abandoned ? undefined : error;
    },
  };
}

export type StreamedUpload = ReturnType<typeof streamedUpload>;
