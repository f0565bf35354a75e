/**
 * Local S3: keys stay keys. Hostile bucket names, keys, copy sources, upload ids and form uploads never make
 * the local S3 server (local-stack/s3/, run as the stack runs it: the CLI in a child process) create,
 * read or delete a file outside its data folder.
 *
 * Requests are sent with node's http module, which sends the path exactly as written (no `..` resolution, no
 * re-encoding), so the server sees what a hostile page or script would send. Canary files are planted next to
 * the data folder, in the shape s3rver's store would read or write there (`<name>._S3rver_object`).
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnS3ServerProcess, type S3ServerProcess } from '../../../local-stack/s3/child.ts';
import { bucketNameProblem, hasDotSegment, isInside, keyProblem } from '../../../local-stack/s3/state/names.ts';
import { rng } from '../../support/random.ts';
import { signedHeaders, TEST_CREDENTIALS } from '../../support/signing.ts';

const BUCKET = 'keys-test';
const OTHER = 'keys-other';
const SECRET = 'canary secret: must never be served';

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * Sends the request byte for byte, signed with the server's credentials (the keys under test must reach the S3
 * logic, not stop at the signature check). A request the SDK's signer cannot take (a malformed query, a header
 * value it rejects) goes unsigned, and is refused for that.
 */
