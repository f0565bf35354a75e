/**
 * One S3 request, after the signature check: its names are checked, s3rver is handed a path built from them,
 * and each operation goes to its handler — the front's own, or s3rver with a verified body.
 */
import type http from 'node:http';
import { CHECKSUM_HEADERS } from '../protocol/checksums.ts';
import { FrontError } from '../protocol/errors.ts';
import { headerValue, isAwsChunked } from '../protocol/headers.ts';
import { bodyOf, bufferedBody } from '../protocol/request-body.ts';
import { canonicalPath, checkTarget, parseCopySource, type RequestContext, type Target } from '../protocol/request.ts';
import { handleDeleteObjects } from './delete-objects.ts';
import type { S3Front } from './front.ts';
import { checkIfMatchHeader, rewriteRange, serveFirstByte } from './get-object.ts';
import { handleList } from './list.ts';
import { handleListUploads } from './list-uploads.ts';
import { handleAbort, handleComplete, handleUploadPart } from './multipart.ts';
import { handleUploadPartCopy } from './upload-part-copy.ts';

export async function route(
  front: S3Front,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  context: RequestContext,
  target: Target | undefined,
  query: URLSearchParams,
): Promise<void> {
  checkTarget(target);
  // s3rver routes by the path it is given: give it the one just checked.
  req.url = canonicalPath(target, req.url ?? '/');
  const bucket = target.bucket ?? '';
  const key = target.key ?? '';
  // Every request that names a copy source has it checked, whatever operation it turns out to be.
  if (req.headers['x-amz-copy-source'] !== undefined) rewriteCopySource(req);
  switch (context.operation) {
    case 'PostObject':
      // Browser form uploads: a web page can send one cross-site without a preflight, and nothing here
      // uses them. Refused before s3rver parses the form.
      throw new FrontError(
        'AccessDenied',
        'Access Denied: the local S3 server does not accept browser form uploads (POST Object).',
      );
    case 'ListObjects':
    case 'ListObjectsV2':
      return handleList(front, req, res, bucket, query, context.operation === 'ListObjectsV2');
    case 'ListMultipartUploads':
      return handleListUploads(front, req, res, bucket, query);
    case 'DeleteObjects':
      return handleDeleteObjects(front, req, res, bucket);
    case 'AbortMultipartUpload':
      return handleAbort(front, res, bucket, key, query.get('uploadId') ?? '');
    case 'UploadPart':
      return handleUploadPart(front, { req, res, bucket, key, query });
    case 'UploadPartCopy':
      return handleUploadPartCopy(front, { req, res, bucket, key, query });
    case 'CompleteMultipartUpload':
      return handleComplete(front, { req, res, bucket, key, query });
    case 'CopyObject':
      return front.toS3rver(req, res);
    case 'GetObject':
      await checkIfMatchHeader(front.store, req, bucket, key);
      if (await rewriteRange(front.store, req, bucket, key))
        return serveFirstByte(front.store, req, res, bucket, key, query);
      return front.toS3rver(req, res);
    case 'PutObject': {
      const body = bodyOf(req);
      await front.toS3rver(req, res, body);
      // s3rver writes objects in place: a rejected or aborted body leaves a partial file. Better gone than corrupt.
      if (body.failure) await front.store.deleteObject(bucket, key).catch(() => {});
      return;
    }
    default:
      return passOther(front, req, res);
  }
}

/** Requests the front does not handle itself go to s3rver; a body with checksums is verified first. */
async function passOther(front: S3Front, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  if (
    isAwsChunked(req.headers) ||
    (hasBody && Object.keys(CHECKSUM_HEADERS).some((name) => req.headers[name] !== undefined))
  ) {
    // Other requests with bodies (tagging, bucket configuration) are small, and s3rver reads some of
    // them with 'data' listeners, which a late failure would not reach: verify first, then pass on.
    return front.toS3rver(req, res, await bufferedBody(req, 64 * 1024 * 1024));
  }
  return front.toS3rver(req, res);
}

function rewriteCopySource(req: http.IncomingMessage): void {
  const raw = headerValue(req.headers, 'x-amz-copy-source');
  if (raw === undefined) return;
  const { bucket, key } = parseCopySource(raw);
  // s3rver applies decodeURI, which leaves %2B, %2F, %3F, ... encoded; hand it a form it decodes fully.
  req.headers['x-amz-copy-source'] = encodeURI(`/${bucket}/${key}`);
}
