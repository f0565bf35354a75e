/**
 * AWS Signature Version 4 verification for the local stack's endpoints: the inverse of what the SDK's
 * `@smithy/signature-v4` and the AWS CLI's botocore do when they sign. It recomputes the canonical request from
 * what arrived on the wire (method, raw path, raw query, the headers the client says it signed, the payload hash)
 * and compares the HMAC chain's result with the client's signature in constant time. Both forms AWS accepts are
 * verified: the `Authorization: AWS4-HMAC-SHA256 …` header and presigned URLs (`X-Amz-Signature` in the query).
 *
 * Hand-written rather than borrowed: smithy's signer only signs (it has no verify), and signs from its own
 * request model (an already-canonical path, every header but a deny-list), so reusing it would mean rebuilding that
 * model from the wire and hoping it canonicalises the same way; the rules below are the documented ones, and the
 * tests sign with the SDK and the AWS CLI to show they agree.
 *
 * Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Why a request is not authentic; each endpoint answers it with its own service's error code. */
export type AuthFailureReason =
  /** No signature at all (no Authorization header, no X-Amz-Signature). */
  | 'missing'
  /** A signature whose parts cannot be read, or an algorithm other than AWS4-HMAC-SHA256 (SigV2 included). */
  | 'malformed'
  /** Signed with an access key id this stack did not issue. */
  | 'unknown-key'
  /** Signed with the right key id but not with its secret, or over a different request. */
  | 'bad-signature'
  /** A date outside AWS's 15-minute window, or a presigned URL past its expiry. */
  | 'expired';

export interface AuthFailure {
  reason: AuthFailureReason;
  message: string;
}

export interface SignedRequest {
  method: string;
  /** The request target exactly as received: raw path and raw query, still percent-encoded. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Duplicate headers kept apart (Node's `headersDistinct`), so their canonical form is AWS's `a,b`. */
  headersDistinct?: Record<string, string[] | undefined>;
}

export interface VerifyOptions {
  credentials: Credentials;
  /**
   * S3 signs the path as sent and takes the payload hash from `x-amz-content-sha256`; every other service
   * normalises the path, encodes it once more, and hashes the body.
   */
  service: 's3' | 'other';
  /** SHA-256 hex of the body, for services whose signature covers it (not S3). */
  bodySha256?: string;
  now?: Date;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS refuses a signed request whose date is more than 15 minutes from its clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** Presigned URLs live at most 7 days (X-Amz-Expires ≤ 604800). */
const MAX_PRESIGNED_SECONDS = 604_800;
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** RFC 3986 encoding as AWS's UriEncode defines it: everything but unreserved characters, bytes as %XX upper-case. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeQueryComponent(value: string): string {
  // AWS clients encode a space as %20; a literal '+' is a plus, as AWS itself reads it.
  return decodeURIComponent(value);
}

/** The raw query's parameters in order, decoded; undefined when a component is not valid percent-encoding. */
export function parseRawQuery(rawQuery: string): [string, string][] | undefined {
  if (rawQuery === '') return [];
  const pairs: [string, string][] = [];
  try {
    for (const part of rawQuery.split('&')) {
      if (part === '') continue;
      const equals = part.indexOf('=');
      const name = equals === -1 ? part : part.slice(0, equals);
      const value = equals === -1 ? '' : part.slice(equals + 1);
      pairs.push([decodeQueryComponent(name), decodeQueryComponent(value)]);
    }
  } catch {
    return undefined;
  }
  return pairs;
}

