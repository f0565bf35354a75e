/**
 * Multipart uploads on the local S3 server as AWS S3 answers them, through the real AWS SDK v3: the limits that
 * CompleteMultipartUpload enforces (EntityTooSmall, part numbers, order, ETags) and UploadPartCopy — what an
 * object assembled server-side from other objects (issue 14's `rates.csv`, the s3-concat approach) relies on.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3ServerProcess } from '../../../local-stack/s3/child.ts';
import { signedHeaders } from '../../support/signing.ts';
import { startLocalS3, stopLocalS3 } from '../../support/local-s3.ts';
import { patternBytes as pattern } from '../../support/random.ts';

const BUCKET = 'multipart-test';
const OTHER = 'multipart-other';
const MIN_PART = 5 * 1024 * 1024;

let server: S3ServerProcess;
let dir: string;
let s3: S3Client;

beforeAll(async () => {
  ({ server, dir, s3 } = await startLocalS3([BUCKET, OTHER], 'cp-s3-multipart-'));
});

afterAll(() => stopLocalS3({ server, dir, s3 }));

const md5 = (data: Uint8Array): string => createHash('md5').update(data).digest('hex');

async function put(key: string, body: Buffer, bucket = BUCKET): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

async function getBytes(key: string): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function create(key: string): Promise<string> {
  return (await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))).UploadId!;
}

async function uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
  return (
    await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body }),
    )
  ).ETag!;
}

async function copyPart(
  key: string,
  uploadId: string,
  partNumber: number,
  source: string,
  range?: string,
): Promise<{ eTag: string; lastModified: Date }> {
  const result = await s3.send(
    new UploadPartCopyCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      CopySource: source,
      ...(range === undefined ? {} : { CopySourceRange: range }),
    }),
  );
  return { eTag: result.CopyPartResult!.ETag!, lastModified: result.CopyPartResult!.LastModified! };
}

async function complete(key: string, uploadId: string, parts: { PartNumber: number; ETag: string }[]): Promise<void> {
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
}

/** A request signed with the test credentials and sent as given, for what the SDK does not show (the error XML). */
async function rawRequest(
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  const signed = await signedHeaders(server.endpoint, 's3', {
    method,
    path: urlPath,
    headers,
    ...(body === undefined ? {} : { body }),
  });
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
  it("refuses a part below 5 MiB that is not the last with AWS's EntityTooSmall error, and accepts exactly 5 MiB", async () => {
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
      await expect(complete(key, uploadId, [{ PartNumber: number, ETag: one }])).rejects.toMatchObject({
        name: 'InvalidArgument',
      });
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
    await expect(complete(key, uploadId, [{ PartNumber: 3, ETag: one }])).rejects.toMatchObject({
      name: 'InvalidPart',
    });
    await expect(complete(key, uploadId, [{ PartNumber: 1, ETag: two }])).rejects.toMatchObject({
      name: 'InvalidPart',
    });

    // None of the refusals used the upload up.
    await complete(key, uploadId, [
      { PartNumber: 1, ETag: one },
      { PartNumber: 2, ETag: two },
    ]);
    expect(md5(await getBytes(key))).toBe(md5(Buffer.concat([pattern(MIN_PART, 4), pattern(100, 5)])));
  });
});

