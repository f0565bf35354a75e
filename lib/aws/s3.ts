import { DeleteObjectsCommand, type _Error as S3ObjectError, S3Client } from '@aws-sdk/client-s3';

/**
 * The one way this project builds an S3 client. Endpoint, region and credentials come from the SDK's
 * standard chain (AWS_ENDPOINT_URL_S3, AWS_REGION, ...), so the same code talks to AWS or to the local
 * stack. Only path-style addressing needs our own switch: the SDK has no environment variable for it, and
 * an S3-compatible server on localhost cannot serve `bucket.localhost` host names.
 */
export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  return new S3Client({
    forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
    // The SDK's default of 50 sockets would cap a split rates run's server-side copies (assemble.ts sends up to
    // 128 at once) and queue the rest behind them unseen.
    requestHandler: {
      httpAgent: { maxSockets: 128, keepAlive: true },
      httpsAgent: { maxSockets: 128, keepAlive: true },
    },
  });
}

/** `s3://bucket/key`, the form users paste into the AWS CLI. */
export function s3Uri(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** True when an S3 SDK error means the object (or bucket) is not there. */
export function isNotFound(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || $metadata?.httpStatusCode === 404;
}

/** DeleteObjects in batches of 1,000 (its limit). Returns what S3 could not delete; a missing key counts as deleted. */
export async function deleteObjects(s3: S3Client, bucket: string, keys: readonly string[]): Promise<S3ObjectError[]> {
  const failed: S3ObjectError[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
    const reply = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
    failed.push(...(reply.Errors ?? []));
  }
  return failed;
}
