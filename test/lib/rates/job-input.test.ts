/**
 * Bad input for the rates function (issue 7): every malformed S3 event or direct invocation, every key that is not an
 * upload, and every object that cannot be processed is answered — never thrown — with a clear code and message, no
 * stack trace, and no partial results: only `results/<name>/error.json` for an object that was read, nothing at all
 * otherwise. The real handler runs in process against the local S3 server (its own process, on a free port).
 * The memory bound on a huge object stream is in test/lib/rates/csv-rates-memory.test.ts.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS3EventKey } from '../../../local-stack/s3/server.ts';
import type { RatesBatchReply, RatesErrorReport, RatesJobOutcome, RatesSummary } from '../../../lib/rates/index.ts';
import {
  startRatesHandler,
  stopRatesHandler,
  type RatesHandler,
  type RatesHandlerRig,
} from '../../support/rates-handler.ts';
import { expectNoStackTrace, lambdaContext } from '../../support/bad-input.ts';

const BUCKET = 'bad-input-rates';
const MAX_INPUT_BYTES = 1024 * 1024;
type Handler = RatesHandler;
type Rejected = { error: { code: string; message: string } };

let s3: S3Client;
let handler: Handler;

let rig: RatesHandlerRig | undefined;
beforeAll(async () => {
  // Small enough to exceed cheaply; every other object here is far below it.
  rig = await startRatesHandler({
    bucket: BUCKET,
    name: 'bad-input-rates',
    env: { RATES_MAX_INPUT_BYTES: String(MAX_INPUT_BYTES) },
  });
  ({ s3, handler } = rig);
});

afterAll(() => stopRatesHandler(rig));

const context = lambdaContext('cloud-parallel-test-rates');

/** An S3 notification as AWS shapes it; `keys` are given URL-encoded, as AWS sends them. */
function s3Event(...encodedKeys: string[]) {
  return { Records: encodedKeys.map((key) => s3Record(key)) };
}

function s3Record(encodedKey: unknown, bucket: unknown = BUCKET) {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: '2026-11-25T12:00:00.000Z',
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:EXAMPLE' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'rates-uploads-csv',
      bucket: { name: bucket, arn: `arn:aws:s3:::${String(bucket)}` },
      object: { key: encodedKey, size: 10, eTag: '0123456789abcdef0123456789abcdef', sequencer: '0A1B2C3D4E5F678901' },
    },
  };
}

async function put(key: string, body: string | Buffer, metadata?: Record<string, string>): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: key,
      Body: body,
      ContentType: 'text/csv',
      ...(metadata ? { Metadata: metadata } : {}),
    }),
  );
}

async function keys(prefix = ''): Promise<string[]> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
    );
    found.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found.sort();
}

async function readJson(key: string): Promise<unknown> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse(await object.Body!.transformToString());
}

/** Invokes the handler; a throw fails the test (input problems must be answered, not thrown). */
async function invoke(event: unknown): Promise<unknown> {
  const reply = await handler(event, context);
  expectNoStackTrace(reply);
  return reply;
}

const COUNTIES =
  'fips,county,cancer,population\n1001,Autauga,250,55000\n1003,Baldwin,900,210000\n1005,Barbour,60,25000\n';
const TEN_MB = 10 * 1024 * 1024;