async function rawRequest(
  endpoint: string,
  method: string,
  rawPath: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<Answer> {
  const url = new URL(endpoint);
  const sent = await signedHeaders(endpoint, 's3', {
    method,
    path: rawPath,
    headers,
    ...(body === undefined ? {} : { body }),
  }).catch(() => headers);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method, path: rawPath, headers: sent, agent: false, timeout: 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within 15 s to ${method} ${rawPath}`)));
    req.on('error', reject);
    req.end(body);
  });
}

function errorCode(answer: Answer): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(answer.body)?.[1] ?? (answer.headers['x-amz-error-code'] as string | undefined);
}

/** Every file below `root` except those under `skip`, with a hash of its content. */
function snapshot(root: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (full === skip) continue;
      if (entry.isDirectory()) {
        out.set(`${full}/`, 'dir');
        walk(full);
      } else {
        out.set(full, createHash('sha256').update(readFileSync(full)).digest('hex'));
      }
    }
  };
  walk(root);
  return out;
}

function client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

describe('naming rules', () => {
  it('refuses exact "." and ".." segments, raw or between backslashes, and nothing else with dots', () => {
    for (const key of ['..', '.', '../x', 'a/../b', 'a/./b', 'a/..', 'a/.', './', '..\\x', 'a\\..\\b', 'x/../../y']) {
      expect(hasDotSegment(key), key).toBe(true);
      expect(keyProblem(key)?.code, key).toBe('InvalidArgument');
    }
    for (const key of ['a..b', '.hidden', 'x/.../y', '..backup', '...', 'x/..y/z', 'x/y..', 'a/.b/c', '.', 'ok']) {
      if (key === '.') continue;
      expect(keyProblem(key), key).toBeUndefined();
    }
    expect(keyProblem(`${'k/'.repeat(512)}k`)?.code).toBe('KeyTooLongError');
    expect(keyProblem(`${'k/'.repeat(511)}kk`)).toBeUndefined(); // 1024 bytes
    // Each part of the key is a file name on the local disk (255 bytes, the last one less the store's suffixes).
    expect(keyProblem(`${'d'.repeat(255)}/x`)).toBeUndefined();
    expect(keyProblem(`${'d'.repeat(256)}/x`)?.code).toBe('KeyTooLongError');
    expect(keyProblem(`x/${'f'.repeat(219)}`)).toBeUndefined();
    expect(keyProblem(`x/${'f'.repeat(220)}`)?.code).toBe('KeyTooLongError');
    expect(keyProblem('a\0b')?.code).toBe('InvalidArgument');
    // Names the store keeps for itself (a folder there would collide with an object's own files).
    expect(keyProblem('legit.txt._S3rver_object/x')?.code).toBe('InvalidArgument');
    expect(keyProblem('._S3rver_uploads/abc/key')?.code).toBe('InvalidArgument');
    expect(keyProblem('S3rver_object')).toBeUndefined();
  });

  it('applies the general purpose bucket naming rules', () => {
    for (const name of ['keys-test', 'a.b-c', 'abc', '1bucket', 'a'.repeat(63)])
      expect(bucketNameProblem(name), name).toBeUndefined();
    for (const name of [
      '..',
      '.',
      'ab',
      'a'.repeat(64),
      'Bad',
      'a_b',
      '-ab',
      'ab-',
      '.ab',
      'a..b',
      '192.168.1.1',
      'xn--abc',
      'sthree-x',
      'amzn-s3-demo-x',
      'abc-s3alias',
      'abc--ol-s3',
      'abc.mrap',
      'abc--x-s3',
      'abc--table-s3',
      'a/b',
      '%2E%2E',
    ]) {
      expect(bucketNameProblem(name)?.code, name).toBe('InvalidBucketName');
    }
  });

  it('checks containment lexically', () => {
    expect(isInside('/d/b', '/d/b/x')).toBe(true);
    expect(isInside('/d/b', '/d/b/..x')).toBe(true);
    expect(isInside('/d/b', '/d/b')).toBe(false);
    expect(isInside('/d/b', '/d/b/../c')).toBe(false);
    expect(isInside('/d/b', '/d/bc/x')).toBe(false);
    expect(isInside('/d/b', '/d/b/x/../../../etc')).toBe(false);
  });
});

describe('local S3 server: hostile paths', () => {
  let root: string;
  let data: string;
  let server: S3ServerProcess;
  let s3: S3Client;
  let outside: Map<string, string>;
  /** Every hostile request (or DeleteObjects key) sent, and whether it was refused. */
  const tried: { what: string; status: number; code: string | undefined; refused: boolean }[] = [];

  /** Sends a hostile request and records what came back. */
  async function hostile(
    what: string,
    method: string,
    rawPath: string,
    headers: Record<string, string> = {},
    body?: Buffer | string,
  ): Promise<Answer> {
    const answer = await rawRequest(server.endpoint, method, rawPath, headers, body);
    tried.push({
      what: `${what}: ${method} ${rawPath}`,
      status: answer.status,
      code: errorCode(answer),
      refused: answer.status >= 400 && answer.status < 500,
    });
    expect(answer.body, `${method} ${rawPath} served the canary`).not.toContain(SECRET);
    return answer;
  }

  function expectOutsideUnchanged(): void {
    expect(snapshot(root, data)).toEqual(outside);
  }

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'local-s3-keys-'));
    data = path.join(root, 'data');
    mkdirSync(data);
    // What s3rver would read for a key that resolves to <root>/canary.txt (bucket "..", or key "../../canary.txt"),
    // a plain file of that name, and a folder that looks like a bucket next to the data folder.
    writeFileSync(path.join(root, 'canary.txt'), SECRET);
    writeFileSync(path.join(root, 'canary.txt._S3rver_object'), SECRET);
    writeFileSync(path.join(root, 'canary.txt._S3rver_metadata.json'), '{"content-type":"text/plain"}');
    writeFileSync(path.join(root, 'canary.txt._S3rver_object.md5'), createHash('md5').update(SECRET).digest('hex'));
    // A folder with no objects in it: s3rver's DeleteBucket removed such a folder recursively (DELETE /..%2Fvictim).
    mkdirSync(path.join(root, 'victim'));
    writeFileSync(path.join(root, 'victim', 'notes.txt'), 'precious');
    mkdirSync(path.join(root, 'outside-bucket'));
    writeFileSync(path.join(root, 'outside-bucket', 'secret._S3rver_object'), SECRET);
    outside = snapshot(root, data);
    server = await spawnS3ServerProcess({
      directory: data,
      buckets: [BUCKET, OTHER],
      rules: [{ bucket: BUCKET, prefix: 'uploads/', suffix: '.csv', events: ['s3:ObjectCreated:*'], target: 'rates' }],
      credentials: TEST_CREDENTIALS,
    });
    s3 = client(server.endpoint);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'legit.txt', Body: 'legit' }));
  });

  afterAll(async () => {
    s3?.destroy();
    const exit = await server?.close();
    const refused = tried.filter((t) => t.refused).length;
    const byCode = new Map<string, number>();
    for (const t of tried)
      byCode.set(`${t.status} ${t.code ?? ''}`, (byCode.get(`${t.status} ${t.code ?? ''}`) ?? 0) + 1);
    const notRefused = tried.filter((t) => !t.refused);
    console.log(
      `hostile requests: ${tried.length} tried, ${refused} refused (4xx, or a per-key error in DeleteObjects); by answer: ` +
        `${JSON.stringify(Object.fromEntries(byCode))}; not refused: ${notRefused.length}, all listings (200 with only the bucket's own keys): ` +
        `${notRefused.every((t) => t.what.startsWith('listing'))}; server exit ${exit}`,
    );
    if (root) rmSync(root, { recursive: true, force: true });
  });

  // The key part of a path that resolves from <data>/<bucket>/ to <root>/canary.txt, in the spellings a
  // client, a browser or an attacker might use.
  const dotdot = ['..', '%2E%2E', '%2e%2E', '.%2e', '%2e.'];
  const separators = ['/', '%2F', '%2f'];
  const climbing: string[] = [];
  for (const dd of dotdot) for (const sep of separators) climbing.push(`${dd}${sep}${dd}${sep}canary.txt`);
  // Not climbing out, but still "." / ".." segments (refused as well) and backslash spellings.
  const otherDotted = [
    './legit.txt',
    '%2E/legit.txt',
    '.%2Flegit.txt',
    'a/../legit.txt',
    'a/%2e%2E/legit.txt',
    'x/.',
    'x/..',
    '..%5C..%5Ccanary.txt',
    '.',
    '..',
    '%2E',
  ];
  const hostileKeys = [...climbing, ...otherDotted];
  // Bucket segments that resolve to <root> (then key "canary.txt" is the canary) or are not bucket names.
  const hostileBuckets = [
    '..',
    '%2E%2E',
    '%2e%2E',
    '.',
    '%2E',
    '..%2F..',
    '..%2Fvictim',
    '%2E%2E%2Fvictim',
    'a..b',
    'Keys-Test',
    '192.168.1.1',
    'ab',
  ];

  it('refuses PUT, GET, HEAD and DELETE of hostile keys with 400 InvalidArgument', async () => {
    for (const key of hostileKeys) {
      const put = await hostile('put key', 'PUT', `/${BUCKET}/${key}`, { 'content-type': 'text/plain' }, 'pwned');
      expect([put.status, errorCode(put)], `PUT ${key}`).toEqual([400, 'InvalidArgument']);
      const get = await hostile('get key', 'GET', `/${BUCKET}/${key}`);
      expect([get.status, errorCode(get)], `GET ${key}`).toEqual([400, 'InvalidArgument']);
      const head = await hostile('head key', 'HEAD', `/${BUCKET}/${key}`);
      expect(head.status, `HEAD ${key}`).toBe(400);
      const del = await hostile('delete key', 'DELETE', `/${BUCKET}/${key}`);
      expect([del.status, errorCode(del)], `DELETE ${key}`).toEqual([400, 'InvalidArgument']);
    }
    expectOutsideUnchanged();
    expect((await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'legit.txt' }))).Body).toBeDefined();
  });

  it('refuses hostile and invalid bucket names on every operation with 400 InvalidBucketName', async () => {
    for (const bucket of hostileBuckets) {
      for (const [method, suffix, body] of [
        ['PUT', '', undefined],
        ['GET', '', undefined],
        ['GET', '?list-type=2', undefined],
        ['DELETE', '', undefined],
        ['PUT', '/canary.txt', 'pwned'],
        ['GET', '/canary.txt', undefined],
        ['HEAD', '/canary.txt', undefined],
        ['DELETE', '/canary.txt', undefined],
        ['GET', '/secret', undefined],
        ['PUT', '?cors', '<CORSConfiguration/>'],
      ] as const) {
        const answer = await hostile('bucket', method, `/${bucket}${suffix}`, {}, body);
        expect(answer.status, `${method} /${bucket}${suffix}`).toBe(400);
        if (method !== 'HEAD') expect(errorCode(answer), `${method} /${bucket}${suffix}`).toBe('InvalidBucketName');
      }
    }
    // "..%2F.." decodes to "../..": the bucket segment itself must not name a folder outside either.
    const listing = await hostile('bucket listing', 'GET', '/..%2Foutside-bucket');
    expect(listing.status).toBe(400);
    expectOutsideUnchanged();
  });

  it('refuses CopyObject with a hostile destination or a hostile (URL-encoded) x-amz-copy-source', async () => {
    for (const key of hostileKeys) {
      const answer = await hostile('copy destination', 'PUT', `/${BUCKET}/${key}`, {
        'x-amz-copy-source': `/${BUCKET}/legit.txt`,
      });
      expect([answer.status, errorCode(answer)], `copy to ${key}`).toEqual([400, 'InvalidArgument']);
    }
    const sources = [
      ...hostileKeys.map((key) => `/${BUCKET}/${key}`),
      ...hostileKeys.map((key) => `${BUCKET}/${key}`),
      ...hostileKeys.map((key) => encodeURIComponent(`${BUCKET}/${decodeURIComponent(key)}`)),
      '../canary.txt',
      '/../canary.txt',
      '%2E%2E/canary.txt',
      '%2E%2E%2Fcanary.txt',
      '..%2Foutside-bucket/secret',
      '/outside-bucket/../../canary.txt',
      `/${BUCKET}/..%2F..%2Fcanary.txt?versionId=1`,
    ];
    for (const source of sources) {
      const answer = await hostile('copy source', 'PUT', `/${BUCKET}/copied/target.txt`, {
        'x-amz-copy-source': source,
      });
      expect(answer.status, `copy from ${source}`).toBe(400);
      expect(['InvalidArgument', 'InvalidBucketName'], `copy from ${source}`).toContain(errorCode(answer));
    }
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'copied/target.txt' }))).rejects.toMatchObject({
      name: 'NotFound',
    });
    expectOutsideUnchanged();
  });

  it('refuses multipart uploads with hostile keys or upload ids, and parts for another key', async () => {
    for (const key of hostileKeys) {
      const create = await hostile('create multipart', 'POST', `/${BUCKET}/${key}?uploads`);
      expect([create.status, errorCode(create)], `create ${key}`).toEqual([400, 'InvalidArgument']);
    }
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'multi/legit.bin' }));
    for (const key of hostileKeys) {
      const part = await hostile(
        'upload part',
        'PUT',
        `/${BUCKET}/${key}?partNumber=1&uploadId=${UploadId!}`,
        {},
        'pwned',
      );
      expect([part.status, errorCode(part)], `part ${key}`).toEqual([400, 'InvalidArgument']);
      const complete = await hostile(
        'complete multipart',
        'POST',
        `/${BUCKET}/${key}?uploadId=${UploadId!}`,
        {},
        '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>',
      );
      expect([complete.status, errorCode(complete)], `complete ${key}`).toEqual([400, 'InvalidArgument']);
      const abort = await hostile('abort multipart', 'DELETE', `/${BUCKET}/${key}?uploadId=${UploadId!}`);
      expect([abort.status, errorCode(abort)], `abort ${key}`).toEqual([400, 'InvalidArgument']);
    }
    // Upload ids are names of folders: hostile ones never reach the filesystem.
    for (const uploadId of ['..', '..%2F..%2F..', '..%2F..%2F..%2Fcanary', '%2E%2E', '.', 'a%2F..%2F..', '..%5C..']) {
      for (const [method, query, body] of [
        ['PUT', `partNumber=1&uploadId=${uploadId}`, 'pwned'],
        ['PUT', `uploadId=${uploadId}`, 'pwned'],
        [
          'POST',
          `uploadId=${uploadId}`,
          '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>',
        ],
        ['DELETE', `uploadId=${uploadId}`, undefined],
        ['GET', `uploadId=${uploadId}`, undefined],
      ] as const) {
        const answer = await hostile('upload id', method, `/${BUCKET}/multi/legit.bin?${query}`, {}, body);
        expect(answer.status, `${method} ?${query}`).toBeGreaterThanOrEqual(400);
        expect(answer.status, `${method} ?${query}`).toBeLessThan(500);
      }
    }
    // A part or completion for a key other than the upload's is NoSuchUpload, as on S3 (else the object
    // would be stored under one key and announced under another).
    const other = await hostile(
      'part for another key',
      'PUT',
      `/${BUCKET}/uploads/other.csv?partNumber=1&uploadId=${UploadId!}`,
      {},
      'x',
    );
    expect([other.status, errorCode(other)]).toEqual([404, 'NoSuchUpload']);
    const completeOther = await hostile(
      'complete for another key',
      'POST',
      `/${BUCKET}/uploads/other.csv?uploadId=${UploadId!}`,
      {},
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>',
    );
    expect([completeOther.status, errorCode(completeOther)]).toEqual([404, 'NoSuchUpload']);
    const abortOther = await hostile('abort for another key', 'DELETE', `/${BUCKET}/other?uploadId=${UploadId!}`);
    expect([abortOther.status, errorCode(abortOther)]).toEqual([404, 'NoSuchUpload']);
    expect(readdirSync(path.join(data, BUCKET, '._S3rver_uploads', UploadId!))).toEqual(
      expect.arrayContaining(['key']),
    );
    expectOutsideUnchanged();
  });

  it('answers DeleteObjects keys in the XML body with a per-key InvalidArgument and deletes nothing outside', async () => {
    const keys = [
      ...climbing.map((key) => decodeURIComponent(key)),
      '../../canary.txt',
      '..',
      '.',
      'a/../legit.txt',
      '../outside-bucket/secret',
    ];
    const xml = `<Delete>${keys.map((key) => `<Object><Key>${key}</Key></Object>`).join('')}<Object><Key>legit.txt</Key></Object></Delete>`;
    const answer = await hostile(
      'delete objects',
      'POST',
      `/${BUCKET}?delete`,
      { 'content-type': 'application/xml' },
      xml,
    );
    expect(answer.status).toBe(200);
    const errors = [...answer.body.matchAll(/<Error><Key>([^<]*)<\/Key><Code>([^<]*)<\/Code>/g)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(errors.map(([key]) => key)).toEqual(keys);
    expect(errors.every(([, code]) => code === 'InvalidArgument')).toBe(true);
    expect(answer.body).toContain('<Deleted><Key>legit.txt</Key></Deleted>');
    tried.pop(); // the DeleteObjects request itself: counted per key below
    for (const key of keys) {
      const code = errors.find(([k]) => k === key)?.[1];
      tried.push({
        what: `DeleteObjects key ${key}`,
        status: answer.status,
        code,
        refused: code === 'InvalidArgument',
      });
    }
    expectOutsideUnchanged();
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'legit.txt', Body: 'legit' }));
  });

  it('lists only the bucket, whatever the prefix, marker or start-after say', async () => {
    for (const param of ['prefix', 'marker', 'start-after']) {
      for (const value of ['../', '..%2F..%2F', '../../canary', '%2E%2E/outside-bucket/', '.']) {
        for (const listType of ['', 'list-type=2&']) {
          const answer = await hostile('listing', 'GET', `/${BUCKET}?${listType}${param}=${value}`);
          expect(answer.status).toBe(200);
          const keys = [...answer.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
          expect(keys.filter((key) => /canary|secret/.test(key!))).toEqual([]);
        }
      }
    }
    expectOutsideUnchanged();
  });

  it('refuses PostObject (browser form uploads) with 403 AccessDenied and fires no notification', async () => {
    const boundary = `----form${'x'.repeat(10)}`;
    const form = (key: string): string =>
      [
        `--${boundary}`,
        'Content-Disposition: form-data; name="key"',
        '',
        key,
        `--${boundary}`,
        'Content-Disposition: form-data; name="file"; filename="x.csv"',
        'Content-Type: text/csv',
        '',
        'a,b\n1,2',
        `--${boundary}--`,
        '',
      ].join('\r\n');
    const before = server.notifications.length;
    for (const key of ['uploads/from-a-web-page.csv', '../../canary.txt', '../outside-bucket/secret']) {
      for (const target of [`/${BUCKET}`, `/${BUCKET}/`]) {
        const answer = await hostile(
          'post object',
          'POST',
          target,
          { 'content-type': `multipart/form-data; boundary=${boundary}`, origin: 'https://evil.example' },
          form(key),
        );
        expect([answer.status, errorCode(answer)], `${target} ${key}`).toEqual([403, 'AccessDenied']);
      }
    }
    // Any other POST to a bucket is PostObject too (S3 needs the form type; a browser can still send it).
    const plain = await hostile(
      'post object',
      'POST',
      `/${BUCKET}`,
      { 'content-type': 'text/plain' },
      'key=uploads/x.csv',
    );
    expect([plain.status, errorCode(plain)]).toEqual([403, 'AccessDenied']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.notifications.length).toBe(before);
    await expect(
      s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'uploads/from-a-web-page.csv' })),
    ).rejects.toMatchObject({ name: 'NotFound' });
    expectOutsideUnchanged();
  });

  it('keeps keys that merely contain dots working through the SDK, and refuses dot segments with a readable error', async () => {
    const dotted = [
      'a..b',
      '.hidden',
      'x/.../y',
      '..backup',
      '...',
      'x/..y/z',
      'x/y..',
      'dir/.config',
      'uploads/..data.csv',
    ];
    for (const key of dotted) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `body of ${key}` }));
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(await got.Body!.transformToString(), key).toBe(`body of ${key}`);
      await s3.send(
        new CopyObjectCommand({ Bucket: OTHER, Key: key, CopySource: encodeURIComponent(`${BUCKET}/${key}`) }),
      );
      expect((await s3.send(new HeadObjectCommand({ Bucket: OTHER, Key: key }))).ContentLength).toBe(
        `body of ${key}`.length,
      );
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(listed.Contents!.map((o) => o.Key)).toEqual(expect.arrayContaining(dotted));
    const notification = server.notifications.find((n) => n.event.Records[0]?.s3.object.key === 'uploads/..data.csv');
    expect(notification?.target).toBe('rates');
    for (const key of dotted) await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    await s3.send(new DeleteObjectsCommand({ Bucket: OTHER, Delete: { Objects: dotted.map((Key) => ({ Key })) } }));
    for (const key of dotted) expect(existsSync(path.join(data, BUCKET, `${key}._S3rver_object`)), key).toBe(false);

    // The SDK sends such keys as they are; the answer names the problem.
    for (const key of ['../x', 'a/../b', './x', 'x/.']) {
      await expect(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' })), key).rejects.toMatchObject({
        name: 'InvalidArgument',
        message: expect.stringContaining('path segment'),
      });
    }
    expectOutsideUnchanged();
  });

  describe('fuzzing the request parsing', () => {
    // S3_FUZZ_SEED explores other seeds (or replays one a failure printed).
    const SEED = Number(process.env.S3_FUZZ_SEED ?? 20261203);
    const COUNT = 3000;

    it(`answers ${COUNT} random requests (seed ${SEED}), never crashes and stays inside its folder`, async () => {
      const random = rng(SEED);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      const segments = [
        BUCKET,
        OTHER,
        'uploads',
        'legit.txt',
        'canary.txt',
        'outside-bucket',
        'secret',
        'victim',
        '..',
        '.',
        '%2E%2E',
        '%2e%2E',
        '.%2E',
        '%2E',
        '%2F',
        '%2f',
        '%5C',
        '..%5C',
        '%00',
        '%ZZ',
        '%',
        '%C0%AE',
        '%E2%80%AE',
        '~',
        'a..b',
        '.hidden',
        '...',
        '',
        'x'.repeat(300),
        '%F0%9F%98%80',
        'a%20b',
        '?',
        '#',
        ';',
        '._S3rver_uploads',
        'legit.txt._S3rver_object',
        'Bad_Bucket',
        '192.168.0.1',
      ];
      const ordinary = [BUCKET, OTHER, 'uploads', 'legit.txt', 'a..b', '.hidden', 'x.csv', 'dir'];
      const queryParts = [
        'uploads',
        'uploadId=..%2F..',
        'uploadId=abc',
        'partNumber=1',
        'partNumber=-1',
        'partNumber=99999',
        'delete',
        'list-type=2',
        'prefix=../',
        'marker=..%2F..',
        'start-after=%2E%2E',
        'continuation-token=garbage',
        'max-keys=-1',
        'max-keys=x',
        'tagging',
        'acl',
        'cors',
        'website',
        'versionId=1',
        'encoding-type=url',
        'encoding-type=bad',
        'delimiter=/',
        'x-id=PutObject',
        '%ZZ=1',
        'location',
        'policy',
        'select',
        'torrent',
        'response-content-type=x',
      ];
      const methods = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH', 'COPY'];
      const copySources = [
        '/keys-test/legit.txt',
        '../canary.txt',
        '%2E%2E%2Fcanary.txt',
        '/keys-test/%2e%2E/%2E%2E/canary.txt',
        '%ZZ',
        '',
        '/',
        'keys-test',
        '/outside-bucket/secret',
        'keys-test/legit.txt?versionId=x',
      ];
      const bodies = (): Buffer | string | undefined => {
        switch (Math.floor(random() * 7)) {
          case 0:
            return undefined;
          case 1:
            return Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
          case 2:
            return `<Delete><Object><Key>${pick(segments)}/${pick(segments)}</Key></Object></Delete>`;
          case 3:
            return `<CompleteMultipartUpload><Part><PartNumber>${pick(['1', '0', 'x', '-5'])}</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>`;
          case 4:
            return `5\r\nhello\r\n0\r\n${pick(['', 'x-amz-checksum-crc32:AAAAAA==\r\n', 'garbage'])}\r\n`;
          case 5:
            return '--b\r\nContent-Disposition: form-data; name="key"\r\n\r\n../../canary.txt\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--b--\r\n';
          default:
            return 'plain body';
        }
      };

      let answered = 0;
      const statuses = new Map<number, number>();
      const failures: string[] = [];
      let next = 0;
      const requests = Array.from({ length: COUNT }, () => {
        // Half the segments are ordinary, so that many requests get past the name checks into the operations.
        const segment = (): string => (random() < 0.5 ? pick(ordinary) : pick(segments));
        const depth = Math.floor(random() * 4);
        const first = random() < 0.6 ? pick([BUCKET, OTHER]) : segment();
        let rawPath = `/${[first, ...Array.from({ length: depth }, segment)].join(pick(['/', '/', '/', '//', '%2F']))}`;
        if (random() < 0.6)
          rawPath += `?${Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(queryParts)).join('&')}`;
        const headers: Record<string, string> = {};
        if (random() < 0.25) headers['x-amz-copy-source'] = pick(copySources);
        if (random() < 0.15) headers['content-encoding'] = 'aws-chunked';
        if (random() < 0.1) headers['x-amz-decoded-content-length'] = String(Math.floor(random() * 20));
        if (random() < 0.1) headers['content-type'] = 'multipart/form-data; boundary=b';
        if (random() < 0.1) headers.range = pick(['bytes=0-0', 'bytes=-5', 'bytes=5-1', 'bytes=x', 'bytes=0-']);
        if (random() < 0.1) headers['x-amz-checksum-sha256'] = 'AAAA';
        if (random() < 0.05) headers['content-md5'] = 'garbage';
        if (random() < 0.05) headers['x-amz-metadata-directive'] = 'REPLACE';
        return { method: pick(methods), rawPath, headers, body: bodies() };
      });
      const worker = async (): Promise<void> => {
        while (next < requests.length) {
          const request = requests[next++]!;
          try {
            const answer = await rawRequest(
              server.endpoint,
              request.method,
              request.rawPath,
              request.headers,
              request.body,
            );
            answered++;
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            if (answer.body.includes(SECRET)) failures.push(`served the canary: ${request.method} ${request.rawPath}`);
            // 501 NotImplemented is S3's answer to operations s3rver does not have; any other 5xx is a bug.
            if (answer.status >= 500 && answer.status !== 501)
              failures.push(
                `${answer.status} ${errorCode(answer) ?? ''}: ${request.method} ${request.rawPath} ${JSON.stringify(request.headers)}`,
              );
          } catch (error) {
            failures.push(
              `no answer (${(error as Error).message}): ${request.method} ${request.rawPath} ${JSON.stringify(request.headers)}`,
            );
          }
        }
      };
      const started = Date.now();
      // One at a time, so a seed replays exactly (concurrent writes and deletes of one folder are another matter).
      await worker();
      console.log(
        `fuzz: ${COUNT} requests (seed ${SEED}) in ${Date.now() - started} ms, ${answered} answered, statuses ${JSON.stringify(Object.fromEntries(statuses))}, ${failures.length} failures`,
      );
      if (failures.length > 0)
        console.log(
          `server log of the failures:\n${server
            .stderr()
            .split('\n')
            .filter((line) => /internal error/.test(line))
            .slice(0, 10)
            .join('\n')}`,
        );
      expect(failures.slice(0, 20)).toEqual([]);
      expect(answered).toBe(COUNT);
      // Still alive, still serving, still confined.
      expect(() => process.kill(server.pid, 0)).not.toThrow();
      const legit = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'after-fuzz.txt', Body: 'ok' }));
      expect(legit.ETag).toBeDefined();
      expect(statSync(path.join(root, 'canary.txt._S3rver_object')).size).toBe(SECRET.length);
      expectOutsideUnchanged();
    }, 120_000);
  });
});