describe('UploadPartCopy', () => {
  it("copies a whole object and a byte range into parts, answering CopyPartResult with the part's ETag", async () => {
    const source = pattern(3000, 6);
    await put('copy/source.bin', source, OTHER);
    const key = 'copy/target.bin';
    const uploadId = await create(key);
    const before = Date.now();
    const whole = await copyPart(key, uploadId, 1, `${OTHER}/copy/source.bin`);
    expect(whole.eTag).toBe(`"${md5(source)}"`);
    expect(whole.lastModified).toBeInstanceOf(Date);
    expect(Math.abs(whole.lastModified.getTime() - before)).toBeLessThan(60_000);
    // bytes=first-last, both inclusive and zero-based; the first byte alone; the last byte alone.
    const ranged = await copyPart(key, uploadId, 2, `/${OTHER}/copy/source.bin`, 'bytes=10-1009');
    expect(ranged.eTag).toBe(`"${md5(source.subarray(10, 1010))}"`);
    const firstByte = await copyPart(key, uploadId, 3, `${OTHER}/copy/source.bin`, 'bytes=0-0');
    expect(firstByte.eTag).toBe(`"${md5(source.subarray(0, 1))}"`);
    const lastByte = await copyPart(key, uploadId, 4, `${OTHER}/copy/source.bin`, 'bytes=2999-2999');
    expect(lastByte.eTag).toBe(`"${md5(source.subarray(2999))}"`);
    // An empty source copies to an empty part; a range on it is past its end.
    await put('copy/empty.bin', Buffer.alloc(0), OTHER);
    expect((await copyPart(key, uploadId, 5, `${OTHER}/copy/empty.bin`)).eTag).toBe(`"${md5(Buffer.alloc(0))}"`);
    await expect(copyPart(key, uploadId, 5, `${OTHER}/copy/empty.bin`, 'bytes=0-0')).rejects.toMatchObject({
      name: 'InvalidRange',
    });
    // A part copied again replaces the earlier one, as an UploadPart with the same number does.
    const replaced = await copyPart(key, uploadId, 1, `${OTHER}/copy/source.bin`, 'bytes=0-4');
    expect(replaced.eTag).toBe(`"${md5(source.subarray(0, 5))}"`);
    await complete(key, uploadId, [{ PartNumber: 1, ETag: replaced.eTag }]);
    expect((await getBytes(key)).equals(source.subarray(0, 5))).toBe(true);
  });

  it('assembles one object from 3 copied parts and a small uploaded last part, byte-identical to the concatenation', async () => {
    const outputs = [pattern(MIN_PART + 123, 7), pattern(MIN_PART, 8), pattern(2 * MIN_PART + 777, 9)];
    const small = [pattern(1000, 10), pattern(17, 11)];
    await Promise.all(outputs.map((body, i) => put(`tmp/worker-${i}.csv`, body)));
    const key = 'results/x/rates.csv';
    const uploadId = await create(key);
    // Whole objects for the first two, a range of the third (its middle MIN_PART + 5 bytes).
    const parts = await Promise.all([
      copyPart(key, uploadId, 1, `${BUCKET}/tmp/worker-0.csv`),
      copyPart(key, uploadId, 2, `${BUCKET}/tmp/worker-1.csv`),
      copyPart(key, uploadId, 3, `${BUCKET}/tmp/worker-2.csv`, `bytes=100-${100 + MIN_PART + 4}`),
    ]);
    const tail = await uploadPart(key, uploadId, 4, Buffer.concat(small));
    await complete(key, uploadId, [
      ...parts.map((part, i) => ({ PartNumber: i + 1, ETag: part.eTag })),
      { PartNumber: 4, ETag: tail },
    ]);

    const expected = Buffer.concat([outputs[0]!, outputs[1]!, outputs[2]!.subarray(100, 100 + MIN_PART + 5), ...small]);
    const assembled = await getBytes(key);
    expect(assembled.length).toBe(expected.length);
    expect(assembled.equals(expected)).toBe(true);
  });

  it('counts a copied part against the 5 MiB minimum like an uploaded one', async () => {
    await put('tmp/small-output.csv', pattern(4096, 12));
    const key = 'results/y/rates.csv';
    const uploadId = await create(key);
    const small = await copyPart(key, uploadId, 1, `${BUCKET}/tmp/small-output.csv`);
    const last = await uploadPart(key, uploadId, 2, pattern(10, 13));
    await expect(
      complete(key, uploadId, [
        { PartNumber: 1, ETag: small.eTag },
        { PartNumber: 2, ETag: last },
      ]),
    ).rejects.toMatchObject({ name: 'EntityTooSmall' });
  });

  it("answers AWS's errors: NoSuchKey, NoSuchBucket, NoSuchUpload, InvalidArgument, InvalidRange", async () => {
    await put('err/source.bin', pattern(100, 14));
    const key = 'err/target.bin';
    const uploadId = await create(key);
    const copy = (source: string, range?: string, partNumber = 1, id = uploadId) =>
      copyPart(key, id, partNumber, source, range);
    await expect(copy(`${BUCKET}/err/missing.bin`)).rejects.toMatchObject({
      name: 'NoSuchKey',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(copy('no-such-bucket-here/err/source.bin')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(copy(`${BUCKET}/err/source.bin`, undefined, 1, 'not-an-upload')).rejects.toMatchObject({
      name: 'NoSuchUpload',
    });
    await expect(copy(`${BUCKET}/err/source.bin`, undefined, 0)).rejects.toMatchObject({ name: 'InvalidArgument' });
    await expect(copy(`${BUCKET}/err/source.bin`, undefined, 10001)).rejects.toMatchObject({ name: 'InvalidArgument' });
    for (const range of ['0-9', 'bytes=0', 'bytes=a-b', 'bytes=-10', 'bytes=5-', 'bytes=0-1,3-4', 'items=0-9']) {
      await expect(copy(`${BUCKET}/err/source.bin`, range), range).rejects.toMatchObject({ name: 'InvalidArgument' });
    }
    for (const range of ['bytes=0-100', 'bytes=100-100', 'bytes=50-10']) {
      await expect(copy(`${BUCKET}/err/source.bin`, range), range).rejects.toMatchObject({
        name: 'InvalidRange',
        $metadata: { httpStatusCode: 416 },
      });
    }
    // The raw document names the bad header, as AWS's does.
    const raw = await rawRequest('PUT', `/${BUCKET}/${key}?partNumber=1&uploadId=${uploadId}`, {
      'x-amz-copy-source': `/${BUCKET}/err/source.bin`,
      'x-amz-copy-source-range': 'bytes=0',
    });
    expect(raw.status).toBe(400);
    expect(raw.body).toContain('<ArgumentName>x-amz-copy-source-range</ArgumentName>');
  });

  it('reads only keys inside the data folder, and only for signed requests', async () => {
    const key = 'confined/target.bin';
    const uploadId = await create(key);
    for (const source of [
      `${BUCKET}/../${OTHER}/x`,
      `${BUCKET}/%2E%2E/%2E%2E/etc/passwd`,
      `${BUCKET}/a/._S3rver_object`,
      `../${BUCKET}/x`,
    ]) {
      const raw = await rawRequest('PUT', `/${BUCKET}/${key}?partNumber=1&uploadId=${uploadId}`, {
        'x-amz-copy-source': source,
      });
      expect(raw.status, source).toBe(400);
      expect(raw.body, source).toMatch(/<Code>(InvalidArgument|InvalidBucketName)<\/Code>/);
    }
    // Unsigned: refused before anything is read.
    await put('confined/source.bin', pattern(10, 15));
    const unsigned = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        new URL(`/${BUCKET}/${key}?partNumber=1&uploadId=${uploadId}`, server.endpoint),
        { method: 'PUT', headers: { 'x-amz-copy-source': `/${BUCKET}/confined/source.bin` }, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(unsigned).toBe(403);
    // The refused requests left no part behind; the same upload takes a signed copy of a key inside the bucket.
    await expect(complete(key, uploadId, [{ PartNumber: 1, ETag: `"${md5(pattern(10, 15))}"` }])).rejects.toMatchObject(
      { name: 'InvalidPart' },
    );
    const copied = await copyPart(key, uploadId, 1, `${BUCKET}/confined/source.bin`);
    await complete(key, uploadId, [{ PartNumber: 1, ETag: copied.eTag }]);
    expect((await getBytes(key)).equals(pattern(10, 15))).toBe(true);
  });
});

describe('ListMultipartUploads', () => {
  it('lists the uploads neither completed nor aborted, by key, with prefix and pages; none once they are closed', async () => {
    const bucket = OTHER; // a bucket no other test starts uploads in
    const start = async (key: string) =>
      (await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId!;
    const list = (input: Partial<ListMultipartUploadsCommand['input']> = {}) =>
      s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, ...input }));
    const b1 = await start('list/b');
    const a = await start('list/a');
    const b2 = await start('list/b');
    const other = await start('elsewhere/c');

    const all = await list();
    expect(all.Uploads?.map((upload) => [upload.Key, upload.UploadId])).toEqual([
      ['elsewhere/c', other],
      ['list/a', a],
      ['list/b', b1],
      ['list/b', b2],
    ]);
    expect(all.IsTruncated).toBe(false);
    expect(all.Uploads?.[0]?.Initiated).toBeInstanceOf(Date);
    expect((await list({ Prefix: 'list/' })).Uploads?.map((upload) => upload.UploadId)).toEqual([a, b1, b2]);

    // Pages of two, through the markers S3 returns.
    const first = await list({ Prefix: 'list/', MaxUploads: 2 });
    expect(first.IsTruncated).toBe(true);
    expect(first.Uploads?.map((upload) => upload.UploadId)).toEqual([a, b1]);
    expect([first.NextKeyMarker, first.NextUploadIdMarker]).toEqual(['list/b', b1]);
    const second = await list({
      Prefix: 'list/',
      MaxUploads: 2,
      KeyMarker: first.NextKeyMarker,
      UploadIdMarker: first.NextUploadIdMarker,
    });
    expect(second.Uploads?.map((upload) => upload.UploadId)).toEqual([b2]);
    expect(second.IsTruncated).toBe(false);
    expect((await list({ KeyMarker: 'list/a' })).Uploads?.map((upload) => upload.UploadId)).toEqual([b1, b2]);
    await expect(list({ Delimiter: '/' })).rejects.toMatchObject({ name: 'NotImplemented' });

    for (const [key, uploadId] of [
      ['list/a', a],
      ['list/b', b1],
      ['list/b', b2],
      ['elsewhere/c', other],
    ] as const) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    }
    expect((await list()).Uploads ?? []).toEqual([]);
  });
});

describe('AbortMultipartUpload while a part is arriving', () => {
  it('answers the part NoSuchUpload, leaves no upload behind and keeps serving', async () => {
    const key = 'abort/racing.bin';
    const uploadId = await create(key);
    const body = new PassThrough();
    const sending = s3.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: uploadId,
        PartNumber: 1,
        Body: body,
        ContentLength: 2 * 65536,
      }),
    );
    sending.catch(() => undefined);
    body.write(pattern(65536, 16));
    await sleep(300); // the server is now writing the part
    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));
    body.end(pattern(65536, 17));
    await expect(sending).rejects.toMatchObject({ name: 'NoSuchUpload' });
    // The server is alive and the upload did not come back.
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'abort/' }));
    expect(listed.Uploads ?? []).toEqual([]);
    await put('abort/after.bin', pattern(10, 18));
    expect((await getBytes('abort/after.bin')).equals(pattern(10, 18))).toBe(true);
  });
});