describe('malformed events and payloads: INVALID_EVENT, nothing read or written', () => {
  const record = s3Record('uploads/a.csv');
  const withoutKey = { ...record, s3: { ...record.s3, object: { size: 1 } } };
  const withoutS3 = { eventSource: 'aws:s3', eventName: 'ObjectCreated:Put' };

  it.each<[string, unknown, RegExp]>([
    // Wrong shapes
    [
      'no Records (an empty object)',
      {},
      /^Expected an S3 event or \{"key": "uploads\/<name>\.csv".*key: .*expected string, received undefined/,
    ],
    [
      'Records that is not an array',
      { Records: { 0: record } },
      /^Malformed S3 event: Records: .*expected array, received object/,
    ],
    ['Records that is empty', { Records: [] }, /^Malformed S3 event: Records: an S3 event has at least one record/],
    [
      'a record without s3.object.key',
      { Records: [withoutKey] },
      /^Malformed S3 event: Records\.0\.s3\.object\.key: .*expected string/,
    ],
    ['a record without s3', { Records: [withoutS3] }, /^Malformed S3 event: Records\.0\.s3: .*expected object/],
    [
      'a key that is a number',
      { Records: [s3Record(42)] },
      /Records\.0\.s3\.object\.key: .*expected string, received number/,
    ],
    ['an empty key', { Records: [s3Record('')] }, /Records\.0\.s3\.object\.key/],
    ['a record without a bucket name', { Records: [s3Record('uploads/a.csv', null)] }, /Records\.0\.s3\.bucket\.name/],
    [
      'eventSource aws:sqs',
      { Records: [{ ...record, eventSource: 'aws:sqs' }] },
      /^Malformed S3 event: Records\.0\.eventSource: .*"aws:s3"/,
    ],
    [
      'a second record from SQS',
      { Records: [record, { eventSource: 'aws:sqs', body: '{}' }] },
      /Records\.1\.eventSource/,
    ],
    ['a number', 42, /^Expected an S3 event or .*\(input\): .*expected object, received number/],
    ['null', null, /\(input\): .*expected object, received null/],
    ['a string', 'uploads/a.csv', /\(input\): .*expected object, received string/],
    ['an array of records', [record], /\(input\): .*expected object, received array/],
    ['a boolean', true, /expected object, received boolean/],
    ['no payload at all', undefined, /^Expected an S3 event or .*key: /],
    [
      'an S3 notification through EventBridge',
      {
        version: '0',
        'detail-type': 'Object Created',
        source: 'aws.s3',
        detail: { bucket: { name: BUCKET }, object: { key: 'uploads/a.csv' } },
      },
      /Unrecognized keys?: "version", "detail-type", "source", "detail"/,
    ],
    [
      'broken URL encoding',
      s3Event('uploads/%E0%A4%A.csv'),
      /Object key "uploads\/%E0%A4%A\.csv" in the S3 event is not valid URL encoding/,
    ],
    // Huge values
    [
      'a 10 MB key in an S3 event',
      s3Event(`uploads/${'k'.repeat(TEN_MB)}.csv`),
      /Records\.0\.s3\.object\.key: object keys are at most 1024 bytes/,
    ],
    [
      'a 10 MB key that is also broken URL encoding',
      s3Event(`uploads/%${'z'.repeat(TEN_MB)}.csv`),
      /object keys are at most 1024 bytes/,
    ],
    [
      'a key of 1032 bytes once decoded',
      s3Event(`uploads/${'%C3%A9'.repeat(510)}.csv`),
      /is 1032 bytes; S3 keys are at most 1024/,
    ],
    [
      '10,000 records',
      s3Event(...Array.from({ length: 10_000 }, (_, i) => `uploads/file-${i}.csv`)),
      /^Malformed S3 event: Records: at most 100 records per event/,
    ],
    [
      'a 10 MB key in a direct invocation',
      { key: `uploads/${'k'.repeat(TEN_MB)}.csv` },
      /key: must be at most 1024 bytes/,
    ],
    // Direct invocations with bad options
    ['bins 0', { key: 'uploads/a.csv', bins: 0 }, /bins: must be at least 1$/],
    ['bins "abc"', { key: 'uploads/a.csv', bins: 'abc' }, /bins: must be a whole number from 1 to 1000$/],
    ['bins 1001', { key: 'uploads/a.csv', bins: 1001 }, /bins: must be at most 1000$/],
    ['bins 2.5', { key: 'uploads/a.csv', bins: 2.5 }, /bins: must be a whole number$/],
    ['bins true', { key: 'uploads/a.csv', bins: true }, /bins: must be a whole number from 1 to 1000$/],
    ['bins [50]', { key: 'uploads/a.csv', bins: [50] }, /bins: must be a whole number from 1 to 1000$/],
    ['bins 1e308 * 10 (Infinity)', { key: 'uploads/a.csv', bins: Number.POSITIVE_INFINITY }, /bins: /],
    ['numerator ""', { key: 'uploads/a.csv', numerator: '' }, /numerator: must be a non-empty CSV column name$/],
    [
      'denominator of 300 characters',
      { key: 'uploads/a.csv', denominator: 'd'.repeat(300) },
      /denominator: must be at most 256 characters$/,
    ],
    [
      'numerator that is an object',
      { key: 'uploads/a.csv', numerator: { column: 'cancer' } },
      /numerator: .*expected string/,
    ],
    // Direct invocations with a bad split (lib/rates/split.ts)
    [
      'workers 0',
      { key: 'uploads/a.csv', workers: 0 },
      /workers: must be at least 1 \(1 runs the file on one worker\)$/,
    ],
    ['workers "many"', { key: 'uploads/a.csv', workers: 'many' }, /workers: must be a whole number from 1 to 10000$/],
    ['chunkBytes 100', { key: 'uploads/a.csv', chunkBytes: 100 }, /chunkBytes: must be at least 4096 bytes \(4 KiB\)/],
    ['chunkBytes "64XB"', { key: 'uploads/a.csv', chunkBytes: '64XB' }, /chunkBytes: "64XB" has an unknown unit "XB"/],
    [
      'workers and chunkBytes',
      { key: 'uploads/a.csv', workers: 2, chunkBytes: '8KiB' },
      /\(input\): give workers or chunkBytes, not both$/,
    ],
    ['an empty key', { key: '' }, /key: must be an object key such as uploads\/<name>\.csv/],
    [
      'a bucket that is not a bucket name',
      { key: 'uploads/a.csv', bucket: 'Bad_Bucket' },
      /bucket: must be a valid S3 bucket name/,
    ],
    // Unknown fields
    ['a misspelt option', { key: 'uploads/a.csv', bin: 50 }, /\(input\): Unrecognized key: "bin"$/],
    ['unknown fields', { key: 'uploads/a.csv', foo: 1, 'clé-é漢': true }, /Unrecognized keys: "foo", "clé-é漢"/],
  ])('%s', async (_label, event, message) => {
    const before = await keys();
    const reply = (await invoke(event)) as Rejected;
    expect(reply).toEqual({ error: { code: 'INVALID_EVENT', message: expect.stringMatching(message) } });
    // Short enough to read (and far below Lambda's 6 MB reply limit), whatever the size of the input.
    expect(reply.error.message.length).toBeLessThan(1000);
    expect(await keys()).toEqual(before);
  });
});

describe('keys outside uploads/: NOT_AN_UPLOAD, nothing read or written', () => {
  beforeAll(async () => {
    // Objects a wrong decision would read: the first two are where `..` keys land once an HTTP stack resolves them.
    await put('uploads/dotdot.csv', COUNTIES);
    await put('results/x.csv', COUNTIES);
    await put('uploads/x.txt', COUNTIES);
  });

  it.each<[string, unknown, string]>([
    ['results/x.csv', s3Event('results/x.csv'), 'results/x.csv'],
    ['uploads/x.txt', s3Event('uploads/x.txt'), 'uploads/x.txt'],
    ['../uploads/x.csv', s3Event('../uploads/x.csv'), '../uploads/x.csv'],
    [
      'uploads/../uploads/dotdot.csv (results would go to results/../uploads/dotdot/)',
      s3Event('uploads/../uploads/dotdot.csv'),
      'uploads/../uploads/dotdot.csv',
    ],
    ['uploads/./dotdot.csv', s3Event('uploads/./dotdot.csv'), 'uploads/./dotdot.csv'],
    [
      'uploads/%2E%2E/results/x.csv (encoded dots)',
      s3Event('uploads/%2E%2E/results/x.csv'),
      'uploads/../results/x.csv',
    ],
    ['uploads/x.CSV', s3Event('uploads/x.CSV'), 'uploads/x.CSV'],
    ['uploads/.csv', s3Event('uploads/.csv'), 'uploads/.csv'],
    ['x/uploads/a.csv', s3Event('x/uploads/a.csv'), 'x/uploads/a.csv'],
    ['a direct invocation of results/x.csv', { key: 'results/x.csv' }, 'results/x.csv'],
    [
      'a direct invocation of uploads/../uploads/dotdot.csv',
      { key: 'uploads/../uploads/dotdot.csv' },
      'uploads/../uploads/dotdot.csv',
    ],
  ])('%s', async (_label, event, key) => {
    const before = await keys();
    const reply = (await invoke(event)) as RatesBatchReply;
    expect(reply.results).toEqual([
      {
        status: 'error',
        runId: null,
        input: { bucket: BUCKET, key },
        error: {
          code: 'NOT_AN_UPLOAD',
          message: expect.stringMatching(
            /is not a CSV upload: the rates job reads keys of the form uploads\/<name>\.csv/,
          ),
        },
        errorObject: null,
        finishedAt: expect.any(String),
      },
    ]);
    expect(await keys()).toEqual(before);
  });
});

describe('objects that cannot be processed: a clear code, and error.json is the only result', () => {
  const ERROR_CASES: [string, string, () => Promise<void>, unknown, string, RegExp][] = [
    [
      'an object deleted before processing',
      'deleted',
      async () => {
        await put('uploads/deleted.csv', COUNTIES);
        await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'uploads/deleted.csv' }));
      },
      s3Event('uploads/deleted.csv'),
      'OBJECT_NOT_FOUND',
      /s3:\/\/bad-input-rates\/uploads\/deleted\.csv does not exist \(deleted before it could be processed\?\)/,
    ],
    [
      'a 0-byte object',
      'empty',
      () => put('uploads/empty.csv', Buffer.alloc(0)),
      s3Event('uploads/empty.csv'),
      'EMPTY_FILE',
      /empty/i,
    ],
    [
      'a header and no rows',
      'header-only',
      () => put('uploads/header-only.csv', 'fips,county,cancer,population\n'),
      s3Event('uploads/header-only.csv'),
      'NO_VALID_ROWS',
      /row/,
    ],
    [
      'a file without the denominator column',
      'no-population',
      () => put('uploads/no-population.csv', 'fips,county,cancer\n1,A,5\n'),
      s3Event('uploads/no-population.csv'),
      'MISSING_COLUMN',
      /population/,
    ],
    [
      'binary data (a PNG)',
      'picture',
      () => put('uploads/picture.csv', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])),
      s3Event('uploads/picture.csv'),
      'NOT_CSV',
      /not CSV/,
    ],
    [
      'metadata bins=0 on the upload',
      'meta-bins',
      () => put('uploads/meta-bins.csv', COUNTIES, { bins: '0' }),
      s3Event('uploads/meta-bins.csv'),
      'INVALID_OPTIONS',
      /bins must be at least 1/,
    ],
    [
      'metadata bins=abc on the upload',
      'meta-abc',
      () => put('uploads/meta-abc.csv', COUNTIES, { bins: 'abc' }),
      s3Event('uploads/meta-abc.csv'),
      'INVALID_OPTIONS',
      /bins must be a whole number from 1 to 1000/,
    ],
    [
      'a direct invocation naming a column the file lacks',
      'direct-deaths',
      () => put('uploads/direct-deaths.csv', COUNTIES),
      { key: 'uploads/direct-deaths.csv', numerator: 'deaths' },
      'MISSING_COLUMN',
      /deaths/,
    ],
    [
      'an object over RATES_MAX_INPUT_BYTES (the Lambda backend limit), refused before it is read',
      'too-large',
      () =>
        put(
          'uploads/too-large.csv',
          `fips,county,cancer,population\n${'1,A,5,100\n'.repeat(MAX_INPUT_BYTES / 10 + 1)}`,
        ),
      s3Event('uploads/too-large.csv'),
      'FILE_TOO_LARGE',
      /is 1,048,\d{3} bytes \(1.0 MiB\), over the 1,048,576 bytes \(1.0 MiB\) the rates Lambda takes \(RATES_MAX_INPUT_BYTES\): run it on EC2 .*--backend ec2/,
    ],
    [
      'a direct invocation of a missing object',
      'never-uploaded',
      async () => undefined,
      { key: 'uploads/never-uploaded.csv' },
      'OBJECT_NOT_FOUND',
      /does not exist/,
    ],
  ];

  it.each(ERROR_CASES)('%s', async (_label, name, arrange, event, code, message) => {
    await arrange();
    const reply = (await invoke(event)) as RatesBatchReply;
    expect(reply.results).toEqual([
      expect.objectContaining({
        status: 'error',
        input: { bucket: BUCKET, key: `uploads/${name}.csv` },
        error: { code, message: expect.stringMatching(message) },
        errorObject: `s3://${BUCKET}/results/${name}/error.json`,
      }),
    ]);
    expect(await keys(`results/${name}/`)).toEqual([`results/${name}/error.json`]);
    expect(await readJson(`results/${name}/error.json`)).toMatchObject({ status: 'error', error: { code } });
  });

  it('a bad record does not stop the others, and nothing is thrown', async () => {
    await put('uploads/batch-ok.csv', COUNTIES);
    const reply = (await invoke(
      s3Event('uploads/batch-missing.csv', 'results/x.csv', 'uploads/batch-ok.csv'),
    )) as RatesBatchReply;
    expect(reply.results.map((outcome) => (outcome.status === 'ok' ? 'ok' : outcome.error.code))).toEqual([
      'OBJECT_NOT_FOUND',
      'NOT_AN_UPLOAD',
      'ok',
    ]);
    expect(await keys('results/batch-missing/')).toEqual(['results/batch-missing/error.json']);
    expect(await keys('results/batch-ok/')).toEqual(
      ['histogram.png', 'histogram.svg', 'rates.csv', 'summary.json'].map((f) => `results/batch-ok/${f}`),
    );
  });
});

