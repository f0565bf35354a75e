/**
 * The streamed upload of rates.csv (and of a split run's scratch objects) against the local S3 server: bytes in any
 * write sizes, through the rates engine's output buffers refilled as soon as each write is called back, come out as
 * the object, byte for byte — one PutObject under a part's size, a multipart upload (ETag `-N`) above it — and an
 * abandoned upload leaves nothing: no object, no open multipart upload. (Failing parts and Completes are in
 * job-faults.test.ts, through a fault proxy.)
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutputSink, releasesWrittenBuffers, waitForDrain } from '../../../lib/rates/output-sink.ts';
import { streamedUpload } from '../../../lib/rates/streamed-upload.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../support/local-s3.ts';
import { patternBytes, rng } from '../../support/random.ts';

const BUCKET = 'data';
let local: LocalS3;

beforeAll(async () => {
  local = await startLocalS3([BUCKET], 'streamed-upload-');
});
afterAll(async () => {
  await stopLocalS3(local);
});

/** Writes `data` through an OutputSink (buffers refilled once written) in pieces of random size. */
async function writeThroughSink(stream: NodeJS.WritableStream, data: Buffer, seed: number): Promise<void> {
  const sink = new OutputSink(stream);
  const next = rng(seed);
  for (let at = 0; at < data.length; ) {
    const size = Math.min(data.length - at, 1 + Math.floor(next() * 700_000));
    sink.append(data.subarray(at, at + size));
    at += size;
    if (sink.needDrain) {
      sink.needDrain = false;
      await waitForDrain(stream);
    }
  }
  if (sink.len > 0) sink.flush();
}

async function objectBytes(key: string): Promise<Buffer> {
  const got = await local.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

describe('streamedUpload', () => {
  it('lets the rates engine refill its output buffers: each write is copied before it is called back', () => {
    expect(releasesWrittenBuffers(streamedUpload(local.s3, { bucket: BUCKET, key: 'unused' }).stream)).toBe(true);
  });

  it.each([
    ['empty', 0, ''],
    ['under a part: one PutObject', 3_000_000, ''],
    ['exactly one part', 5 * 1024 * 1024, ''],
    ['several parts and a short last one', 17_000_000, '-4'],
    ['whole parts only', 3 * 5 * 1024 * 1024, '-3'],
  ])('%s (%i bytes): the object is the bytes written', async (_what, size, multipartSuffix) => {
    const key = `results/streamed-${size}/rates.csv`;
    const data = patternBytes(size, size + 1);
    const upload = streamedUpload(local.s3, { bucket: BUCKET, key });
    await writeThroughSink(upload.stream, data, size);
    const landed = await upload.land();
    expect(landed.bytes).toBe(size);
    const stored = await objectBytes(key);
    expect(stored.length).toBe(size);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    const head = await local.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(landed.eTag).toBe(head.ETag);
    if (multipartSuffix === '') expect(landed.eTag).not.toMatch(/-\d+"$/);
    else expect(landed.eTag).toMatch(new RegExp(`${multipartSuffix}"$`));
    expect(head.ContentType).toBe('text/csv; charset=utf-8');
  });

  it('abandoned after some parts went up: no object and no open multipart upload', async () => {
    const key = 'results/abandoned/rates.csv';
    const upload = streamedUpload(local.s3, { bucket: BUCKET, key });
    await writeThroughSink(upload.stream, patternBytes(12_000_000, 5), 5);
    expect(await upload.abandon()).toBeUndefined();
    await expect(upload.failed).rejects.toThrow(/abandoned/);
    await expect(local.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toMatchObject({
      name: 'NotFound',
    });
    const open = await local.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(open.Uploads ?? []).toEqual([]);
  });
});