describe('the assembled object and large reads', () => {
  it("gives a completed object S3's multipart ETag (MD5 of the part MD5s, -N), byte-identical, its upload gone", async () => {
    const bodies = [pattern(MIN_PART + 3, 21), pattern(MIN_PART, 22), pattern(12_345, 23)];
    const key = 'assembled/etag.bin';
    const uploadId = await create(key);
    const eTags = await Promise.all(bodies.map((body, i) => uploadPart(key, uploadId, i + 1, body)));
    expect(eTags).toEqual(bodies.map((body) => `"${md5(body)}"`));
    const answer = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: eTags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
      }),
    );
    const expected = `"${md5(Buffer.concat(bodies.map((body) => Buffer.from(md5(body), 'hex'))))}-3"`;
    expect(answer.ETag).toBe(expected);
    expect((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ETag).toBe(expected);
    expect((await getBytes(key)).equals(Buffer.concat(bodies))).toBe(true);
    const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }));
    expect(open.Uploads ?? []).toEqual([]);
  });

  it('serves ranges that straddle, start or end on the 1 MiB read boundaries, and clamps a range past the end', async () => {
    const MiB = 1024 * 1024;
    const data = pattern(3 * MiB + 17, 24);
    await put('ranges/big.bin', data);
    // Buffers compared with equals: vitest's deep equality walks megabytes byte by byte.
    const expectRange = async (Range: string, first: number, last: number): Promise<void> => {
      const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'ranges/big.bin', Range }));
      const bytes = Buffer.from(await response.Body!.transformToByteArray());
      expect(response.ContentRange).toBe(`bytes ${first}-${last}/${data.length}`);
      expect(bytes.equals(data.subarray(first, last + 1))).toBe(true);
    };
    for (const [first, last] of [
      [MiB - 3, MiB + 2],
      [MiB, 2 * MiB - 1],
      [0, MiB],
      [2 * MiB - 1, 3 * MiB + 16],
      [5, 3 * MiB + 5],
    ] as const) {
      await expectRange(`bytes=${first}-${last}`, first, last);
    }
    await expectRange(`bytes=${MiB}-${10 * MiB}`, MiB, data.length - 1);
    expect((await getBytes('ranges/big.bin')).equals(data)).toBe(true);
    await expect(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'ranges/big.bin', Range: `bytes=${data.length}-` })),
    ).rejects.toMatchObject({ name: 'InvalidRange' });
    await expect(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'ranges/missing.bin', Range: 'bytes=0-10' })),
    ).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('refuses a part whose body does not match its Content-MD5, keeping no part that a completion could name', async () => {
    const key = 'assembled/bad-part.bin';
    const uploadId = await create(key);
    const body = pattern(70_000, 25);
    await expect(
      s3.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId: uploadId,
          PartNumber: 1,
          Body: body,
          ContentMD5: createHash('md5').update('something else').digest('base64'),
        }),
      ),
    ).rejects.toMatchObject({ name: 'BadDigest' });
    await expect(complete(key, uploadId, [{ PartNumber: 1, ETag: `"${md5(body)}"` }])).rejects.toMatchObject({
      name: 'InvalidPart',
    });
    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));
  });
});
