/**
 * GetObject and HeadObject ranges: s3rver reads `bytes=-N` as `bytes=0-N`, announces a byte of an empty
 * object, and reads the end 0 of `bytes=0-0` as "no end". The front rewrites or answers those itself. s3rver
 * also ignores `If-Match`, which the front evaluates first (`checkIfMatchHeader`).
 */
import { promises as fsp } from 'node:fs';
import type http from 'node:http';
import { checkIfMatch } from '../protocol/conditions.ts';
import { FrontError } from '../protocol/errors.ts';
import { headerValue } from '../protocol/headers.ts';
import { isMissing, type ObjectMetadata, type S3rverStore } from '../state/s3rver.ts';

/** `If-Match` on GetObject/HeadObject: 412 PreconditionFailed when the object's ETag differs (a missing object is s3rver's NoSuchKey). */
export async function checkIfMatchHeader(
  store: S3rverStore,
  req: http.IncomingMessage,
  bucket: string,
  key: string,
): Promise<void> {
  const condition = headerValue(req.headers, 'if-match');
  if (condition === undefined) return;
  let metadata: ObjectMetadata;
  try {
    metadata = await store.getMetadata(bucket, key);
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  checkIfMatch(condition, String(metadata.etag), 'If-Match');
}

/**
 * Adapts a Range header to what s3rver handles correctly. Returns true for `bytes=0-0` on a non-empty
 * object, which s3rver cannot serve (it reads the end 0 as "no end") and the front serves itself.
 */
export async function rewriteRange(
  store: S3rverStore,
  req: http.IncomingMessage,
  bucket: string,
  key: string,
): Promise<boolean> {
  const range = headerValue(req.headers, 'range');
  if (range === undefined) return false;
  const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  // S3 ignores range headers it cannot use (multiple ranges, other units): the whole object is returned.
  if (!match || (match[1] === '' && match[2] === '')) {
    delete req.headers.range;
    return false;
  }
  const [, first = '', last = ''] = match;
  if (first !== '' && last !== '' && Number(first) > Number(last)) {
    delete req.headers.range;
    return false;
  }
  let metadata: ObjectMetadata;
  try {
    metadata = await store.getMetadata(bucket, key);
  } catch {
    return false; // s3rver reports the missing object
  }
  const size = Number(metadata['content-length']);
  if (size === 0 && first !== '') {
    delete req.headers.range; // s3rver would announce one byte and send none
  } else if (first === '') {
    // bytes=-N: the last N bytes (s3rver reads it as bytes=0-N)
    req.headers.range = `bytes=${Math.max(0, size - Number(last))}-`;
  } else if (last !== '' && Number(last) === 0) {
    return true;
  }
  return false;
}

/** GET/HEAD with `Range: bytes=0-0`, answered the way s3rver answers other ranges. */
export async function serveFirstByte(
  store: S3rverStore,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bucket: string,
  key: string,
  query: URLSearchParams,
): Promise<void> {
  let metadata: ObjectMetadata;
  let first: Buffer;
  try {
    metadata = await store.getMetadata(bucket, key);
    const handle = await fsp.open(store.getResourcePath(bucket, key, 'object'), 'r');
    try {
      first = Buffer.alloc(1);
      await handle.read(first, 0, 1, 0);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isMissing(error)) throw new FrontError('NoSuchKey', 'The specified key does not exist.', { Key: key });
    throw error;
  }
  const etag = String(metadata.etag);
  const lastModified = new Date(String(metadata['last-modified']));
  const noneMatch = headerValue(req.headers, 'if-none-match');
  const modifiedSince = headerValue(req.headers, 'if-modified-since');
  if (
    (noneMatch !== undefined && (noneMatch === etag || noneMatch === '*')) ||
    (modifiedSince !== undefined && new Date(modifiedSince) >= lastModified)
  ) {
    res.statusCode = 304;
    res.end();
    return;
  }
  for (const [name, value] of Object.entries(metadata)) {
    if (value !== undefined && name !== 'content-length') res.setHeader(name, String(value));
  }
  for (const [param, header] of [
    ['response-content-type', 'content-type'],
    ['response-content-language', 'content-language'],
    ['response-expires', 'expires'],
    ['response-cache-control', 'cache-control'],
    ['response-content-disposition', 'content-disposition'],
    ['response-content-encoding', 'content-encoding'],
  ] as const) {
    const value = query.get(param);
    if (value !== null) res.setHeader(header, value);
  }
  res.statusCode = 206;
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Content-Range', `bytes 0-0/${String(metadata['content-length'])}`);
  res.setHeader('Content-Length', 1);
  res.end(req.method === 'HEAD' ? undefined : first);
}
