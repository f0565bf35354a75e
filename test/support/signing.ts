/**
 * Signing for the tests' own raw HTTP requests to the local stack, with the SDK's signer (`@smithy/signature-v4`) —
 * an implementation nobody on the team wrote, so a request it signs being accepted shows the servers verify as AWS
 * clients sign.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Credentials } from '../../local-stack/shared/sigv4.ts';

/** Credentials for servers a test starts itself (the stack makes random ones). Not a secret: nothing real. */
export const TEST_CREDENTIALS: Credentials = {
  accessKeyId: 'LCPSTESTCREDENTIALS0',
  secretAccessKey: 'local-test-secret-of-the-test-suite-only',
};

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data)
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

export type SigningService = 's3' | 'ec2' | 'lambda';

function signer(service: SigningService, credentials: Credentials, region = 'us-east-1'): SignatureV4 {
  // S3 signs the path as sent; every other service double-encodes it (the SDK's clients configure it the same way).
  return new SignatureV4({ service, region, credentials, sha256: Sha256, uriEscapePath: service !== 's3' });
}

export interface RawRequest {
  method: string;
  /** Path and raw query, as they go on the wire. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** The parts of `endpoint` + `method` `target` a SignatureV4 signs: the raw path and the decoded query apart. */
function requestTarget(endpoint: string, method: string, target: string) {
  const url = new URL(endpoint);
  const question = target.indexOf('?');
  const rawPath = question === -1 ? target : target.slice(0, question);
  const query: Record<string, string | string[]> = {};
  for (const part of question === -1 ? [] : target.slice(question + 1).split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const name = decodeURIComponent(equals === -1 ? part : part.slice(0, equals));
    const value = equals === -1 ? '' : decodeURIComponent(part.slice(equals + 1));
    const seen = query[name];
    query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return {
    url,
    request: { method, protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: rawPath, query },
  };
}

/** The headers to send with `request` so that it is signed (Authorization header form) with `credentials`. */
export async function signedHeaders(
  endpoint: string,
  service: SigningService,
  request: RawRequest,
  credentials: Credentials = TEST_CREDENTIALS,
): Promise<Record<string, string>> {
  const { url, request: target } = requestTarget(endpoint, request.method, request.path);
  const headers: Record<string, string> = { host: url.host, ...request.headers };
  if (service === 's3' && headers['x-amz-content-sha256'] === undefined) {
    headers['x-amz-content-sha256'] = createHash('sha256')
      .update(request.body ?? '')
      .digest('hex');
  }
  const signed = await signer(service, credentials).sign({ ...target, headers, body: request.body });
  return signed.headers as Record<string, string>;
}

/** A presigned URL for `request` (query-string form), valid for `expiresIn` seconds. */
export async function presignedUrl(
  endpoint: string,
  service: SigningService,
  request: Omit<RawRequest, 'body'>,
  credentials: Credentials = TEST_CREDENTIALS,
  expiresIn = 300,
): Promise<string> {
  const { url, request: target } = requestTarget(endpoint, request.method, request.path);
  // As @aws-sdk/s3-request-presigner does: S3 never hashes the body of a presigned request.
  const payload: Record<string, string> = service === 's3' ? { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } : {};
  const signed = await signer(service, credentials).presign(
    { ...target, headers: { host: url.host, ...payload, ...request.headers } },
    { expiresIn },
  );
  const search = Object.entries(signed.query ?? {})
    .flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map(
        (v) => `${encodeURIComponent(name)}=${encodeURIComponent(String(v))}`,
      ),
    )
    .join('&');
  return `${endpoint}${target.path}?${search}`;
}
