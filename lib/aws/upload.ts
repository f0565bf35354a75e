import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload, type Options } from '@aws-sdk/lib-storage';

/**
 * Uploads with lib-storage's `Upload` (multipart above 5 MiB, parts in parallel), stoppable by `signal`: on abort
 * it rejects with the signal's reason only once the multipart upload it opened has been aborted. An unfinished
 * multipart upload keeps its parts — billed — until someone aborts it.
 *
 * Why not `Upload.abort()` alone: it makes `done()` reject at once, but lib-storage sends AbortMultipartUpload
 * only later, after the parts (or the CreateMultipartUpload) it has in flight come back; a caller that exits on the
 * rejection — the CLI on Ctrl-C — never sends it. So every request the upload makes goes through a wrapper that
 * knows what is in flight and which upload ids are open: after the abort, the requests in flight land and each
 * upload still open is aborted here (NoSuchUpload then means lib-storage got there first).
 */
export async function uploadStoppably(s3: S3Client, params: Options['params'], signal?: AbortSignal): Promise<void> {
  if (signal === undefined) {
    await new Upload({ client: s3, params }).done();
    return;
  }
  signal.throwIfAborted();
  const inFlight = new Set<Promise<unknown>>();
  const open = new Set<string>();
  const send = s3.send.bind(s3) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
  const tracked = (command: unknown, ...rest: unknown[]): Promise<unknown> => {
    const request = send(command, ...rest);
    inFlight.add(request);
    request.then(
      (output) => {
        if (command instanceof CreateMultipartUploadCommand) {
          const { UploadId } = output as { UploadId?: string };
          if (UploadId !== undefined) open.add(UploadId);
        } else if (
          command instanceof CompleteMultipartUploadCommand ||
          command instanceof AbortMultipartUploadCommand
        ) {
          if (command.input.UploadId !== undefined) open.delete(command.input.UploadId);
        }
      },
      () => undefined, // the caller of send (lib-storage) gets the error; here only successes change what is open
    );
    void request.finally(() => inFlight.delete(request)).catch(() => undefined);
    return request;
  };
  const client = new Proxy(s3, {
    get: (target, property, receiver) => (property === 'send' ? tracked : Reflect.get(target, property, receiver)),
  });

  const upload = new Upload({ client, params });
  const onAbort = () => void upload.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await upload.done();
  } catch (error) {
    if (!signal.aborted) throw error; // lib-storage aborted its multipart upload before rejecting
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    for (const uploadId of open) {
      try {
        await s3.send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }));
      } catch (abortError) {
        if ((abortError as { name?: string }).name !== 'NoSuchUpload') {
          throw new Error(
            `could not abort the multipart upload ${uploadId} of s3://${params.Bucket}/${params.Key}: ${(abortError as Error).message}`,
            {
              cause: abortError,
            },
          );
        }
      }
    }
    throw signal.reason;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
