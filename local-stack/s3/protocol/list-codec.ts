/**
 * ListObjects and ListObjectsV2 on the wire: the request's parameters, opaque continuation tokens (s3rver's use
 * DES, which Node's OpenSSL 3 refuses), `encoding-type=url`, and the `ListBucketResult` document.
 */
import { element as tag } from '../../shared/xml.ts';
import type { ListItem, ListQuery, ListResult } from '../state/listing.ts';
import type { ObjectMetadata } from '../state/s3rver.ts';
import { FrontError } from './errors.ts';
import { S3_XMLNS } from './reply.ts';

function encodeContinuationToken(item: ListItem): string {
  return Buffer.from(JSON.stringify([item.value, item.isPrefix ? 1 : 0]), 'utf8').toString('base64url');
}

function decodeContinuationToken(token: string): ListItem | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && typeof parsed[0] === 'string' && (parsed[1] === 0 || parsed[1] === 1)) {
      return { value: parsed[0], isPrefix: parsed[1] === 1 };
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** `encoding-type=url` as S3 applies it in listings (`/` left as is). */
function encodeListValue(value: string, urlEncoding: boolean): string {
  return urlEncoding ? encodeURIComponent(value).replace(/%2F/g, '/') : value;
}

/** A list request as read from its query string. */
export interface ListRequest {
  v2: boolean;
  query: URLSearchParams;
  /** `max-keys` as sent (echoed back), or null. */
  rawMaxKeys: string | null;
  url: boolean;
  token: string | null;
  listQuery: ListQuery;
}

/** Reads and checks a list request's parameters; the answer's `MaxKeys` echoes what was sent. */
export function parseListRequest(query: URLSearchParams, v2: boolean): ListRequest {
  const rawMaxKeys = query.get('max-keys');
  let maxKeys = 1000;
  if (rawMaxKeys !== null) {
    if (!/^\d+$/.test(rawMaxKeys)) {
      throw new FrontError('InvalidArgument', 'Provided max-keys not an integer or within integer range', {
        ArgumentName: 'max-keys',
        ArgumentValue: rawMaxKeys,
      });
    }
    maxKeys = Math.min(1000, Number(rawMaxKeys));
  }
  const encodingType = query.get('encoding-type');
  if (encodingType !== null && encodingType !== 'url') {
    throw new FrontError('InvalidArgument', 'Invalid Encoding Method specified in Request', {
      ArgumentName: 'encoding-type',
      ArgumentValue: encodingType,
    });
  }
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const listQuery: ListQuery = { prefix, delimiter, startAfter: '', skipUnder: '', maxKeys };
  const token = query.get('continuation-token');
  if (v2) startV2(listQuery, query, token);
  else startV1(listQuery, query.get('marker') ?? '');
  return { v2, query, rawMaxKeys, url: encodingType === 'url', token, listQuery };
}

function startV2(listQuery: ListQuery, query: URLSearchParams, token: string | null): void {
  if (token === null) {
    listQuery.startAfter = query.get('start-after') ?? '';
    return;
  }
  const item = decodeContinuationToken(token);
  if (!item) {
    throw new FrontError('InvalidArgument', 'The continuation token provided is incorrect', {
      ArgumentName: 'continuation-token',
    });
  }
  listQuery.startAfter = item.value;
  listQuery.skipUnder = item.isPrefix ? item.value : '';
}

function startV1(listQuery: ListQuery, marker: string): void {
  const { prefix, delimiter } = listQuery;
  listQuery.startAfter = marker;
  // A V1 NextMarker may be a common prefix: then the whole prefix was already returned.
  if (
    delimiter !== '' &&
    marker.startsWith(prefix) &&
    marker.indexOf(delimiter, prefix.length) === marker.length - delimiter.length
  ) {
    listQuery.skipUnder = marker;
  }
}

/** The `ListBucketResult` for a page; keys without metadata (deleted meanwhile) are left out. */
export function listBucketResult(
  request: ListRequest,
  bucket: string,
  result: ListResult,
  metadata: (ObjectMetadata | undefined)[],
  owner: { id: string; displayName: string },
): string {
  const { v2, query, url } = request;
  const { prefix } = request.listQuery;
  const withOwner = v2 ? query.get('fetch-owner') === 'true' : true;
  const ownerXml = withOwner ? `<Owner>${tag('ID', owner.id)}${tag('DisplayName', owner.displayName)}</Owner>` : '';
  let contents = '';
  let keyCount = result.commonPrefixes.length;
  result.keys.forEach((key, index) => {
    const meta = metadata[index];
    if (!meta) return;
    keyCount++;
    contents +=
      '<Contents>' +
      tag('Key', encodeListValue(key, url)) +
      tag('LastModified', new Date(String(meta['last-modified'])).toISOString()) +
      tag('ETag', String(meta.etag)) +
      tag('Size', Number(meta['content-length'])) +
      ownerXml +
      tag('StorageClass', 'STANDARD') +
      '</Contents>';
  });
  const prefixes = result.commonPrefixes
    .map((p) => `<CommonPrefixes>${tag('Prefix', encodeListValue(p, url))}</CommonPrefixes>`)
    .join('');
  const head = v2 ? v2Fields(request, result, keyCount) : v1Fields(request, result);
  return `<ListBucketResult xmlns="${S3_XMLNS}">${tag('Name', bucket)}${tag('Prefix', encodeListValue(prefix, url))}${head}${contents}${prefixes}</ListBucketResult>`;
}

function optionalTag(name: string, value: string | null | undefined, url: boolean): string {
  return value === null || value === undefined || value === '' ? '' : tag(name, encodeListValue(value, url));
}

function v2Fields(request: ListRequest, result: ListResult, keyCount: number): string {
  const { query, url, token, rawMaxKeys } = request;
  return (
    optionalTag('Delimiter', request.listQuery.delimiter, url) +
    tag('MaxKeys', rawMaxKeys ?? 1000) +
    (url ? tag('EncodingType', 'url') : '') +
    tag('KeyCount', keyCount) +
    tag('IsTruncated', result.truncated) +
    (token !== null ? tag('ContinuationToken', token) : '') +
    (result.truncated && result.last ? tag('NextContinuationToken', encodeContinuationToken(result.last)) : '') +
    (token === null ? optionalTag('StartAfter', query.get('start-after'), url) : '')
  );
}

function v1Fields(request: ListRequest, result: ListResult): string {
  const { query, url, rawMaxKeys } = request;
  const { delimiter } = request.listQuery;
  return (
    tag('Marker', encodeListValue(query.get('marker') ?? '', url)) +
    (result.truncated && delimiter !== '' && result.last
      ? tag('NextMarker', encodeListValue(result.last.value, url))
      : '') +
    tag('MaxKeys', rawMaxKeys ?? 1000) +
    optionalTag('Delimiter', delimiter, url) +
    (url ? tag('EncodingType', 'url') : '') +
    tag('IsTruncated', result.truncated)
  );
}
