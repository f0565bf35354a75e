/** Buckets and multipart uploads as s3rver's store keeps them, looked up for the front's own handlers. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FrontError, noSuchUpload } from '../protocol/errors.ts';
import { isInside } from './names.ts';
import { isMissing, UPLOAD_ID, type S3rverStore } from './s3rver.ts';

export async function requireBucket(store: S3rverStore, bucket: string): Promise<void> {
  if (!(await store.getBucket(bucket))) {
    throw new FrontError('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
  }
}

function uploadDir(store: S3rverStore, bucket: string, uploadId: string): string {
  if (!UPLOAD_ID.test(uploadId)) throw noSuchUpload(uploadId);
  const uploads = store.getResourcePath(bucket, undefined, 'uploads');
  const dir = path.join(uploads, uploadId);
  if (!isInside(uploads, dir)) throw noSuchUpload(uploadId);
  return dir;
}

/**
 * The folder of an upload of `key`. An upload id used with another key is NoSuchUpload, as on S3: s3rver
 * would store the parts under the upload's own key and announce the URL's key.
 */
export async function requireUpload(
  store: S3rverStore,
  bucket: string,
  key: string,
  uploadId: string,
): Promise<string> {
  await requireBucket(store, bucket);
  const dir = uploadDir(store, bucket, uploadId);
  let uploadKey: string;
  try {
    uploadKey = await fsp.readFile(path.join(dir, 'key'), 'utf8');
  } catch (error) {
    if (isMissing(error)) throw noSuchUpload(uploadId);
    throw error;
  }
  if (uploadKey !== key) throw noSuchUpload(uploadId);
  return dir;
}
