/**
 * UploadPartCopy (`PUT /bucket/key?partNumber=N&uploadId=U` with `x-amz-copy-source`), which s3rver answers
 * NotImplemented: a part of a multipart upload taken from an existing object, whole or a byte range of it
 * (`x-amz-copy-source-range: bytes=first-last`). It is how one object is assembled server-side from others
 * (issue 14's `rates.csv` from the workers' outputs), so nothing passes through the client.
 *
 * As AWS S3 answers it (UploadPartCopy in the S3 API reference): `CopyPartResult` with the part's ETag (the MD5 of
 * the copied bytes, as for UploadPart) and LastModified; NoSuchUpload, NoSuchBucket, NoSuchKey for what is not
 * there; InvalidArgument for a part number outside 1..10000 or a range not of the form `bytes=first-last`;
 * InvalidRange (416) for a range past the end of the source. The 5 MiB minimum counts at completion, as for
 * uploaded parts. `x-amz-copy-source-if-match` is evaluated (PreconditionFailed, 412, when the source's ETag differs:
 * how a caller makes sure it copies the object it knows). Where this server differs: the other
 * `x-amz-copy-source-if-*` conditions are refused NotImplemented rather than ignored, and a range is accepted on a source of any size (AWS documents ranges as meant for sources
 * over 5 MB).
 *
 * The source is named by `x-amz-copy-source`, checked by `parseCopySource` like every key in a path; its file is
 * found through the store's `getResourcePath`, which `state/confine.ts` keeps inside the bucket's folder, and the
 * part is written by the store's `putPart`, which checks the upload id and the part number the same way.
 */
import { promises as fsp } from 'node:fs';
import type http from 'node:http';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkIfMatch } from '../protocol/conditions.ts';
import { FrontError, noSuchUpload } from '../protocol/errors.ts';
import { headerValue } from '../protocol/headers.ts';
import { sendXml, S3_XMLNS } from '../protocol/reply.ts';
import { parseCopyRange, parseCopySource } from '../protocol/request.ts';
import { isMissing, type ObjectMetadata, type S3rverStore } from '../state/s3rver.ts';
import { requireBucket, requireUpload } from '../state/uploads.ts';
import type { ObjectRequest, S3Front } from './front.ts';
import { checkPartNumber } from './multipart.ts';

/** The conditions this server does not evaluate (x-amz-copy-source-if-match it does). */
const UNSUPPORTED_CONDITIONS = ['if-none-match', 'if-modified-since', 'if-unmodified-since'].map(
  (name) => `x-amz-copy-source-${name}`,
);

export async function handleUploadPartCopy(
  front: S3Front,
  { req, res, bucket, key, query }: ObjectRequest,
): Promise<void> {
  req.resume(); // the request has no body; drain whatever a client sends anyway
  const partNumber = checkPartNumber(query.get('partNumber') ?? '');
  const uploadId = query.get('uploadId') ?? '';
  await requireUpload(front.store, bucket, key, uploadId);
  const condition = UNSUPPORTED_CONDITIONS.find((name) => req.headers[name] !== undefined);
  if (condition)
    throw new FrontError('NotImplemented', `The local S3 server does not implement ${condition} on UploadPartCopy.`, {
      Header: condition,
    });
  const source = parseCopySource(headerValue(req.headers, 'x-amz-copy-source') ?? '');
  await requireBucket(front.store, source.bucket);

  const handle = await openSource(front.store, source.bucket, source.key);
  let md5: string;
  try {
    await checkSourceETag(front.store, req, source);
    // The size of the file opened, not of the key: a PUT renaming a new object over it now changes neither.
    const size = (await handle.stat()).size;
    const range = parseCopyRange(headerValue(req.headers, 'x-amz-copy-source-range'), size);
    md5 = await copyIntoPart(
      front.store,
      handle,
      { bucket, uploadId, partNumber },
      range === undefined ? { first: 0, last: size - 1 } : range,
    );
  } finally {
    await handle.close();
  }
  const result = `<CopyPartResult xmlns="${S3_XMLNS}"><LastModified>${new Date().toISOString()}</LastModified><ETag>"${md5}"</ETag></CopyPartResult>`;
  sendXml(res, 200, result, req.method);
}

/**
 * `x-amz-copy-source-if-match`, checked against the source's ETag once its file is open. (A PUT replacing the source
 * between the open and this read would pair the new ETag with the old bytes; the local server accepts that window.)
 */
async function checkSourceETag(
  store: S3rverStore,
  req: http.IncomingMessage,
  source: { bucket: string; key: string },
): Promise<void> {
  const condition = headerValue(req.headers, 'x-amz-copy-source-if-match');
  if (condition === undefined) return;
  let metadata: ObjectMetadata;
  try {
    metadata = await store.getMetadata(source.bucket, source.key);
  } catch (error) {
    if (isMissing(error)) throw new FrontError('NoSuchKey', 'The specified key does not exist.', { Key: source.key });
    throw error;
  }
  checkIfMatch(condition, String(metadata.etag), 'x-amz-copy-source-If-Match');
}

async function openSource(store: S3rverStore, bucket: string, key: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(store.getResourcePath(bucket, key, 'object'), 'r');
  } catch (error) {
    if (isMissing(error) || (error as { code?: unknown }).code === 'EISDIR') {
      throw new FrontError('NoSuchKey', 'The specified key does not exist.', { Key: key });
    }
    throw error;
  }
}

/** Streams bytes `first`..`last` of the open source into the part; resolves with the part's MD5 (its ETag). */
async function copyIntoPart(
  store: S3rverStore,
  handle: fsp.FileHandle,
  part: { bucket: string; uploadId: string; partNumber: number },
  range: { first: number; last: number },
): Promise<string> {
  const body = new PassThrough();
  // An empty source (last = -1) gives an empty part.
  const reading =
    range.last < range.first
      ? Promise.resolve(body.end())
      : pipeline(handle.createReadStream({ start: range.first, end: range.last, autoClose: false }), body);
  const [read, stored] = await Promise.allSettled([
    reading,
    store.putPart(part.bucket, part.uploadId, part.partNumber, body),
  ]);
  // The upload aborted while the part was being written (state/part-writes.ts) is S3's NoSuchUpload, not a 500;
  // otherwise a failed read is the cause of whatever the write then reports.
  if (stored.status === 'rejected' && (stored.reason as { code?: unknown }).code === 'NoSuchUpload') {
    throw noSuchUpload(part.uploadId);
  }
  if (read.status === 'rejected') throw read.reason;
  if (stored.status === 'rejected') throw stored.reason;
  return stored.value.md5;
}
