/**
 * HTTP against presigned S3 URLs, for an EC2 instance that holds URLs and no credentials (lib/rates/ec2-worker.ts,
 * lib/rates/parallel/ec2-worker.ts). Imports no AWS SDK: the worker bundles carry this file.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';

export interface PutAnswer {
  status: number;
  /** The stored object's ETag, as S3 answers it (quoted). */
  eTag: string | undefined;
  /** The response body (S3's error document when the PUT failed). */
  body: string;
}

/**
 * PUTs a file with its Content-Length: S3 refuses a presigned PUT sent with chunked transfer encoding, which is
 * what fetch() does with a stream body. The URL is used verbatim: its signature covers the query string. Resolves
 * with S3's answer whatever its status; rejects only when the request itself fails.
 */
export function putFile(url: string, file: string, size: number): Promise<PutAnswer> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<PutAnswer>((resolve, reject) => {
    const request = client.request(url, { method: 'PUT', headers: { 'content-length': String(size) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => {
        const eTag = response.headers.etag;
        resolve({ status: response.statusCode ?? 0, eTag, body: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    pipeline(createReadStream(file), request).catch(reject);
  });
}

/**
 * An S3 error answer (status and XML error document) shaped as the SDK throws it — `name` is S3's `<Code>`,
 * `$metadata.httpStatusCode` the status — so the code that words SDK errors (lib/rates/parallel/worker-errors.ts)
 * words a presigned request's failure the same way.
 */
export class S3HttpError extends Error {
  readonly $metadata: { httpStatusCode: number };

  constructor(status: number, body: string) {
    const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
    super(message ?? (body.trim() === '' ? `HTTP ${status}` : body.slice(0, 300)));
    this.name = code ?? (status === 412 ? 'PreconditionFailed' : status === 404 ? 'NotFound' : `Http${status}`);
    this.$metadata = { httpStatusCode: status };
  }
}

/** An ETag without its quotes or weak marker: S3 quotes it in headers, the SDK's callers often strip them. */
export function bareETag(eTag: string): string {
  return eTag.replace(/^W\//, '').replaceAll('"', '');
}