function canonicalQuery(pairs: [string, string][]): string {
  return pairs
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function canonicalPath(rawPath: string, service: VerifyOptions['service']): string {
  if (service === 's3') return rawPath === '' ? '/' : rawPath;
  // As smithy and botocore do for every service but S3: drop empty and '.' segments, resolve '..', then encode
  // the (already encoded) path once more.
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return `/${segments.map(uriEncode).join('/')}${trailing}`;
}

function headerValues(request: SignedRequest, name: string): string[] | undefined {
  const distinct = request.headersDistinct?.[name];
  if (distinct !== undefined) return distinct;
  const value = request.headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value : [value];
}

function canonicalHeaders(request: SignedRequest, signedHeaders: string[]): string | undefined {
  const lines: string[] = [];
  for (const name of signedHeaders) {
    const values = headerValues(request, name);
    if (values === undefined) return undefined;
    lines.push(`${name}:${values.map((value) => value.trim().replace(/\s+/g, ' ')).join(',')}\n`);
  }
  return lines.join('');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
}

/** `20261203T072349Z` → its instant, or undefined for anything else. */
function parseAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) || date.getUTCDate() !== d ? undefined : date;
}

interface SignatureParts {
  accessKeyId: string;
  scope: { date: string; region: string; service: string };
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  /** Seconds a presigned URL lives; undefined for the header form. */
  expires?: number;
  presigned: boolean;
}

const fail = (reason: AuthFailureReason, message: string): AuthFailure => ({ reason, message });

function parseCredentialScope(credential: string): Pick<SignatureParts, 'accessKeyId' | 'scope'> | undefined {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request') return undefined;
  const [accessKeyId, date, region, service] = parts as [string, string, string, string];
  if (accessKeyId === '' || !/^\d{8}$/.test(date) || region === '' || service === '') return undefined;
  return { accessKeyId, scope: { date, region, service } };
}

function signedHeaderList(value: string): string[] | undefined {
  const names = value.split(';');
  return names.every((name) => /^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) && names.includes('host') ? names : undefined;
}

function readSignature(request: SignedRequest, query: [string, string][]): SignatureParts | AuthFailure {
  const authorization = headerValues(request, 'authorization')?.[0];
  const queryValue = (name: string): string | undefined => query.find(([key]) => key === name)?.[1];
  const presignedSignature = queryValue('X-Amz-Signature');
  if (authorization !== undefined && presignedSignature !== undefined) {
    return fail(
      'malformed',
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified',
    );
  }
  if (authorization !== undefined) {
    const match = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(
      authorization.trim(),
    );
    if (!match) {
      return fail(
        'malformed',
        /^AWS /.test(authorization)
          ? 'Signature Version 2 is not accepted; sign requests with Signature Version 4 (AWS4-HMAC-SHA256)'
          : 'The Authorization header is not a well-formed AWS4-HMAC-SHA256 signature',
      );
    }
    const credential = parseCredentialScope(match[1]!);
    const signedHeaders = signedHeaderList(match[2]!);
    const amzDate = headerValues(request, 'x-amz-date')?.[0];
    if (!credential)
      return fail(
        'malformed',
        `Malformed credential scope "${match[1]}"; expected <key id>/<yyyymmdd>/<region>/<service>/aws4_request`,
      );
    if (!signedHeaders)
      return fail('malformed', 'SignedHeaders must be lower-case header names separated by ";" and include "host"');
    if (amzDate === undefined) return fail('malformed', 'A signed request needs an X-Amz-Date header');
    return { ...credential, signedHeaders, signature: match[3]!, amzDate, presigned: false };
  }
  if (presignedSignature !== undefined) {
    if (queryValue('X-Amz-Algorithm') !== ALGORITHM) return fail('malformed', `X-Amz-Algorithm must be ${ALGORITHM}`);
    const credential = parseCredentialScope(queryValue('X-Amz-Credential') ?? '');
    const signedHeaders = signedHeaderList(queryValue('X-Amz-SignedHeaders') ?? '');
    const amzDate = queryValue('X-Amz-Date');
    const expires = Number(queryValue('X-Amz-Expires'));
    if (!credential) return fail('malformed', 'X-Amz-Credential is missing or malformed');
    if (!signedHeaders) return fail('malformed', 'X-Amz-SignedHeaders is missing or does not include "host"');
    if (amzDate === undefined) return fail('malformed', 'X-Amz-Date is missing');
    if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGNED_SECONDS) {
      return fail('malformed', `X-Amz-Expires must be an integer from 1 to ${MAX_PRESIGNED_SECONDS}`);
    }
    if (!/^[0-9a-f]{64}$/.test(presignedSignature)) return fail('malformed', 'X-Amz-Signature must be 64 hex digits');
    return { ...credential, signedHeaders, signature: presignedSignature, amzDate, expires, presigned: true };
  }
  return fail(
    'missing',
    'Requests to the local stack must be signed with its credentials (AWS Signature Version 4); run `eval "$(npx cloud-parallel local env)"` to use them',
  );
}

