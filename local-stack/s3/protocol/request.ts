/**
 * What an S3 request names and asks for: bucket and key from a path-style URL, the operation, the copy source
 * and its range, the access key id. Pure functions of the request line and headers.
 */
import type http from 'node:http';
import { bucketNameProblem, keyProblem } from '../state/names.ts';
import { FrontError, frontProblem } from './errors.ts';
import { headerValue } from './headers.ts';

export type Operation =
  | 'ListObjects'
  | 'ListObjectsV2'
  | 'ListMultipartUploads'
  | 'DeleteObjects'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'UploadPartCopy'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'CopyObject'
  | 'PutObject'
  | 'PostObject'
  | 'GetObject'
  | 'DeleteObject'
  | 'Other';

export interface RequestContext {
  operation: Operation;
  sourceIp: string;
  requestId: string;
}

export interface Target {
  bucket: string | undefined;
  key: string | undefined;
}

const LIST_PARAMS = new Set([
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'marker',
  'continuation-token',
  'start-after',
  'fetch-owner',
  'encoding-type',
  'x-id',
  'Signature',
  'AWSAccessKeyId',
  'Expires',
]);

/**
 * Bucket and key of a path-style request path, percent-decoded; undefined when the path cannot be decoded.
 * Names are checked by `checkTarget`, and s3rver is then handed a path the front built itself
 * (`canonicalPath`), so the front and s3rver never disagree on what a request names.
 */
export function parseTarget(pathname: string): Target | undefined {
  const trimmed = pathname.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  try {
    const bucket = decodeURIComponent(slash === -1 ? trimmed : trimmed.slice(0, slash));
    const key = slash === -1 ? '' : decodeURIComponent(trimmed.slice(slash + 1));
    return { bucket: bucket === '' ? undefined : bucket, key: key === '' ? undefined : key };
  } catch {
    return undefined;
  }
}

/** Refuses a request whose path cannot be decoded, names an invalid bucket or has a key S3 keys cannot be here. */
export function checkTarget(target: Target | undefined): asserts target is Target {
  if (target === undefined)
    throw new FrontError('InvalidURI', "Couldn't parse the specified URI: it is not valid percent-encoded UTF-8.");
  if (target.bucket !== undefined) {
    const problem = bucketNameProblem(target.bucket);
    if (problem) throw frontProblem(problem, { BucketName: target.bucket.slice(0, 200) });
  }
  if (target.key !== undefined) {
    const problem = keyProblem(target.key);
    if (problem) throw frontProblem(problem, { ArgumentName: 'key', ArgumentValue: target.key.slice(0, 1100) });
  }
}

/** The path s3rver gets: the checked bucket and key, each path segment percent-encoded as s3rver's router decodes it. */
export function canonicalPath(target: Target, rawUrl: string): string {
  const question = rawUrl.indexOf('?');
  const search = question === -1 ? '' : rawUrl.slice(question);
  if (target.bucket === undefined) return `/${search}`;
  const key = target.key === undefined ? '' : `/${target.key.split('/').map(encodeURIComponent).join('/')}`;
  return `/${encodeURIComponent(target.bucket)}${key}${search}`;
}

/**
 * The bucket and key an `x-amz-copy-source` header names (`bucket/key` or `/bucket/key`, URL-encoded as S3
 * requires, optionally `?versionId=`), checked like a request's own bucket and key.
 */
