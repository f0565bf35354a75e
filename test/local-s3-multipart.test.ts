/**
 * Multipart uploads on the local S3 server as AWS S3 answers them, through the real AWS SDK v3: the limits that
 * CompleteMultipartUpload enforces (EntityTooSmall, part numbers, order, ETags).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnS3ServerProcess, type S3ServerProcess } from '../local-stack/s3/child.ts';
import { signedHeaders, TEST_CREDENTIALS } from './support/signing.ts';

const BUCKET = 'multipart-test';
const OTHER = 'multipart-other';
const MIN_PART = 5 * 1024 * 1024;

let server: S3ServerProcess;
let dir: string;
let s3: S3Client;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cp-s3-multipart-'));
  // Port 0: the server picks a free port, so this file never collides with the fixed ports of the others.
  server = await spawnS3ServerProcess({ directory: dir, buckets: [BUCKET, OTHER], credentials: TEST_CREDENTIALS, port: 0 });
  s3 = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: TEST_CREDENTIALS });
});

afterAll(async () => {
  s3?.destroy();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Deterministic pseudo-random bytes (xorshift), so any misplaced byte changes the result. */
function pattern(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const md5 = (data: Uint8Array): string => createHash('md5').update(data).digest('hex');

async function getBytes(key: string): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function create(key: string): Promise<string> {
  return (await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))).UploadId!;
}

async function uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
  return (await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body }))).ETag!;
}

async function complete(key: string, uploadId: string, parts: { PartNumber: number; ETag: string }[]): Promise<void> {
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
}

/** A request signed with the test credentials and sent as given, for what the SDK does not show (the error XML). */
async function rawRequest(method: string, urlPath: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  const signed = await signedHeaders(server.endpoint, 's3', { method, path: urlPath, headers, ...(body === undefined ? {} : { body }) });
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(urlPath, server.endpoint), { method, headers: signed, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const completionXml = (parts: [number, string][]): string =>
  `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;

describe('CompleteMultipartUpload', () => {
  it('refuses a part below 5 MiB that is not the last with AWS\'s EntityTooSmall error, and accepts exactly 5 MiB', async () => {
    const key = 'complete/too-small.bin';
    const uploadId = await create(key);
    const exact = await uploadPart(key, uploadId, 1, pattern(MIN_PART, 1));
    const short = await uploadPart(key, uploadId, 2, pattern(MIN_PART - 1, 2));
    const last = await uploadPart(key, uploadId, 3, pattern(10, 3));

    await expect(
      complete(key, uploadId, [
        { PartNumber: 1, ETag: exact },
        { PartNumber: 2, ETag: short },
        { PartNumber: 3, ETag: last },
      ]),
    ).rejects.toMatchObject({ name: 'EntityTooSmall', $metadata: { httpStatusCode: 400 } });

    // The error document AWS returns for it, element by element.
    const raw = await rawRequest(
      'POST',
      `/${BUCKET}/${key}?uploadId=${uploadId}`,
      {},
      completionXml([
        [1, exact],
        [2, short],
        [3, last],
      ]),
    );
    expect(raw.status).toBe(400);
    expect(raw.body).toContain('<Code>EntityTooSmall</Code>');
    expect(raw.body).toContain('<Message>Your proposed upload is smaller than the minimum allowed size</Message>');
    expect(raw.body).toContain(`<ProposedSize>${MIN_PART - 1}</ProposedSize>`);
    expect(raw.body).toContain(`<MinSizeAllowed>${MIN_PART}</MinSizeAllowed>`);
    expect(raw.body).toContain('<PartNumber>2</PartNumber>');
    expect(raw.body).toContain(`<ETag>${short.replace(/"/g, '')}</ETag>`);

    // A part of exactly 5 MiB followed by a small last part completes.
    await complete(key, uploadId, [
      { PartNumber: 1, ETag: exact },
      { PartNumber: 3, ETag: last },
    ]);
    expect((await getBytes(key)).equals(Buffer.concat([pattern(MIN_PART, 1), pattern(10, 3)]))).toBe(true);
  });

  it('refuses part lists AWS refuses: numbers outside 1..10000, more than 10,000 parts, order, unknown parts', async () => {
    const key = 'complete/lists.bin';
    const uploadId = await create(key);
    const one = await uploadPart(key, uploadId, 1, pattern(MIN_PART, 4));
    const two = await uploadPart(key, uploadId, 2, pattern(100, 5));

    for (const number of [0, 10001]) {
      await expect(complete(key, uploadId, [{ PartNumber: number, ETag: one }])).rejects.toMatchObject({ name: 'InvalidArgument' });
    }
    const tooMany = Array.from({ length: 10001 }, (_, i) => ({ PartNumber: i + 1, ETag: one }));
    await expect(complete(key, uploadId, tooMany)).rejects.toMatchObject({ name: 'InvalidArgument' });
    await expect(
      complete(key, uploadId, [
        { PartNumber: 2, ETag: two },
        { PartNumber: 1, ETag: one },
      ]),
    ).rejects.toMatchObject({ name: 'InvalidPartOrder' });
    await expect(
      complete(key, uploadId, [
        { PartNumber: 1, ETag: one },
        { PartNumber: 1, ETag: one },
      ]),
    ).rejects.toMatchObject({ name: 'InvalidPartOrder' });
    await expect(complete(key, uploadId, [{ PartNumber: 3, ETag: one }])).rejects.toMatchObject({ name: 'InvalidPart' });
    await expect(complete(key, uploadId, [{ PartNumber: 1, ETag: two }])).rejects.toMatchObject({ name: 'InvalidPart' });

    // None of the refusals used the upload up.
    await complete(key, uploadId, [
      { PartNumber: 1, ETag: one },
      { PartNumber: 2, ETag: two },
    ]);
    expect(md5(await getBytes(key))).toBe(md5(Buffer.concat([pattern(MIN_PART, 4), pattern(100, 5)])));
  });
});