/**
 * Checks that `request` is signed with `options.credentials`. Returns undefined when it is, or why not.
 * The body is not re-hashed for S3 (its `x-amz-content-sha256` is what the signature covers); an attacker
 * without the secret cannot produce a valid signature for any body.
 */
export function verifySigV4(request: SignedRequest, options: VerifyOptions): AuthFailure | undefined {
  const question = request.url.indexOf('?');
  const rawPath = question === -1 ? request.url : request.url.slice(0, question);
  const query = parseRawQuery(question === -1 ? '' : request.url.slice(question + 1));
  if (query === undefined) return fail('malformed', 'The query string is not valid percent-encoding');
  const parts = readSignature(request, query);
  if ('reason' in parts) return parts;

  if (parts.accessKeyId !== options.credentials.accessKeyId) {
    return fail(
      'unknown-key',
      `The access key id "${parts.accessKeyId}" is not this local stack's; use the credentials \`npx cloud-parallel local env\` prints`,
    );
  }
  const signedAt = parseAmzDate(parts.amzDate);
  if (!signedAt) return fail('malformed', `X-Amz-Date "${parts.amzDate}" is not in the form yyyymmddThhmmssZ`);
  if (!parts.amzDate.startsWith(parts.scope.date))
    return fail('malformed', 'The credential scope date does not match X-Amz-Date');
  const now = (options.now ?? new Date()).getTime();
  if (parts.presigned) {
    if (signedAt.getTime() - now > MAX_SKEW_MS) return fail('expired', 'The presigned URL is dated in the future');
    if (now > signedAt.getTime() + parts.expires! * 1000) return fail('expired', 'Request has expired');
  } else if (Math.abs(now - signedAt.getTime()) > MAX_SKEW_MS) {
    return fail('expired', 'The difference between the request time and the current time is too large');
  }

  const headers = canonicalHeaders(request, parts.signedHeaders);
  if (headers === undefined)
    return fail('bad-signature', 'A header named in SignedHeaders is missing from the request');
  const payloadHash =
    options.service === 's3'
      ? parts.presigned
        ? (headerValues(request, 'x-amz-content-sha256')?.[0] ?? 'UNSIGNED-PAYLOAD')
        : headerValues(request, 'x-amz-content-sha256')?.[0]
      : (options.bodySha256 ?? EMPTY_SHA256);
  if (payloadHash === undefined)
    return fail('malformed', 'S3 requests signed in the Authorization header need an x-amz-content-sha256 header');
  const canonicalRequest = [
    request.method,
    canonicalPath(rawPath, options.service),
    canonicalQuery(parts.presigned ? query.filter(([name]) => name !== 'X-Amz-Signature') : query),
    headers,
    parts.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const { date, region, service } = parts.scope;
  const stringToSign = [
    ALGORITHM,
    parts.amzDate,
    `${date}/${region}/${service}/aws4_request`,
    createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const expected = createHmac('sha256', signingKey(options.credentials.secretAccessKey, date, region, service))
    .update(stringToSign, 'utf8')
    .digest();
  const given = Buffer.from(parts.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail(
      'bad-signature',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  }
  return undefined;
}

export function sha256Hex(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}
