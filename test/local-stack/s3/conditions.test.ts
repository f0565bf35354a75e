/**
 * ETag preconditions on the local S3 server, as AWS S3 evaluates them, through the real AWS SDK v3: `If-Match` on
 * GetObject/HeadObject (s3rver ignores it; the front checks it) and `x-amz-copy-source-if-match` on UploadPartCopy —
 * how lib/aws/concat.ts makes sure it reads and copies the very objects the workers wrote.
 */
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3ServerProcess } from '../../../local-stack/s3/child.ts';
import { startLocalS3, stopLocalS3 } from '../../support/local-s3.ts';

const BUCKET = 'conditions-test';

let server: S3ServerProcess;
let dir: string;
let s3: S3Client;

beforeAll(async () => {
  ({ server, dir, s3 } = await startLocalS3([BUCKET], 'cp-s3-conditions-'));
});

afterAll(() => stopLocalS3({ server, dir, s3 }));

async function put(key: string, body: string): Promise<string> {
  return (await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))).ETag!;
}

describe('If-Match on GetObject and HeadObject', () => {
  it('serves the object when its ETag is listed (quoted or not, or *), 412 PreconditionFailed otherwise', async () => {
    const eTag = await put('get/object.txt', 'current bytes');
    for (const condition of [eTag, eTag.replace(/"/g, ''), '*', `"other", ${eTag}`]) {
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'get/object.txt', IfMatch: condition }));
      expect(await got.Body!.transformToString(), condition).toBe('current bytes');
    }
    const ranged = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'get/object.txt', IfMatch: eTag, Range: 'bytes=0-6' }),
    );
    expect(await ranged.Body!.transformToString()).toBe('current');

    const stale = '"0123456789abcdef0123456789abcdef"';
    await expect(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'get/object.txt', IfMatch: stale })),
    ).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    await expect(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'get/object.txt', IfMatch: stale, Range: 'bytes=0-0' })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    await expect(
      s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'get/object.txt', IfMatch: stale })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    // A missing object is still NoSuchKey, whatever the condition.
    await expect(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'get/missing.txt', IfMatch: stale })),
    ).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
});

describe('x-amz-copy-source-if-match on UploadPartCopy', () => {
  it('copies when the source ETag matches, answers 412 PreconditionFailed when it does not', async () => {
    const first = await put('copy/source.txt', 'first version');
    const second = await put('copy/source.txt', 'second version');
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'copy/target.txt' }));
    const copy = (extra: Partial<UploadPartCopyCommand['input']>) =>
      s3.send(
        new UploadPartCopyCommand({
          Bucket: BUCKET,
          Key: 'copy/target.txt',
          UploadId,
          PartNumber: 1,
          CopySource: `${BUCKET}/copy/source.txt`,
          ...extra,
        }),
      );
    const copied = await copy({ CopySourceIfMatch: second });
    expect(copied.CopyPartResult?.ETag).toBe(second);
    await expect(copy({ CopySourceIfMatch: first })).rejects.toMatchObject({
      name: 'PreconditionFailed',
      $metadata: { httpStatusCode: 412 },
    });
    await expect(copy({ CopySourceIfMatch: first, CopySourceRange: 'bytes=0-3' })).rejects.toMatchObject({
      name: 'PreconditionFailed',
    });
    await expect(copy({ CopySource: `${BUCKET}/copy/missing.txt`, CopySourceIfMatch: first })).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    // The other conditions are still refused rather than ignored.
    await expect(copy({ CopySourceIfNoneMatch: first })).rejects.toMatchObject({ name: 'NotImplemented' });
  });
});
