/**
 * lib/aws/concat.ts against the local S3 server (a child process on port 0), through the real SDK v3 client. The
 * expected bytes are the sources as this file generated them, concatenated here; what the caller downloaded and
 * which requests it sent are counted by a middleware on the client's own stack (what went over the wire), not
 * taken from the code under test.
 */
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { concatObjects, prepareConcat } from '../../../lib/aws/concat.ts';
import { ConcatError } from '../../../lib/aws/concat-errors.ts';
import type { S3ServerProcess } from '../../../local-stack/s3/child.ts';
import { startLocalS3, stopLocalS3 } from '../../support/local-s3.ts';
import { patternBytes as pattern } from '../../support/random.ts';

const BUCKET = 'concat-test';
const OTHER = 'concat-other';
const K = 4096;
const M = 5 * 1024 * 1024;

let server: S3ServerProcess;
let dir: string;
let s3: S3Client;
/** Per command name (without `Command`): requests sent. */
let requests: Record<string, number> = {};
/** Bytes of GetObject response bodies (their Content-Length), and the largest UploadPart body sent. */
let downloaded = 0;
let largestUploadPart = 0;

beforeAll(async () => {
  ({ server, dir, s3 } = await startLocalS3([BUCKET, OTHER], 'cp-concat-'));
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context.commandName ?? '?').replace(/Command$/, '');
      requests[command] = (requests[command] ?? 0) + 1;
      const result = await next(args);
      const response = result.response as { headers?: Record<string, string> };
      if (command === 'GetObject') downloaded += Number(response.headers?.['content-length'] ?? 0);
      return result;
    },
    { step: 'deserialize', name: 'countRequests' },
  );
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand') {
        const headers = (args.request as { headers: Record<string, string> }).headers;
        largestUploadPart = Math.max(largestUploadPart, Number(headers['content-length'] ?? 0));
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'measureUploads' },
  );
});

afterAll(() => stopLocalS3({ server, dir, s3 }));

beforeEach(() => {
  requests = {};
  downloaded = 0;
  largestUploadPart = 0;
});

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Source objects, put once and reused by the cases: key `src/<size>-<n>`, the n-th object of that size. */
const sources = new Map<string, Promise<{ key: string; body: Buffer; eTag: string }>>();
function source(size: number, n: number): Promise<{ key: string; body: Buffer; eTag: string }> {
  const key = `src/${size}-${n}`;
  let made = sources.get(key);
  if (made === undefined) {
    const body = pattern(size, size * 31 + n + 1);
    made = s3
      .send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))
      .then((result) => ({ key, body, eTag: result.ETag! }));
    sources.set(key, made);
  }
  return made;
}

async function getBytes(key: string): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function openUploads(): Promise<string[]> {
  const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  return (listed.Uploads ?? []).map((upload) => `${upload.Key} ${upload.UploadId}`);
}

/**
 * Each case: the source sizes, the bytes the caller must download (worked out by hand from the rules in
 * concat-plan.ts), and the requests sent — the numbers the cost model uses (sizes given, so no HeadObject; with
 * sizes unknown add one HeadObject per source). "C" CreateMultipartUpload, "X" UploadPartCopy, "G" GetObject, "U"
 * UploadPart, "F" CompleteMultipartUpload, "P" PutObject.
 */
