import {
  DeleteObjectsCommand,
  type _Error as S3ObjectError,
  S3Client,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';

/**
 * The one way this project builds an S3 client. Endpoint, region and credentials come from the SDK's
 * standard chain (AWS_ENDPOINT_URL_S3, AWS_REGION, ...), so the same code talks to AWS or to the local
 * stack. Only path-style addressing needs our own switch: the SDK has no environment variable for it, and
 * an S3-compatible server on localhost cannot serve `bucket.localhost` host names.
 */
export function createS3Client(env: NodeJS.ProcessEnv = process.env): S3Client {
  const client = new S3Client({
    forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
    // The SDK's default of 50 sockets would cap a split rates run's server-side copies (assemble.ts sends up to
    // 128 at once) and queue the rest behind them unseen.
    requestHandler: {
      httpAgent: { maxSockets: 128, keepAlive: true },
      httpsAgent: { maxSockets: 128, keepAlive: true },
    },
  });
  client.middlewareStack.addRelativeTo(unsignedUploadPayload, {
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    name: 'cloudParallelUnsignedUploadPayload',
  });
  return client;
}

type S3Middleware = FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes>;
interface SignableRequest {
  protocol: string;
  hostname: string;
  headers: Record<string, string>;
}

/** Commands whose body is object data: S3 verifies each by the CRC32 checksum the SDK sends with it. */
const UPLOAD_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Object data goes up as UNSIGNED-PAYLOAD where the connection is already trusted — HTTPS (every AWS endpoint), or
 * the local stack on this machine's loopback — as the Java v2, Go v2 and Python SDKs do over HTTPS: the JS SDK would
 * otherwise SHA-256 every uploaded byte for the signature (~40 ms of the rates function's CPU for 1M rows, 56 MB),
 * on top of the CRC32 checksum S3 checks anyway. The request itself stays signed, that checksum header included.
 * Plain HTTP to another host keeps the signed payload.
 */
const unsignedUploadPayload: S3Middleware = (next, context) => async (args) => {
  // The finalizeRequest step's request is the SDK's HttpRequest: the fields read and written here.
  const request = (args as { request: Partial<SignableRequest> }).request;
  if (
    request.headers !== undefined &&
    typeof request.hostname === 'string' &&
    UPLOAD_COMMANDS.has(context.commandName ?? '') &&
    (request.protocol === 'https:' || LOOPBACK_HOSTS.has(request.hostname))
  ) {
    request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  }
  return next(args);
};

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
