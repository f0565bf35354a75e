/** SDK clients for the tests that talk to a local server, signed with the test credentials. */
import { EC2Client } from '@aws-sdk/client-ec2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { vi } from 'vitest';
import { TEST_CREDENTIALS } from './signing.ts';

/** A Lambda client for `endpoint` (a local Lambda front), failing at once so a test sees the first answer. */
export function testLambdaClient(endpoint: string): LambdaClient {
  return new LambdaClient({ endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS, maxAttempts: 1 });
}

/** An S3 client for a local S3 server (or a proxy in front of it); `maxAttempts` 1 to see a single fault unretried. */
export function testS3Client(endpoint: string, maxAttempts?: number): S3Client {
  return new S3Client({
    region: 'us-east-1',
    credentials: TEST_CREDENTIALS,
    endpoint,
    forcePathStyle: true,
    ...(maxAttempts ? { maxAttempts } : {}),
  });
}

/** An EC2 client for a local EC2 server, otherwise at the SDK's default settings (retries included). */
export function testEc2Client(endpoint: string): EC2Client {
  return new EC2Client({ endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS });
}

/**
 * Points the S3 client that code under test builds from its environment (createS3Client, as a Lambda does) at
 * `endpoint`, signed with the test credentials. Worker threads copy the environment when they start, so call it
 * before the first one starts; undo with vi.unstubAllEnvs().
 */
export function stubS3Env(endpoint: string): void {
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
}
