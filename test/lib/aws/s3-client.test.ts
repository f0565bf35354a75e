/**
 * What createS3Client signs: object data goes up as UNSIGNED-PAYLOAD over HTTPS and to the loopback (the local
 * stack), with its CRC32 checksum still sent and signed; plain HTTP to another host keeps the SHA-256 payload hash.
 * The client is the real one; a middleware after signing captures the request instead of sending it.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createS3Client } from '../../../lib/aws/s3.ts';

class Captured extends Error {
  constructor(readonly headers: Record<string, string>) {
    super('captured');
  }
}

function clientFor(endpoint: string): S3Client {
  vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  const client = createS3Client({ S3_FORCE_PATH_STYLE: 'true' });
  client.middlewareStack.add(
    () => async (args) => {
      throw new Captured({ ...(args.request as { headers: Record<string, string> }).headers });
    },
    { step: 'deserialize', priority: 'low', name: 'captureSignedRequest' },
  );
  return client;
}

async function signedHeaders(sending: Promise<unknown>): Promise<Record<string, string>> {
  const error = await sending.catch((e: unknown) => e);
  if (!(error instanceof Captured)) throw error;
  return error.headers;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

const body = Buffer.from('fips,cancer,population,rate\n01001,286,56988,0.005018600407103952\n');
const put = new PutObjectCommand({ Bucket: 'data', Key: 'results/x/rates.csv', Body: body });
const part = new UploadPartCommand({
  Bucket: 'data',
  Key: 'results/x/rates.csv',
  UploadId: 'u1',
  PartNumber: 1,
  Body: body,
});

describe('createS3Client', () => {
  it.each([
    ['the local stack on the loopback', 'http://127.0.0.1:4569'],
    ['localhost', 'http://localhost:4569'],
    ['AWS over HTTPS', 'https://s3.us-east-1.amazonaws.com'],
  ])('sends object data to %s as UNSIGNED-PAYLOAD, its CRC32 checksum signed', async (_where, endpoint) => {
    for (const send of [(c: S3Client) => c.send(put), (c: S3Client) => c.send(part)]) {
      const headers = await signedHeaders(send(clientFor(endpoint)));
      expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
      const signed = /SignedHeaders=([^,]+)/.exec(headers.authorization ?? '')?.[1]?.split(';') ?? [];
      expect(signed).toEqual(expect.arrayContaining(['x-amz-checksum-crc32', 'x-amz-content-sha256']));
    }
  });

  it('keeps the payload hash in the signature over plain HTTP to another host', async () => {
    const headers = await signedHeaders(clientFor('http://s3.example.internal:9000').send(put));
    expect(headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('leaves requests without object data as the SDK signs them', async () => {
    const headers = await signedHeaders(
      clientFor('http://127.0.0.1:4569').send(new GetObjectCommand({ Bucket: 'data', Key: 'k' })),
    );
    expect(headers['x-amz-content-sha256']).toBe(createHash('sha256').update('').digest('hex'));
  });
});