export function parseCopySource(raw: string): { bucket: string; key: string } {
  const question = raw.indexOf('?'); // `?versionId=`: no versioning here
  let decoded: string;
  try {
    decoded = decodeURIComponent(question === -1 ? raw : raw.slice(0, question));
  } catch {
    throw new FrontError(
      'InvalidArgument',
      'Invalid copy source encoding: x-amz-copy-source must be URL-encoded UTF-8.',
      {
        ArgumentName: 'x-amz-copy-source',
        ArgumentValue: raw.slice(0, 1100),
      },
    );
  }
  const source = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) {
    throw new FrontError(
      'InvalidArgument',
      'Copy Source must mention the source bucket and key: sourcebucket/sourcekey',
      {
        ArgumentName: 'x-amz-copy-source',
        ArgumentValue: raw.slice(0, 1100),
      },
    );
  }
  const bucket = source.slice(0, slash);
  const key = source.slice(slash + 1);
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) throw frontProblem(bucketProblem, { BucketName: bucket.slice(0, 200) });
  const problem = keyProblem(key);
  if (problem) throw frontProblem(problem, { ArgumentName: 'x-amz-copy-source', ArgumentValue: raw.slice(0, 1100) });
  return { bucket, key };
}

/** The bytes an UploadPartCopy takes from its source: `first` to `last`, both included. */
export interface CopyRange {
  first: number;
  last: number;
}

/**
 * The `x-amz-copy-source-range` of an UploadPartCopy, checked against the source's size as AWS checks it: anything
 * but one `bytes=first-last` (zero-based, inclusive) is InvalidArgument naming the header; a range that is
 * reversed or ends past the source is InvalidRange (416). Without the header the whole source is copied.
 */
export function parseCopyRange(raw: string | undefined, size: number): CopyRange | undefined {
  if (raw === undefined) return undefined;
  const match = /^bytes=(\d{1,16})-(\d{1,16})$/.exec(raw.trim());
  if (!match) {
    throw new FrontError(
      'InvalidArgument',
      'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
      { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: raw.slice(0, 200) },
    );
  }
  const first = Number(match[1]);
  const last = Number(match[2]);
  if (first > last || last >= size) {
    throw new FrontError('InvalidRange', 'The requested range is not satisfiable', {
      RangeRequested: raw.trim().slice(0, 200),
      ActualObjectSize: size,
    });
  }
  return { first, last };
}

export function classify(
  method: string,
  target: Target | undefined,
  query: URLSearchParams,
  headers: http.IncomingHttpHeaders,
): Operation {
  if (!target?.bucket) return 'Other';
  if (target.key === undefined) {
    if (
      method === 'GET' &&
      [...query.keys()].every((name) => LIST_PARAMS.has(name) || name.toLowerCase().startsWith('x-amz-'))
    ) {
      return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    }
    if (method === 'GET' && query.has('uploads')) return 'ListMultipartUploads';
    if (method === 'POST') return query.has('delete') ? 'DeleteObjects' : 'PostObject';
    return 'Other';
  }
  switch (method) {
    case 'PUT':
      if (query.has('uploadId')) {
        if (!query.has('partNumber')) return 'Other';
        return headers['x-amz-copy-source'] !== undefined ? 'UploadPartCopy' : 'UploadPart';
      }
      if (query.has('tagging') || query.has('acl')) return 'Other';
      return headers['x-amz-copy-source'] !== undefined ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (query.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Other';
    case 'GET':
    case 'HEAD':
      return [...query.keys()].some((name) =>
        ['acl', 'tagging', 'uploadId', 'torrent', 'legal-hold', 'retention'].includes(name),
      )
        ? 'Other'
        : 'GetObject';
    case 'DELETE':
      if (query.has('uploadId')) return 'AbortMultipartUpload';
      return query.has('tagging') ? 'Other' : 'DeleteObject';
    default:
      return 'Other';
  }
}

export function accessKeyIdOf(headers: http.IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const authorization = headerValue(headers, 'authorization');
  if (authorization) {
    const v4 = /Credential=([^/,\s]+)\//.exec(authorization);
    if (v4?.[1]) return v4[1];
    const v2 = /^AWS ([^:\s]+):/.exec(authorization);
    if (v2?.[1]) return v2[1];
  }
  const credential = query.get('X-Amz-Credential');
  if (credential) return credential.split('/')[0];
  return query.get('AWSAccessKeyId') ?? undefined;
}