describe('keys as S3 encodes them: unicode, spaces and "+" decode to the right object, which runs', () => {
  const rows = (n: number) =>
    `fips,county,cancer,population\n${Array.from({ length: n }, (_, i) => `${1000 + i},County ${i},${10 + i},${1000 + i * 10}`).join('\n')}\n`;

  beforeAll(async () => {
    // Distinct row counts tell which object a key decoded to.
    await put('uploads/données-é漢字.csv', rows(3));
    await put('uploads/my report.csv', rows(2));
    await put('uploads/my+report.csv', rows(5));
    await put('uploads/a b+c d.csv', rows(7));
  });

  it.each<[string, string, string, number]>([
    ['unicode', 'uploads/donn%C3%A9es-%C3%A9%E6%BC%A2%E5%AD%97.csv', 'uploads/données-é漢字.csv', 3],
    ['a space (encoded as "+")', 'uploads/my+report.csv', 'uploads/my report.csv', 2],
    ['a literal "+" (encoded as %2B)', 'uploads/my%2Breport.csv', 'uploads/my+report.csv', 5],
    ['spaces and a "+" together', 'uploads/a+b%2Bc+d.csv', 'uploads/a b+c d.csv', 7],
  ])('%s: %s → %s', async (_label, encoded, key, expectedRows) => {
    // The literal is what AWS sends, by the local stack's encoder too (a check on the test's own input).
    expect(encodeS3EventKey(key)).toBe(encoded);
    const reply = (await invoke(s3Event(encoded))) as RatesBatchReply;
    expect(reply.results).toHaveLength(1);
    const outcome = reply.results[0] as RatesJobOutcome;
    expect(outcome, JSON.stringify((outcome as RatesErrorReport).error)).toMatchObject({
      status: 'ok',
      input: { bucket: BUCKET, key },
      rows: expectedRows,
    });
    const prefix = `results/${key.slice('uploads/'.length, -'.csv'.length)}/`;
    expect((outcome as RatesSummary).outputs.summary).toBe(`s3://${BUCKET}/${prefix}summary.json`);
    expect(await keys(prefix)).toEqual(
      ['histogram.png', 'histogram.svg', 'rates.csv', 'summary.json'].map((f) => `${prefix}${f}`),
    );
    expect(await readJson(`${prefix}summary.json`)).toMatchObject({ status: 'ok', input: { key }, rows: expectedRows });
  });
});
