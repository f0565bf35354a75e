/**
 * An upload stopped by a signal (Ctrl-C in `rates`) aborts the multipart upload it opened before it rejects
 * (issue 12): an unfinished multipart upload keeps its parts, billed, until someone aborts it.
 *
 * lib-storage's own `Upload.abort()` makes `done()` reject at once but sends AbortMultipartUpload only after the
 * requests it has in flight come back — by then a CLI that exits on the rejection is gone. These tests hold those
 * requests back and check that AbortMultipartUpload has been sent when the promise rejects. The S3 client is real;
 * a middleware at its first step answers each command instead of the network.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { uploadStoppably } from '../../../lib/aws/upload.ts';

interface Sent {
  command: string;
  uploadId?: string;
  at: number;
}

/** An S3 client whose commands are answered here, each after `delays[command]` ms (default 0). */
function fakeS3(delays: Partial<Record<string, number>>): { s3: S3Client; sent: Sent[] } {
  const s3 = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://127.0.0.1:1',
  });
  const sent: Sent[] = [];
  let opened = 0;
  const live = new Set<string>();
  s3.middlewareStack.add(
    (_next, context) => async (args) => {
      const command = context.commandName!.replace(/Command$/, '');
      const input = args.input as { UploadId?: string };
      sent.push({
        command,
        ...(input.UploadId === undefined ? {} : { uploadId: input.UploadId }),
        at: performance.now(),
      });
      await sleep(delays[command] ?? 0);
      const noSuchUpload = () =>
        Object.assign(new Error('The specified upload does not exist.'), { name: 'NoSuchUpload' });
      switch (command) {
        case 'CreateMultipartUpload': {
          const UploadId = `upload-${++opened}`;
          live.add(UploadId);
          return { output: { UploadId, $metadata: {} }, response: {} };
        }
        case 'UploadPart':
          if (!live.has(input.UploadId!)) throw noSuchUpload();
          return { output: { ETag: '"etag"', $metadata: {} }, response: {} };
        case 'AbortMultipartUpload':
          if (!live.delete(input.UploadId!)) throw noSuchUpload();
          return { output: { $metadata: {} }, response: {} };
        case 'CompleteMultipartUpload':
          if (!live.delete(input.UploadId!)) throw noSuchUpload();
          return { output: { $metadata: {} }, response: {} };
        default:
          return { output: { $metadata: {} }, response: {} };
      }
    },
    { step: 'initialize', name: 'answerHere' },
  );
  return { s3, sent };
}

/** 12 MiB: three parts of lib-storage's minimum 5 MiB, so a multipart upload. */
const body = () => Buffer.alloc(12 * 1024 * 1024, 'a');

async function stopAfter(ms: number, s3: S3Client) {
  const controller = new AbortController();
  const reason = new Error('interrupted by SIGINT');
  const upload = uploadStoppably(s3, { Bucket: 'data', Key: 'uploads/big.csv', Body: body() }, controller.signal);
  await sleep(ms);
  controller.abort(reason);
  const error = await upload.then(
    () => null,
    (e: unknown) => e,
  );
  return { error, reason, rejectedAt: performance.now() };
}

describe('uploadStoppably', () => {
  it('aborted while its parts are in flight: AbortMultipartUpload is sent before it rejects', async () => {
    const { s3, sent } = fakeS3({ UploadPart: 300 });
    const { error, reason, rejectedAt } = await stopAfter(100, s3);
    expect(error).toBe(reason);
    const aborts = sent.filter((s) => s.command === 'AbortMultipartUpload');
    expect(aborts.map((s) => s.uploadId)).toContain('upload-1');
    expect(Math.min(...aborts.map((s) => s.at))).toBeLessThan(rejectedAt);
    expect(sent.some((s) => s.command === 'CompleteMultipartUpload')).toBe(false);
  });

  it('aborted while CreateMultipartUpload is in flight: the upload it opens is aborted before it rejects', async () => {
    const { s3, sent } = fakeS3({ CreateMultipartUpload: 300 });
    const { error, reason, rejectedAt } = await stopAfter(50, s3);
    expect(error).toBe(reason);
    expect(sent.filter((s) => s.command === 'UploadPart')).toEqual([]);
    const aborts = sent.filter((s) => s.command === 'AbortMultipartUpload' && s.uploadId === 'upload-1');
    expect(aborts.length).toBeGreaterThanOrEqual(1);
    expect(aborts[0]!.at).toBeLessThan(rejectedAt);
  });

  it('not aborted: the upload completes, and a signal that was never used changes nothing', async () => {
    const { s3, sent } = fakeS3({});
    await uploadStoppably(s3, { Bucket: 'data', Key: 'uploads/big.csv', Body: body() }, new AbortController().signal);
    expect(sent.map((s) => s.command)).toEqual([
      'CreateMultipartUpload',
      'UploadPart',
      'UploadPart',
      'UploadPart',
      'CompleteMultipartUpload',
    ]);
  });

  it('a signal aborted before the start: nothing is sent', async () => {
    const { s3, sent } = fakeS3({});
    const controller = new AbortController();
    controller.abort(new Error('already'));
    await expect(uploadStoppably(s3, { Bucket: 'data', Key: 'k', Body: body() }, controller.signal)).rejects.toThrow(
      'already',
    );
    expect(sent).toEqual([]);
  });
});
