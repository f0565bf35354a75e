/**
 * Parts written safely. s3rver's own putPart recreates the upload's folder (mkdirp) and pipes into a file stream that
 * has no 'error' listener: a part still arriving when its upload is aborted (the folder removed) either resurrects the
 * folder or fails the stream with nobody listening — which kills the server process (seen when a client cancels a
 * part and aborts the upload at once, as lib/aws/concat.ts does on a deadline). Here a part is written to a temp file
 * inside the upload's existing folder and renamed into place; every error is handled, and a folder that is gone
 * answers NoSuchUpload, as S3 answers a part sent after the abort.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FrontError } from '../protocol/errors.ts';
import { writeToFile } from './file-sink.ts';
import { isMissing, loadS3rver, type S3rverStore } from './s3rver.ts';

/** Replaces the store's putPart; call before confineStore, which wraps it with its checks. */
export function makePartWritesSafe(store: S3rverStore): void {
  const { S3Error } = loadS3rver();
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const dir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const partPath = path.join(dir, String(partNumber));
    const temp = `${partPath}.${randomBytes(8).toString('hex')}.tmp`;
    try {
      const written = await writeToFile(content, temp, 'wx');
      await fsp.rename(temp, partPath);
      await fsp.writeFile(`${partPath}.md5`, written.md5);
      return written;
    } catch (error) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      if (isMissing(error)) {
        throw new S3Error(
          'NoSuchUpload',
          'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
          { UploadId: uploadId },
        );
      }
      // A body the front rejected (bad checksum, malformed aws-chunked): s3rver answers it with the right status
      // only when it is s3rver's own S3Error.
      if (error instanceof FrontError) throw new S3Error(error.code, error.message, error.detail);
      throw error;
    }
  };
}
