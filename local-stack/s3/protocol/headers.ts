/** Request headers as the local S3 server reads them, and those it rewrites for a decoded aws-chunked body. */
import type http from 'node:http';

const STREAMING_PAYLOAD =
  /^STREAMING-(UNSIGNED-PAYLOAD-TRAILER|AWS4-(HMAC-SHA256|ECDSA-P256-SHA256)-PAYLOAD(-TRAILER)?)$/;

export function headerValue(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function isAwsChunked(headers: http.IncomingHttpHeaders): boolean {
  const encoding = headerValue(headers, 'content-encoding') ?? '';
  if (encoding.split(',').some((token) => token.trim().toLowerCase() === 'aws-chunked')) return true;
  return STREAMING_PAYLOAD.test(headerValue(headers, 'x-amz-content-sha256') ?? '');
}

/** Headers s3rver should see for a decoded body: what a client sending the plain body would have sent. */
export function decodedHeaders(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const out: http.IncomingHttpHeaders = { ...headers };
  const encodings = (headerValue(headers, 'content-encoding') ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '' && token.toLowerCase() !== 'aws-chunked');
  if (encodings.length > 0) out['content-encoding'] = encodings.join(', ');
  else delete out['content-encoding'];
  const decodedLength = headerValue(headers, 'x-amz-decoded-content-length');
  if (decodedLength !== undefined && /^\d+$/.test(decodedLength)) out['content-length'] = decodedLength;
  else delete out['content-length'];
  delete out['transfer-encoding'];
  delete out['x-amz-decoded-content-length'];
  delete out['x-amz-trailer'];
  out['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  return out;
}
