/**
 * The local S3 server (local-stack/s3/) against standard clients at their default settings.
 *
 * Most tests run the server as production does: the CLI entry in a child process (with the
 * `--openssl-legacy-provider` flag the local stack passes). One block runs it inside the vitest process,
 * which has no legacy provider, to show listing/pagination does not depend on it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnS3ServerProcess, type S3ServerProcess } from '../../../local-stack/s3/child.ts';
import {
  encodeS3EventKey,
  matchesRule,
  startS3Server,
  type NotificationRule,
  type RunningS3Server,
} from '../../../local-stack/s3/server.ts';
import { testS3Client } from '../../support/clients.ts';
import { presignedUrl, signedHeaders, TEST_CREDENTIALS } from '../../support/signing.ts';

const BUCKET = 'local-s3-test';
const OTHER_BUCKET = 'local-s3-other';

// ---------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------

/** Deterministic pseudo-random bytes, so a corrupted byte anywhere changes the hash. */
function pattern(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, Math.min(i, size - 4));
  }
  return out;
}

/** A stream with no length the SDK could know up front, delivering `data` in odd-sized pieces. */
function streamOf(data: Buffer, piece = 65_521): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
    })(),
  );
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function getBytes(s3: S3Client, key: string, bucket = BUCKET): Promise<Buffer> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function listAll(
  s3: S3Client,
  prefix: string,
  pageSize: number,
  delimiter?: string,
): Promise<{ pages: number; items: string[] }> {
  const items: string[] = [];
  let pages = 0;
  for await (const page of paginateListObjectsV2(
    { client: s3, pageSize },
    { Bucket: BUCKET, Prefix: prefix, MaxKeys: pageSize, ...(delimiter ? { Delimiter: delimiter } : {}) },
  )) {
    pages++;
    // Keys and common prefixes of one page, in S3's order.
    const entries = [
      ...(page.Contents ?? []).map((o) => o.Key!),
      ...(page.CommonPrefixes ?? []).map((p) => `CP:${p.Prefix!}`),
    ];
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.replace(/^CP:/, '')), Buffer.from(b.replace(/^CP:/, ''))));
    items.push(...entries);
    expect(page.KeyCount).toBe(entries.length);
  }
  return { pages, items };
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function rawRequest(
  endpoint: string,
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; body: string }> {
  const url = new URL(urlPath, endpoint);
  const signed = await signedHeaders(endpoint, 's3', {
    method,
    path: urlPath,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: signed }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function awsChunked(data: Buffer, trailer: string, chunkSize = 3, signed = false): Buffer {
  const parts: Buffer[] = [];
  const signature = signed ? ';chunk-signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' : '';
  for (let i = 0; i < data.length; i += chunkSize) {
    const chunk = data.subarray(i, i + chunkSize);
    parts.push(Buffer.from(`${chunk.length.toString(16)}${signature}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${signature}\r\n${trailer}\r\n`));
  return Buffer.concat(parts);
}

function crc32Base64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(zlib.crc32(data) >>> 0);
  return out.toString('base64');
}

type CliServer = S3ServerProcess;

function startCli(directory: string, rules: NotificationRule[]): Promise<CliServer> {
  return spawnS3ServerProcess({ directory, buckets: [BUCKET, OTHER_BUCKET], rules, credentials: TEST_CREDENTIALS });
}

// ---------------------------------------------------------------------------------------------------------
// unit tests
// ---------------------------------------------------------------------------------------------------------

describe('matchesRule', () => {
  const rule: NotificationRule = {
    bucket: 'data',
    prefix: 'uploads/',
    suffix: '.csv',
    events: ['s3:ObjectCreated:*'],
    target: 'rates',
  };

  it('matches bucket, prefix, suffix and event family', () => {
    expect(matchesRule(rule, 'data', 'uploads/x.csv', 'ObjectCreated:Put')).toBe(true);
    expect(matchesRule(rule, 'data', 'uploads/x.csv', 's3:ObjectCreated:CompleteMultipartUpload')).toBe(true);
    expect(matchesRule(rule, 'other', 'uploads/x.csv', 'ObjectCreated:Put')).toBe(false);
    expect(matchesRule(rule, 'data', 'results/x.csv', 'ObjectCreated:Put')).toBe(false);
    expect(matchesRule(rule, 'data', 'uploads/x.json', 'ObjectCreated:Put')).toBe(false);
    expect(matchesRule(rule, 'data', 'uploads/x.csv', 'ObjectRemoved:Delete')).toBe(false);
  });

  it('treats prefix and suffix as optional and exact event names as exact', () => {
    const exact: NotificationRule = {
      bucket: 'data',
      events: ['s3:ObjectCreated:Put', 'ObjectRemoved:*'],
      target: 't',
    };
    expect(matchesRule(exact, 'data', 'anything', 'ObjectCreated:Put')).toBe(true);
    expect(matchesRule(exact, 'data', 'anything', 'ObjectCreated:Copy')).toBe(false);
    expect(matchesRule(exact, 'data', 'anything', 'ObjectRemoved:Delete')).toBe(true);
    // Prefix and suffix match the raw key, not its encoded form.
    expect(matchesRule({ ...rule, prefix: 'up loads/' }, 'data', 'up loads/a b.csv', 'ObjectCreated:Put')).toBe(true);
  });
});

describe('encodeS3EventKey', () => {
  it('encodes keys as AWS notifications do', () => {
    expect(encodeS3EventKey('red flower.jpg')).toBe('red+flower.jpg');
    expect(encodeS3EventKey('uploads/my file+1.csv')).toBe('uploads/my+file%2B1.csv');
    expect(encodeS3EventKey('uploads/café.csv')).toBe('uploads/caf%C3%A9.csv');
    expect(encodeS3EventKey('logs/10:47:07=x,(1).csv')).toBe('logs/10%3A47%3A07%3Dx%2C%281%29.csv');
    expect(encodeS3EventKey('a-b_c.d*e~f')).toBe('a-b_c.d*e%7Ef');
  });

  it('round-trips through the decoding Lambda handlers use', () => {
    for (const key of ['uploads/a b+c ü %.csv', 'x/y/z', '日本語/ファイル 1.csv', '😀 emoji+plus']) {
      expect(decodeURIComponent(encodeS3EventKey(key).replaceAll('+', ' '))).toBe(key);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// integration: the CLI in a child process
// ---------------------------------------------------------------------------------------------------------

describe('local S3 server (CLI child process)', () => {
  const rules: NotificationRule[] = [
    { bucket: BUCKET, prefix: 'uploads/', suffix: '.csv', events: ['s3:ObjectCreated:*'], target: 'rates' },
    { bucket: BUCKET, prefix: 'audit/', events: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'], target: 'audit' },
    { bucket: BUCKET, prefix: 'audit/', events: ['s3:ObjectCreated:Put'], target: 'audit-puts' },
  ];
  let directory: string;
  let server: CliServer;
  let s3: S3Client;

  beforeAll(async () => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'local-s3-test-'));
    server = await startCli(directory, rules);
    s3 = testS3Client(server.endpoint);
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('stores a streamed PutObject (aws-chunked with CRC32 trailer) byte-identically', async () => {
    const data = pattern(3 * 1024 * 1024 + 17, 7);
    // The SDK needs the length of a stream for PutObject (it fails client-side without it); the body is
    // still streamed as aws-chunked.
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'streamed/data.bin',
        Body: streamOf(data),
        ContentLength: data.length,
      }),
    );
    const back = await getBytes(s3, 'streamed/data.bin');
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'streamed/data.bin' }));
    expect(head.ContentLength).toBe(data.length);
    expect(head.ContentEncoding).toBeUndefined(); // not "aws-chunked"
    expect(head.ETag).toBe(`"${createHash('md5').update(data).digest('hex')}"`);
  });

  it('stores a stream of unknown length via lib-storage (single request)', async () => {
    const data = pattern(300_001, 8);
    await new Upload({
      client: s3,
      params: { Bucket: BUCKET, Key: 'streamed/unknown-length.bin', Body: streamOf(data) },
    }).done();
    expect(sha256(await getBytes(s3, 'streamed/unknown-length.bin'))).toBe(sha256(data));
  });

  it('stores a 20 MB multipart upload byte-identically and notifies CompleteMultipartUpload', async () => {
    const data = pattern(20 * 1024 * 1024 + 12_345, 9);
    const key = 'uploads/big file+1.csv';
    await new Upload({
      client: s3,
      params: { Bucket: BUCKET, Key: key, Body: streamOf(data) },
      partSize: 5 * 1024 * 1024,
      queueSize: 3,
    }).done();
    const back = await getBytes(s3, key);
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));

    const encoded = 'uploads/big+file%2B1.csv';
    const notification = await waitFor(
      () => server.notifications.find((n) => n.event.Records[0]?.s3.object.key === encoded),
      'multipart notification',
    );
    const record = notification.event.Records[0]!;
    expect(notification.target).toBe('rates');
    expect(record.eventName).toBe('ObjectCreated:CompleteMultipartUpload');
    expect(record.s3.object.size).toBe(data.length);
    expect(server.notifications.filter((n) => n.event.Records[0]?.s3.object.key === encoded)).toHaveLength(1);
  });

  it('validates multipart completion and supports aborting uploads', async () => {
    const key = 'multipart/edge.bin';
    const part = pattern(5 * 1024 * 1024, 5);
    const create = () => s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    const upload = (UploadId: string, PartNumber: number, Body: Buffer) =>
      s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber, Body }));
    const complete = (UploadId: string, Parts: CompletedPart[]) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts } }));

    // A wrong ETag or a missing part is InvalidPart (s3rver alone would crash on the missing part)
    const first = (await create()).UploadId!;
    const one = await upload(first, 1, part);
    await expect(complete(first, [{ PartNumber: 1, ETag: '"0000"' }])).rejects.toMatchObject({ name: 'InvalidPart' });
    await expect(
      complete(first, [
        { PartNumber: 1, ETag: one.ETag! },
        { PartNumber: 2, ETag: one.ETag! },
      ]),
    ).rejects.toMatchObject({ name: 'InvalidPart' });
    // Parts other than the last must be at least 5 MB
    const small = await upload(first, 2, Buffer.from('tiny'));
    const tail = await upload(first, 3, Buffer.from('tail'));
    await expect(
      complete(first, [
        { PartNumber: 1, ETag: one.ETag! },
        { PartNumber: 2, ETag: small.ETag! },
        { PartNumber: 3, ETag: tail.ETag! },
      ]),
    ).rejects.toMatchObject({ name: 'EntityTooSmall' });
    await complete(first, [
      { PartNumber: 1, ETag: one.ETag! },
      { PartNumber: 3, ETag: tail.ETag! },
    ]);
    expect(sha256(await getBytes(s3, key))).toBe(sha256(Buffer.concat([part, Buffer.from('tail')])));

    // Abort: the upload is gone afterwards
    const second = (await create()).UploadId!;
    await upload(second, 1, Buffer.from('x'));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: second }));
    await expect(upload(second, 2, Buffer.from('y'))).rejects.toMatchObject({ name: 'NoSuchUpload' });
    await expect(
      s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: second })),
    ).rejects.toMatchObject({
      name: 'NoSuchUpload',
    });
  });

  it('paginates 2500 keys with MaxKeys 1000 in key order', async () => {
    const keys = Array.from({ length: 2500 }, (_, i) => `many/key-${String(i).padStart(5, '0')}`);
    const queue = [...keys];
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));
        }
      }),
    );
    const { pages, items } = await listAll(s3, 'many/', 1000);
    expect(pages).toBe(3);
    expect(items).toEqual(keys);

    const first = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'many/', MaxKeys: 1000 }));
    expect(first.IsTruncated).toBe(true);
    expect(first.KeyCount).toBe(1000);
    expect(first.NextContinuationToken).toBeTruthy();
    // An empty listing
    const none = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'nothing-here/' }));
    expect(none.KeyCount).toBe(0);
    expect(none.IsTruncated).toBe(false);
  }, 120_000);

  it('lists in S3 (UTF-8 byte) order with delimiters across pages', async () => {
    // UTF-8 byte order: '-' < '.' < '/' and 'z' (0x7A) < 'é' (0xC3 0xA9)
    const keys = ['mix/a', 'mix/a-1', 'mix/a.b', 'mix/a/x', 'mix/a/y/z', 'mix/b', 'mix/c/d', 'mix/z', 'mix/é'];
    for (const key of [...keys].reverse()) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: key }));

    for (const pageSize of [1, 2, 1000]) {
      expect((await listAll(s3, 'mix/', pageSize)).items).toEqual(keys);
      expect((await listAll(s3, 'mix/', pageSize, '/')).items).toEqual([
        'mix/a',
        'mix/a-1',
        'mix/a.b',
        'CP:mix/a/',
        'mix/b',
        'CP:mix/c/',
        'mix/z',
        'mix/é',
      ]);
    }
    const top = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'mix/a/', Delimiter: '/' }));
    expect(top.Contents?.map((o) => o.Key)).toEqual(['mix/a/x']);
    expect(top.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['mix/a/y/']);

    const after = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'mix/', StartAfter: 'mix/a.b' }));
    expect(after.Contents?.map((o) => o.Key)).toEqual(keys.slice(3));

    // ListObjects (V1) with markers
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'mix/', Delimiter: '/', MaxKeys: 4 }));
    expect(v1.IsTruncated).toBe(true);
    expect(v1.NextMarker).toBe('mix/a/');
    const v1next = await s3.send(
      new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'mix/', Delimiter: '/', Marker: v1.NextMarker }),
    );
    expect(v1next.Contents?.map((o) => o.Key)).toEqual(['mix/b', 'mix/z', 'mix/é']);
    expect(v1next.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['mix/c/']);
  });

  it('handles ranges, heads, copies, deletes, empty objects and unusual keys', async () => {
    const keys = [
      'odd/with space.txt',
      'odd/plus+sign.txt',
      'odd/ünï cödé 日本 😀.txt',
      'odd/percent%20literal.txt',
      'odd/trailing/',
    ];
    for (const key of keys) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `content of ${key}` }));
      expect((await getBytes(s3, key)).toString()).toBe(`content of ${key}`);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'odd/' }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual([...keys].sort());

    // Empty object, written as a stream (aws-chunked with only the final chunk) and as a buffer
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'odd/empty-stream',
        Body: streamOf(Buffer.alloc(0)),
        ContentLength: 0,
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'odd/empty', Body: '' }));
    for (const key of ['odd/empty-stream', 'odd/empty']) {
      expect((await getBytes(s3, key)).length).toBe(0);
      expect((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength).toBe(0);
    }

    // Ranges
    const data = pattern(1000, 3);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'odd/ranged.bin', Body: data }));
    const range = async (Range: string) => {
      const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'odd/ranged.bin', Range }));
      return { bytes: Buffer.from(await response.Body!.transformToByteArray()), contentRange: response.ContentRange };
    };
    expect(await range('bytes=10-19')).toEqual({ bytes: data.subarray(10, 20), contentRange: 'bytes 10-19/1000' });
    expect(await range('bytes=990-')).toEqual({ bytes: data.subarray(990), contentRange: 'bytes 990-999/1000' });
    expect(await range('bytes=-5')).toEqual({ bytes: data.subarray(995), contentRange: 'bytes 995-999/1000' });
    expect((await range('bytes=0-0')).bytes).toEqual(data.subarray(0, 1));
    await expect(range('bytes=5000-')).rejects.toMatchObject({ name: 'InvalidRange' });

    // Copy with a key that needs encoding; CopySource encoded as the API requires
    const source = 'odd/plus+sign.txt';
    const copy = await s3.send(
      new CopyObjectCommand({
        Bucket: OTHER_BUCKET,
        Key: 'copies/ü+ copy.txt',
        CopySource: `${BUCKET}/${encodeURIComponent(source)}`,
      }),
    );
    expect(copy.CopyObjectResult?.ETag).toBeTruthy();
    expect((await getBytes(s3, 'copies/ü+ copy.txt', OTHER_BUCKET)).toString()).toBe(`content of ${source}`);

    // Delete, DeleteObjects (including keys s3rver would have parsed as numbers)
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: '123', Body: 'n' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: '007', Body: 'n' }));
    const deleted = await s3.send(
      new DeleteObjectsCommand({
        Bucket: BUCKET,
        Delete: { Objects: [{ Key: '123' }, { Key: '007' }, { Key: 'odd/with space.txt' }, { Key: 'never-existed' }] },
      }),
    );
    expect(deleted.Deleted?.map((d) => d.Key).sort()).toEqual(['007', '123', 'never-existed', 'odd/with space.txt']);
    expect(deleted.Errors ?? []).toEqual([]);
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'odd/plus+sign.txt' }));
    for (const key of ['123', '007', 'odd/with space.txt', 'odd/plus+sign.txt']) {
      await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toMatchObject({
        name: 'NotFound',
      });
    }
    await expect(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'odd/with space.txt' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    await expect(s3.send(new ListObjectsV2Command({ Bucket: 'no-such-bucket' }))).rejects.toMatchObject({
      name: 'NoSuchBucket',
    });
  });

  it('notifies exactly one record per matching rule, AWS-shaped', async () => {
    const before = server.notifications.length;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/my file+ü.csv', Body: 'a,b\n1,2\n' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/not-a-csv.json', Body: '{}' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'elsewhere/x.csv', Body: 'x' }));
    await s3.send(new PutObjectCommand({ Bucket: OTHER_BUCKET, Key: 'uploads/x.csv', Body: 'x' }));
    await waitFor(() => (server.notifications.length > before ? true : undefined), 'a notification');
    await new Promise((resolve) => setTimeout(resolve, 300)); // would-be extra notifications
    const fresh = server.notifications.slice(before);
    expect(fresh).toHaveLength(1);
    const { target, event } = fresh[0]!;
    expect(target).toBe('rates');
    expect(event.Records).toHaveLength(1);
    const record = event.Records[0]!;
    expect(record).toMatchObject({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventName: 'ObjectCreated:Put',
      s3: {
        s3SchemaVersion: '1.0',
        bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
        object: {
          key: 'uploads/my+file%2B%C3%BC.csv',
          size: 8,
          eTag: createHash('md5').update('a,b\n1,2\n').digest('hex'),
        },
      },
    });
    expect(new Date(record.eventTime).toISOString()).toBe(record.eventTime);
    expect(record.s3.object.sequencer).toMatch(/^[0-9A-F]+$/);

    // Two rules match audit/ puts: one record each. Copies and deletes go to the rule that asks for them.
    const auditStart = server.notifications.length;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'audit/a.txt', Body: 'x' }));
    await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'audit/b.txt', CopySource: `${BUCKET}/audit/a.txt` }));
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'audit/a.txt' }));
    await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: 'audit/b.txt' }] } }));
    const audit = await waitFor(() => {
      const list = server.notifications.slice(auditStart);
      return list.length >= 5 ? list : undefined;
    }, 'audit notifications');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(
      server.notifications
        .slice(auditStart)
        .map((n) => `${n.target} ${n.event.Records[0]!.eventName} ${n.event.Records[0]!.s3.object.key}`)
        .sort(),
    ).toEqual([
      'audit ObjectCreated:Copy audit/b.txt',
      'audit ObjectCreated:Put audit/a.txt',
      'audit ObjectRemoved:Delete audit/a.txt',
      'audit ObjectRemoved:Delete audit/b.txt',
      'audit-puts ObjectCreated:Put audit/a.txt',
    ]);
    const copyRecord = audit.find((n) => n.event.Records[0]!.eventName === 'ObjectCreated:Copy')!.event.Records[0]!;
    expect(copyRecord.s3.object.eTag).toBe(createHash('md5').update('x').digest('hex'));
    const removal = audit.find((n) => n.event.Records[0]!.eventName === 'ObjectRemoved:Delete')!.event.Records[0]!;
    expect(removal.s3.object.size).toBeUndefined();
  });

  it('decodes hand-made aws-chunked bodies and rejects bad checksums', async () => {
    const data = Buffer.from('hello, chunked world');
    const headers = (trailerChecksum: string) => ({
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-decoded-content-length': String(data.length),
      'x-amz-trailer': 'x-amz-checksum-crc32',
      'content-type': 'text/plain',
      _checksum: trailerChecksum,
    });
    const put = (key: string, checksum: string, signed = false) => {
      const { _checksum, ...h } = headers(checksum);
      if (signed) h['x-amz-content-sha256'] = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
      return rawRequest(
        server.endpoint,
        'PUT',
        `/${BUCKET}/${key}`,
        h,
        awsChunked(data, `x-amz-checksum-crc32:${_checksum}\r\n`, 4, signed),
      );
    };

    expect((await put('chunked/good.txt', crc32Base64(data))).status).toBe(200);
    expect((await getBytes(s3, 'chunked/good.txt')).toString()).toBe(data.toString());
    expect((await put('chunked/signed.txt', crc32Base64(data), true)).status).toBe(200);
    expect((await getBytes(s3, 'chunked/signed.txt')).toString()).toBe(data.toString());
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'chunked/good.txt' }));
    expect(head.ContentType).toBe('text/plain');
    expect(head.ContentEncoding).toBeUndefined();

    const bad = await put('chunked/bad.txt', 'AAAAAA==');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('<Code>BadDigest</Code>');
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'chunked/bad.txt' }))).rejects.toMatchObject({
      name: 'NotFound',
    });

    // A plain body whose x-amz-checksum-crc32 header does not match
    const plain = await rawRequest(
      server.endpoint,
      'PUT',
      `/${BUCKET}/chunked/plain-bad.txt`,
      { 'x-amz-checksum-crc32': 'AAAAAA==', 'content-length': String(data.length) },
      data,
    );
    expect(plain.status).toBe(400);
    expect(plain.body).toContain('<Code>BadDigest</Code>');

    // Truncated framing
    const { _checksum, ...h } = headers('x');
    const truncated = await rawRequest(
      server.endpoint,
      'PUT',
      `/${BUCKET}/chunked/truncated.txt`,
      h,
      Buffer.from('14\r\nhello'),
    );
    expect(truncated.status).toBe(400);
    expect(truncated.body).toContain('<Code>IncompleteBody</Code>');
    expect(server.stderr()).not.toMatch(/internal error/);
  });

  it('serves presigned GET and PUT URLs', async () => {
    const presign = (method: string, key: string): Promise<string> =>
      presignedUrl(server.endpoint, 's3', {
        method,
        path: `/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`,
      });
    const key = 'presigned/up load+1.txt';
    const put = await fetch(await presign('PUT', key), { method: 'PUT', body: 'via presigned PUT' });
    expect(put.status).toBe(200);
    const get = await fetch(await presign('GET', key));
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('via presigned PUT');
  });

  it('aws s3 cp of a 20 MB file works both ways', async (ctx) => {
    const version = spawnSync('aws', ['--version'], { encoding: 'utf8' });
    if (version.error || version.status !== 0) ctx.skip('the AWS CLI (aws) is not installed');
    const work = mkdtempSync(path.join(os.tmpdir(), 'local-s3-cli-'));
    try {
      const file = path.join(work, 'upload 20mb.bin');
      const data = pattern(20 * 1024 * 1024 + 3, 11);
      writeFileSync(file, data);
      const env = {
        ...process.env,
        AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_CONFIG_FILE: path.join(work, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(work, 'no-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_PAGER: '',
      };
      const aws = (...args: string[]) => {
        const result = spawnSync('aws', ['--endpoint-url', server.endpoint, ...args], {
          env,
          encoding: 'utf8',
          timeout: 90_000,
        });
        expect(result.status, `aws ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
        return result.stdout;
      };
      aws('s3', 'cp', '--only-show-errors', file, `s3://${BUCKET}/cli/big file+1.bin`);
      const download = path.join(work, 'download.bin');
      aws('s3', 'cp', '--only-show-errors', `s3://${BUCKET}/cli/big file+1.bin`, download);
      expect(sha256(readFileSync(download))).toBe(sha256(data));
      // The CLI lists with encoding-type=url and decodes the keys
      expect(aws('s3', 'ls', `s3://${BUCKET}/cli/`)).toContain('big file+1.bin');
      expect(sha256(await getBytes(s3, 'cli/big file+1.bin'))).toBe(sha256(data));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);

  it('keeps data across a restart and exits cleanly on SIGTERM', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'persist/me.txt', Body: 'still here' }));
    expect(await server.close()).toBe(0);
    s3.destroy();
    server = await startCli(directory, rules);
    s3 = testS3Client(server.endpoint);
    expect((await getBytes(s3, 'persist/me.txt')).toString()).toBe('still here');
    expect((await listAll(s3, 'many/', 1000)).items).toHaveLength(2500);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------
// integration: in-process (no legacy OpenSSL provider in this process)
// ---------------------------------------------------------------------------------------------------------

describe('local S3 server (in-process, no legacy OpenSSL provider)', () => {
  let directory: string;
  let server: RunningS3Server;
  let s3: S3Client;
  const delivered: string[] = [];

  beforeAll(async () => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'local-s3-inproc-'));
    server = await startS3Server({
      port: 0,
      directory,
      buckets: [BUCKET],
      region: 'eu-west-1',
      silent: true,
      credentials: TEST_CREDENTIALS,
      rules: [
        { bucket: BUCKET, prefix: 'boom/', events: ['s3:ObjectCreated:*'], target: 'throws' },
        { bucket: BUCKET, prefix: 'boom/', events: ['s3:ObjectCreated:*'], target: 'rejects' },
        { bucket: BUCKET, prefix: 'boom/', events: ['s3:ObjectCreated:*'], target: 'works' },
      ],
      onNotification: (target, event) => {
        if (target === 'throws') throw new Error('handler threw');
        if (target === 'rejects') return Promise.reject(new Error('handler rejected'));
        delivered.push(`${target} ${event.Records[0]!.awsRegion} ${event.Records[0]!.s3.object.key}`);
      },
    });
    s3 = testS3Client(server.endpoint);
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('listens on the real port when asked for port 0', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('paginates without DES continuation tokens', async () => {
    const keys = Array.from({ length: 1201 }, (_, i) => `p/${String(i).padStart(4, '0')}`);
    const queue = [...keys];
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: '' }));
        }
      }),
    );
    const { pages, items } = await listAll(s3, 'p/', 1000);
    expect(pages).toBe(2);
    expect(items).toEqual(keys);
    await expect(
      s3.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: 'garbage' })),
    ).rejects.toMatchObject({
      name: 'InvalidArgument',
    });
  }, 60_000);

  it('survives notification handlers that throw or reject', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'boom/a b.txt', Body: 'x' }));
    await waitFor(() => (delivered.length > 0 ? true : undefined), 'delivery');
    expect(delivered).toEqual(['works eu-west-1 boom/a+b.txt']);
    expect((await getBytes(s3, 'boom/a b.txt')).toString()).toBe('x');
  });
});