const CASES: { name: string; sizes: number[]; download: number; sent: Record<string, number> }[] = [
  // P=1
  { name: 'no objects: an empty PutObject', sizes: [], download: 0, sent: { PutObject: 1 } },
  // P=1
  { name: 'only empty objects', sizes: [0, 0], download: 0, sent: { PutObject: 1 } },
  // C1 X1 F1 = 3: a single object is the last part, whatever its size: copied, not downloaded
  {
    name: '1 byte',
    sizes: [1],
    download: 0,
    sent: { CreateMultipartUpload: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 X1 F1 = 3: a single object is the last part, whatever its size: copied, not downloaded
  {
    name: '4 KiB',
    sizes: [K],
    download: 0,
    sent: { CreateMultipartUpload: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 X1 F1 = 3: a single object is the last part, whatever its size: copied, not downloaded
  {
    name: '5 MiB - 1',
    sizes: [M - 1],
    download: 0,
    sent: { CreateMultipartUpload: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 X1 F1 = 3
  {
    name: '5 MiB',
    sizes: [M],
    download: 0,
    sent: { CreateMultipartUpload: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 X1 F1 = 3
  {
    name: '5 MiB + 1',
    sizes: [M + 1],
    download: 0,
    sent: { CreateMultipartUpload: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 X1 F1 = 3
  {
    name: '12 MiB',
    sizes: [12 * 1024 * 1024],
    download: 0,
    sent: { CreateMultipartUpload: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 G5 U1 F1 = 8: all small, one (last) part
  {
    name: 'all small',
    sizes: [K, K, 1, K, 10],
    download: 3 * K + 11,
    sent: { CreateMultipartUpload: 1, GetObject: 5, UploadPart: 1, CompleteMultipartUpload: 1 },
  },
  // C1 G3 U1 X1 F1 = 7: the run of 8 KiB borrows 5 MiB - 8 KiB of the big one, the rest is copied
  {
    name: 'small-small-big',
    sizes: [K, K, 12 * 1024 * 1024],
    download: M,
    sent: { CreateMultipartUpload: 1, GetObject: 3, UploadPart: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 X2 G2 U1 F1 = 7
  {
    name: 'big-small-big',
    sizes: [12 * 1024 * 1024, K, 12 * 1024 * 1024],
    download: M,
    sent: { CreateMultipartUpload: 1, GetObject: 2, UploadPart: 1, UploadPartCopy: 2, CompleteMultipartUpload: 1 },
  },
  // C1 G2 U1 X1 F1 = 6: the rest of the 5 MiB + 1 after borrowing would be a 4 KiB + 1 part in the middle, so all
  // of it is downloaded; the last small object alone is then copied as the last part
  {
    name: 'small-big(5 MiB + 1)-small',
    sizes: [K, M + 1, K],
    download: K + M + 1,
    sent: { CreateMultipartUpload: 1, GetObject: 2, UploadPart: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 G2 U1 X1 F1 = 6: the same object last: its short rest may be the last part, so it is borrowed from and copied
  {
    name: 'small-big(5 MiB + 1) at the end',
    sizes: [K, M + 1],
    download: M,
    sent: { CreateMultipartUpload: 1, GetObject: 2, UploadPart: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 G2 U1 X1 F1 = 6: 5 MiB - 1 borrows 1 byte; the rest (5 MiB - 1) is the last part
  {
    name: '5 MiB - 1 then 5 MiB',
    sizes: [M - 1, M],
    download: M,
    sent: { CreateMultipartUpload: 1, GetObject: 2, UploadPart: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
  // C1 G2 U1 F1 = 5: the run reaches exactly 5 MiB
  {
    name: '5 MiB - 1 then 1 byte',
    sizes: [M - 1, 1],
    download: M,
    sent: { CreateMultipartUpload: 1, GetObject: 2, UploadPart: 1, CompleteMultipartUpload: 1 },
  },
  // C1 X3 F1 = 5
  {
    name: 'all big',
    sizes: [M, M + 1, 12 * 1024 * 1024],
    download: 0,
    sent: { CreateMultipartUpload: 1, UploadPartCopy: 3, CompleteMultipartUpload: 1 },
  },
  // C1 G2 U1 X1 F1 = 6: empty objects anywhere contribute nothing
  {
    name: 'empty objects between',
    sizes: [0, K, 0, M, 0],
    download: M,
    sent: { CreateMultipartUpload: 1, GetObject: 2, UploadPart: 1, UploadPartCopy: 1, CompleteMultipartUpload: 1 },
  },
];

describe('concatObjects', () => {
  it.each(CASES)('$name: byte-identical, downloading only what the rules need', async ({ sizes, download, sent }) => {
    const made = await Promise.all(sizes.map((size, n) => source(size, n)));
    requests = {};
    const key = `out/${sizes.join('-') || 'none'}.csv`;
    const stats = await concatObjects(s3, {
      bucket: BUCKET,
      key,
      sources: made.map((object, n) => ({ key: object.key, size: sizes[n]!, eTag: object.eTag })),
      contentType: 'text/csv; charset=utf-8',
      metadata: { run: 'r1' },
    });
    const sentByCase = { ...requests };
    const downloadedByCase = downloaded;

    const expected = Buffer.concat(made.map((object) => object.body));
    const assembled = await getBytes(key);
    expect(assembled.length).toBe(expected.length);
    expect(sha256(assembled)).toBe(sha256(expected));
    expect(downloadedByCase).toBe(download);
    expect(stats.downloadedBytes).toBe(download);
    expect(largestUploadPart).toBeLessThan(2 * M); // the caller held less than 10 MiB at once
    expect(sentByCase).toEqual(sent);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentType).toBe('text/csv; charset=utf-8');
    expect(head.Metadata).toEqual({ run: 'r1' });
    expect(await openUploads()).toEqual([]);
  });

  it('more small sources than reads in flight: each lands at its own offset', async () => {
    // The downloads of one part are queued; a read started late must still fill its own piece of the part.
    const made = await Promise.all(Array.from({ length: 7 }, (_, n) => source(K + n, n)));
    await concatObjects(s3, {
      bucket: BUCKET,
      key: 'out/queued.csv',
      sources: made.map(({ key, body }) => ({ key, size: body.length })),
      concurrency: 2,
    });
    expect(sha256(await getBytes('out/queued.csv'))).toBe(sha256(Buffer.concat(made.map((object) => object.body))));
  });

  it('asks S3 for the sizes it is not given (one HeadObject per source)', async () => {
    const made = await Promise.all([source(K, 0), source(M + 1, 1)]);
    requests = {};
    await concatObjects(s3, { bucket: BUCKET, key: 'out/headed.csv', sources: made.map(({ key }) => ({ key })) });
    expect(requests.HeadObject).toBe(2);
    expect(sha256(await getBytes('out/headed.csv'))).toBe(sha256(Buffer.concat(made.map((object) => object.body))));
  });
});

describe('sources', () => {
  it('keys that need encoding in x-amz-copy-source, and sources in another bucket', async () => {
    const keys = ['tmp/run 1/chunk+1 é%.csv', 'tmp/run 1/chunk?2#.csv'];
    const bodies = [pattern(M + 3, 41), pattern(K, 42), pattern(M, 43)];
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys[0], Body: bodies[0] }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys[1], Body: bodies[1] }));
    await s3.send(new PutObjectCommand({ Bucket: OTHER, Key: keys[0], Body: bodies[2] }));
    await concatObjects(s3, {
      bucket: BUCKET,
      key: 'out/encoded keys.csv',
      sources: [{ key: keys[0]! }, { key: keys[1]! }, { bucket: OTHER, key: keys[0]! }],
    });
    expect(sha256(await getBytes('out/encoded keys.csv'))).toBe(sha256(Buffer.concat(bodies)));
  });

  it('refuses a malformed request before sending anything', async () => {
    await expect(
      concatObjects(s3, { bucket: BUCKET, key: '', sources: [{ key: 'x', size: -1 }] } as never),
    ).rejects.toThrow(TypeError);
    expect(requests).toEqual({});
  });
});

describe('failures abort the upload', () => {
  it('a missing source mid-way: the error names it and no upload stays open', async () => {
    const big = await source(12 * 1024 * 1024, 0);
    const attempt = concatObjects(s3, {
      bucket: BUCKET,
      key: 'out/missing.csv',
      sources: [
        { key: big.key, size: big.body.length },
        { key: 'src/missing-worker-3', size: K },
        { key: big.key, size: big.body.length },
      ],
    });
    await expect(attempt).rejects.toBeInstanceOf(ConcatError);
    await expect(attempt).rejects.toThrow(`s3://${BUCKET}/src/missing-worker-3 does not exist`);
    expect(requests.AbortMultipartUpload).toBe(1);
    expect(await openUploads()).toEqual([]);
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/missing.csv' }))).rejects.toMatchObject({
      name: 'NotFound',
    });
  });

  it('a source rewritten after its ETag was taken: copies and reads are conditional, the error says it changed', async () => {
    const big = await source(M + 1, 0);
    const rewritten = pattern(K, 99);
    const old = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'src/rewritten', Body: pattern(K, 98) }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'src/rewritten', Body: rewritten }));
    for (const order of [
      // read (GetObject If-Match) of the small one, then the copy of the big one
      [
        { key: 'src/rewritten', size: K, eTag: old.ETag! },
        { key: big.key, size: big.body.length, eTag: big.eTag },
      ],
      // the copy (x-amz-copy-source-if-match) of a big one that changed
      [{ key: big.key, size: big.body.length, eTag: old.ETag! }],
    ]) {
      requests = {};
      const attempt = concatObjects(s3, { bucket: BUCKET, key: 'out/changed.csv', sources: order });
      await expect(attempt).rejects.toBeInstanceOf(ConcatError);
      await expect(attempt).rejects.toThrow(`changed since it was written: its ETag is no longer ${old.ETag}`);
      expect(requests.AbortMultipartUpload).toBe(1);
      expect(await openUploads()).toEqual([]);
    }
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/changed.csv' }))).rejects.toMatchObject({
      name: 'NotFound',
    });
  });

  it('a missing source whose size is asked for fails before any upload is opened', async () => {
    const attempt = concatObjects(s3, { bucket: BUCKET, key: 'out/missing2.csv', sources: [{ key: 'src/nope' }] });
    await expect(attempt).rejects.toThrow(`s3://${BUCKET}/src/nope does not exist`);
    expect(requests.CreateMultipartUpload).toBeUndefined();
  });

  it('an aborted signal stops it, aborts the upload and rejects with the reason', async () => {
    const made = await Promise.all([source(12 * 1024 * 1024, 0), source(K, 1), source(12 * 1024 * 1024, 2)]);
    const controller = new AbortController();
    const reason = new Error('deadline');
    // Abort as soon as the first copied part has landed: the rest is still to come.
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'UploadPartCopyCommand') controller.abort(reason);
        return result;
      },
      { step: 'initialize', name: 'abortAfterFirstCopy' },
    );
    try {
      const attempt = concatObjects(
        s3,
        {
          bucket: BUCKET,
          key: 'out/aborted.csv',
          sources: made.map((object) => ({ key: object.key, size: object.body.length })),
          concurrency: 1,
        },
        controller.signal,
      );
      await expect(attempt).rejects.toBe(reason);
    } finally {
      s3.middlewareStack.remove('abortAfterFirstCopy');
    }
    // At least once: a part the signal cancelled may still be landing on the server when the abort arrives, which
    // the local S3 then answers 500 and the SDK retries (AWS documents that an abort may have to be repeated).
    expect(requests.AbortMultipartUpload).toBeGreaterThanOrEqual(1);
    expect(requests.CompleteMultipartUpload).toBeUndefined();
    expect(await openUploads()).toEqual([]);
  });

  it('an already aborted signal sends nothing', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await expect(
      concatObjects(
        s3,
        { bucket: BUCKET, key: 'out/never.csv', sources: [{ key: 'src/x', size: 1 }] },
        controller.signal,
      ),
    ).rejects.toThrow('too late');
    expect(requests).toEqual({});
  });

  it('abort() after prepareConcat: nothing appears, no upload stays open', async () => {
    const made = await Promise.all([source(M, 0), source(K, 1)]);
    const prepared = await prepareConcat(s3, {
      bucket: BUCKET,
      key: 'out/abandoned.csv',
      sources: made.map((object) => ({ key: object.key, size: object.body.length })),
    });
    expect(await openUploads()).toHaveLength(1);
    await prepared.abort();
    await prepared.abort(); // idempotent
    expect(await openUploads()).toEqual([]);
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/abandoned.csv' }))).rejects.toMatchObject({
      name: 'NotFound',
    });
  });
});
