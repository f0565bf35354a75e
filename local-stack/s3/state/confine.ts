/**
 * How the local S3 server keeps objects on disk safely: s3rver's filesystem store, confined to its data
 * folder (`confineStore`).
 */
import path from 'node:path';
import { bucketNameProblem, isInside, keyProblem, type NameProblem } from './names.ts';
import { loadS3rver, UPLOAD_ID, type S3rverStore } from './s3rver.ts';

/**
 * Belt and braces under the front's own checks: every filesystem path s3rver's store builds from a bucket
 * name, a key or an upload id must stay inside that bucket's folder, whoever asks (s3rver's controllers,
 * the front's own handlers, or a request shape nobody thought of).
 *
 * s3rver's filesystem store builds every path from `getBucketPath` or `getResourcePath` (including the
 * cleanup of emptied folders in `deleteObject`, which reuses a key `getResourcePath` has just checked); the
 * multipart methods join an upload id and a part number onto the uploads folder. Those are the places
 * checked here. A refused name is s3rver's own S3Error, so whoever called answers 400, never 500.
 */
export function confineStore(store: S3rverStore, root: string): void {
  const { S3Error } = loadS3rver();
  const refuse = (problem: NameProblem, detail: Record<string, unknown>): never => {
    throw new S3Error(problem.code, problem.message, detail);
  };
  const escaped = (what: string): never => {
    throw new S3Error(
      'InvalidArgument',
      `The request names a path outside the bucket's folder (${what.slice(0, 200)}).`,
    );
  };
  const bucketPath = store.getBucketPath.bind(store);
  const resourcePath = store.getResourcePath.bind(store);
  const getBucket = store.getBucket.bind(store);
  const initiateUpload = store.initiateUpload.bind(store);
  const putPart = store.putPart.bind(store);
  const putObjectMultipart = store.putObjectMultipart.bind(store);

  store.getBucketPath = (bucket) => {
    const problem = bucketNameProblem(bucket);
    if (problem) refuse(problem, { BucketName: bucket });
    const resolved = path.resolve(bucketPath(bucket));
    if (path.dirname(resolved) !== root) escaped(`bucket ${bucket}`);
    return resolved;
  };
  store.getResourcePath = (bucket, key, resource) => {
    const folder = store.getBucketPath(bucket);
    // No key (or an empty one) names a bucket-level resource such as the uploads folder or the CORS config.
    if (key !== undefined && key !== '') {
      const problem = keyProblem(key);
      if (problem) refuse(problem, { ArgumentName: 'key', ArgumentValue: key });
    }
    const resolved = path.resolve(resourcePath(bucket, key, resource));
    if (!isInside(folder, resolved)) escaped(`key ${key ?? ''}`);
    return resolved;
  };
  // A folder in the data directory that is not a valid bucket name (e.g. a stray file) is no bucket; asking
  // for it is not an error (ListBuckets asks for every entry).
  store.getBucket = (bucket) => (bucketNameProblem(bucket) ? Promise.resolve(null) : getBucket(bucket));

  const checkUpload = (bucket: string, uploadId: string): void => {
    if (typeof uploadId !== 'string' || !UPLOAD_ID.test(uploadId)) {
      throw new S3Error(
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
        {
          UploadId: String(uploadId).slice(0, 200),
        },
      );
    }
    const uploads = store.getResourcePath(bucket, undefined, 'uploads');
    if (!isInside(uploads, path.join(uploads, uploadId))) escaped(`upload ${uploadId}`);
  };
  const checkPartNumber = (partNumber: unknown): void => {
    if (!/^\d{1,5}$/.test(String(partNumber)) || Number(partNumber) < 1 || Number(partNumber) > 10000) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
        ArgumentName: 'partNumber',
        ArgumentValue: String(partNumber).slice(0, 200),
      });
    }
  };
  store.initiateUpload = async (bucket, key, uploadId, metadata) => {
    checkUpload(bucket, uploadId);
    store.getResourcePath(bucket, key, 'object'); // checks the key the upload will complete to
    return initiateUpload(bucket, key, uploadId, metadata);
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    checkUpload(bucket, uploadId);
    checkPartNumber(partNumber);
    return putPart(bucket, uploadId, partNumber, content);
  };
  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    checkUpload(bucket, uploadId);
    for (const part of parts) checkPartNumber(part.number);
    return putObjectMultipart(bucket, uploadId, parts);
  };
}
