/**
 * Parts written safely. s3rver's own putPart recreates the upload's folder (mkdirp) and pipes into a file stream that
 * has no 'error' listener: a part still arriving when its upload is aborted (the folder removed) either resurrects the
 * folder or fails the stream with nobody listening — which kills the server process (seen when a client cancels a
 * part and aborts the upload at once, as lib/aws/concat.ts does on a deadline). Here a part is written to a temp file
 * inside the upload's existing folder and renamed into place; every error is handled, and a folder that is gone
 * answers NoSuchUpload, as S3 answers a part sent after the abort.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isMissing, loadS3rver, type S3rverStore } from './s3rver.ts';

/** Replaces the store's putPart; call before confineStore, which wraps it with its checks. */
export function makePartWritesSafe(store: S3rverStore): void {
  const { S3Error } = loadS3rver();
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const dir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const partPath = path.join(dir, String(partNumber));
    const temp = `${partPath}.${randomBytes(8).toString('hex')}.tmp`;
    const md5 = createHash('md5');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(content, measure, createWriteStream(temp, { flags: 'wx' }));
      await fsp.rename(temp, partPath);
      const digest = md5.digest('hex');
      await fsp.writeFile(`${partPath}.md5`, digest);
      return { size, md5: digest };
    } catch (error) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      if (isMissing(error)) {
        throw new S3Error(
          'NoSuchUpload',
          'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
          { UploadId: uploadId },
        );
      }
      throw error;
    }
  };
}
