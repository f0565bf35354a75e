/**
 * The rates job when S3 fails under it. The real handler (functions/rates.ts) talks to the local S3 server (its own
 * process) through local-stack/fault-proxy.ts, a real HTTP proxy that cuts downloads and answers 500/503 by rule;
 * this file's own client talks to the server directly, to arrange inputs and inspect results/.
 *
 * The invariant (lib/rates/publish.ts, "What results/<name>/ holds"): after any failed run results/<name>/ holds the
 * previous run's complete set, or nothing (or only error.json) — never a mix of old and new, never rates.csv without
 * summary.json — no multipart upload is left open, the handler throws (so Lambda retries), and the retry, once the
 * fault is gone, writes the complete and correct set. A single 503 is retried by the SDK and the run just succeeds.
 */
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultProxy, FaultRule } from '../../../local-stack/fault-proxy.ts';
import { encodeS3EventKey } from '../../../local-stack/s3/server.ts';
import type { RatesBatchReply, RatesSummary } from '../../../lib/rates/index.ts';
import { sampleCountyCsv } from '../../../lib/rates/sample-data.ts';
import {
  startRatesHandler,
  stopRatesHandler,
  type RatesHandler,
  type RatesHandlerRig,
} from '../../support/rates-handler.ts';
import { lambdaContext } from '../../support/bad-input.ts';
import { testS3Client } from '../../support/clients.ts';
import { signedHeaders } from '../../support/signing.ts';

const BUCKET = 'fault-rates';
type Handler = RatesHandler;

let dir: string;
let proxy: FaultProxy;
/** Straight to the server: arranging and inspecting never goes through the faults. */
let s3: S3Client;
let handler: Handler;

const client = testS3Client;

let rig: RatesHandlerRig | undefined;
beforeAll(async () => {
  rig = await startRatesHandler({ bucket: BUCKET, name: 'fault-rates', viaProxy: true });
  ({ dir, s3, handler } = rig);
  proxy = rig.proxy!;
});

afterEach(() => proxy?.clearRules());

afterAll(() => stopRatesHandler(rig));

// ---------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------

async function put(key: string, body: string | Buffer): Promise<string> {
  const answer = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'text/csv' }));
  return answer.ETag!.replaceAll('"', '');
}

async function bytes(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

async function json<T>(key: string): Promise<T> {
  return JSON.parse((await bytes(key)).toString('utf8')) as T;
}

/** results/<name>/ as file name → ETag. */
async function snapshot(name: string): Promise<Record<string, string>> {
  const prefix = `results/${name}/`;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return Object.fromEntries((listed.Contents ?? []).map((object) => [object.Key!.slice(prefix.length), object.ETag!]));
}

/** Multipart uploads the server still holds open for the bucket (the local server answers no ListMultipartUploads). */
async function openMultipartUploads(): Promise<string[]> {
  try {
    return await readdir(join(dir, 's3', BUCKET, '._S3rver_uploads'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function event(key: string) {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
          object: { key: encodeS3EventKey(key), sequencer: '0A' },
        },
      },
    ],
  };
}

function invoke(name: string): Promise<RatesBatchReply> {
  return handler(event(`uploads/${name}.csv`), lambdaContext('cloud-parallel-test-rates')) as Promise<RatesBatchReply>;
}

async function run(name: string): Promise<RatesSummary> {
  const reply = await invoke(name);
  const [outcome] = reply.results;
  if (outcome?.status !== 'ok') throw new Error(`expected a summary, got ${JSON.stringify(outcome)}`);
  return outcome;
}

async function runFails(name: string, message: RegExp): Promise<void> {
  await expect(invoke(name)).rejects.toThrow(message);
}

const ALL = ['histogram.png', 'histogram.svg', 'rates.csv', 'summary.json'];

// Two versions of a small file (one PUT for rates.csv) and of a large one (rates.csv > 5 MB: a multipart upload).
const SMALL = [
  sampleCountyCsv({ rows: 3143, seed: 11, badRowFraction: 0.01 }),
  sampleCountyCsv({ rows: 3143, seed: 12, badRowFraction: 0.01 }),
] as const;
const LARGE = [sampleCountyCsv({ rows: 250_000, seed: 21 }), sampleCountyCsv({ rows: 250_000, seed: 22 })] as const; // 8.7 MB in, 12 MB out
type Size = 'small' | 'large';
const inputs = (size: Size) => (size === 'small' ? SMALL : LARGE);

/** What a fault-free run of each size's second version gives (under its own name). */
const reference: Partial<Record<Size, { csv: Buffer; summary: RatesSummary }>> = {};

async function referenceFor(size: Size): Promise<{ csv: Buffer; summary: RatesSummary }> {
  if (reference[size] === undefined) {
    await put(`uploads/reference-${size}.csv`, inputs(size)[1]);
    const summary = await run(`reference-${size}`);
    reference[size] = { csv: await bytes(`results/reference-${size}/rates.csv`), summary };
  }
  return reference[size]!;
}

/** results/<name>/ is the complete, correct set for the input's current version. */
async function expectCompleteSet(name: string, size: Size, eTag: string): Promise<void> {
  const expected = await referenceFor(size);
  expect(Object.keys(await snapshot(name)).sort()).toEqual(ALL);
  const summary = await json<RatesSummary>(`results/${name}/summary.json`);
  expect(summary.input.eTag).toBe(eTag);
  const { rows, badRows, stats, histogram, options, rateColumn } = expected.summary;
  expect(summary).toMatchObject({ status: 'ok', rows, badRows, stats, histogram, options, rateColumn });
  expect((await bytes(`results/${name}/rates.csv`)).equals(expected.csv)).toBe(true);
  expect((await bytes(`results/${name}/histogram.png`)).subarray(1, 4).toString()).toBe('PNG');
}

/**
 * A run of version 1 (the "previous set"), then version 2 is uploaded and run with `rules` in place: it must throw,
 * leave `allowed` states only, and no open multipart upload; once the rules are gone, a retry writes version 2's set.
 */
async function faultCase(
  name: string,
  size: Size,
  rules: FaultRule[],
  expectation: { thrown: RegExp; after: ('previous' | 'nothing')[] },
): Promise<void> {
  await referenceFor(size);
  await put(`uploads/${name}.csv`, inputs(size)[0]);
  await run(name);
  const previous = await snapshot(name);
  expect(Object.keys(previous).sort()).toEqual(ALL);

  const eTag = await put(`uploads/${name}.csv`, inputs(size)[1]);
  const active = rules.map((rule) => proxy.addRule(rule));
  const thrown = await invoke(name).then(
    (reply) => reply,
    (error: unknown) => error,
  );
  for (const rule of active) expect(rule.hits, JSON.stringify(rule.rule)).toBeGreaterThan(0);

  const after = await snapshot(name);
  const state =
    Object.keys(after).length === 0
      ? 'nothing'
      : JSON.stringify(after) === JSON.stringify(previous)
        ? 'previous'
        : 'a mix';
  expect(
    state,
    `results/${name}/ after the failure: ${JSON.stringify(after)}; before: ${JSON.stringify(previous)}`,
  ).toBeOneOf(expectation.after);
  expect(await openMultipartUploads(), 'multipart uploads left open').toEqual([]);
  // Thrown, not answered: Lambda's async retry runs.
  expect(thrown).toBeInstanceOf(Error);
  expect((thrown as Error).message).toMatch(RETRIED);
  expect((thrown as Error).message).toMatch(expectation.thrown);

  proxy.clearRules();
  await run(name);
  await expectCompleteSet(name, size, eTag);
  expect(await openMultipartUploads()).toEqual([]);
}

const RETRIED = /1 of 1 rates run\(s\) failed and will be retried/;
const INJECTED = /Injected by the fault proxy/;
const internalError = (times = Number.POSITIVE_INFINITY) => ({ times, fault: { status: 500, code: 'InternalError' } });

// ---------------------------------------------------------------------------------------------------------
// the proxy itself
// ---------------------------------------------------------------------------------------------------------

describe('fault proxy', () => {
  let viaProxy: S3Client;
  let once: S3Client;
  const DATA = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));

  beforeAll(async () => {
    viaProxy = client(proxy.endpoint);
    once = client(proxy.endpoint, 1);
    await put('proxy/data.bin', DATA);
  });
  afterAll(() => {
    viaProxy?.destroy();
    once?.destroy();
  });

  it('forwards requests and bodies unchanged when no rule matches', async () => {
    proxy.addRule({ method: 'GET', key: 'proxy/other.bin', fault: { status: 500, code: 'InternalError' } });
    await viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'proxy/put.bin', Body: DATA }));
    const back = await viaProxy.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'proxy/put.bin' }));
    expect(Buffer.from(await back.Body!.transformToByteArray()).equals(DATA)).toBe(true);
    expect(
      proxy.requests.slice(-2).map(({ method, key, status, action }) => ({ method, key, status, action })),
    ).toEqual([
      { method: 'PUT', key: 'proxy/put.bin', status: 200, action: 'forward' },
      { method: 'GET', key: 'proxy/put.bin', status: 200, action: 'forward' },
    ]);
  });

  it('answers the first K matching requests with an S3 XML error, then forwards', async () => {
    const rule = proxy.addRule({
      method: 'GET',
      key: /^proxy\/data/,
      times: 2,
      fault: { status: 503, code: 'SlowDown', message: 'Reduce your request rate.' },
    });
    for (let i = 0; i < 2; i++) {
      await expect(once.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'proxy/data.bin' }))).rejects.toMatchObject({
        name: 'SlowDown',
        message: 'Reduce your request rate.',
        $metadata: { httpStatusCode: 503 },
      });
    }
    const third = await once.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'proxy/data.bin' }));
    expect((await third.Body!.transformToByteArray()).length).toBe(DATA.length);
    expect(rule.hits).toBe(2);
    // Not the method: not the rule's.
    await once.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'proxy/data-2.bin', Body: 'x' }));
  });

  it('a single 503 is retried by the SDK and never seen by the caller', async () => {
    const rule = proxy.addRule({ method: 'PUT', key: 'proxy/retried.bin', fault: { status: 503, code: 'SlowDown' } });
    await viaProxy.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'proxy/retried.bin', Body: DATA }));
    expect(rule.hits).toBe(1);
    expect((await bytes('proxy/retried.bin')).equals(DATA)).toBe(true);
  });

  it('cuts a response body after N bytes: headers announce the whole object, the connection ends early', async () => {
    proxy.addRule({ method: 'GET', key: 'proxy/data.bin', fault: { cutAfterBytes: 12_345 } });
    const headers = await signedHeaders(proxy.endpoint, 's3', { method: 'GET', path: `/${BUCKET}/proxy/data.bin` });
    const received = await new Promise<{ length: number; announced: number; error: string }>((resolve) => {
      http.get(`${proxy.endpoint}/${BUCKET}/proxy/data.bin`, { headers }, (res) => {
        let length = 0;
        res.on('data', (chunk: Buffer) => (length += chunk.length));
        res.on('error', (error) =>
          resolve({ length, announced: Number(res.headers['content-length']), error: error.message }),
        );
        res.on('end', () => resolve({ length, announced: Number(res.headers['content-length']), error: 'none' }));
      });
    });
    expect(received).toEqual({ length: 12_345, announced: DATA.length, error: 'aborted' });

    // Through the SDK: the command resolves with the headers, and reading the body fails.
    proxy.addRule({ method: 'GET', key: 'proxy/data.bin', fault: { cutAfterBytes: 50_000 } });
    const object = await viaProxy.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'proxy/data.bin' }));
    await expect(object.Body!.transformToByteArray()).rejects.toThrow(/aborted/);
  });

  it('delays a request', async () => {
    proxy.addRule({ method: 'HEAD', fault: { delayMs: 300 } });
    const started = performance.now();
    await viaProxy.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'proxy/data.bin', Range: 'bytes=0-0' }));
    const fast = performance.now() - started;
    proxy.addRule({ method: 'GET', key: 'proxy/data.bin', fault: { delayMs: 300 } });
    const slowStart = performance.now();
    await viaProxy.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'proxy/data.bin', Range: 'bytes=0-0' }));
    expect(performance.now() - slowStart).toBeGreaterThanOrEqual(290);
    expect(fast).toBeLessThan(290);
    expect(proxy.requests.at(-1)).toMatchObject({ method: 'GET', action: 'delay', status: 206 });
  });
});

// ---------------------------------------------------------------------------------------------------------
// the rates job under faults
// ---------------------------------------------------------------------------------------------------------

describe('rates: transient S3 errors are retried by the SDK and the run succeeds', () => {
  it('small file: a 503 on the input GET and on the PUT of rates.csv', async () => {
    const eTag = await put('uploads/transient-small.csv', SMALL[1]);
    const rules = [
      proxy.addRule({ method: 'GET', key: 'uploads/transient-small.csv', fault: { status: 503, code: 'SlowDown' } }),
      proxy.addRule({
        method: 'PUT',
        key: 'results/transient-small/rates.csv',
        fault: { status: 503, code: 'SlowDown' },
      }),
      proxy.addRule({
        method: 'DELETE',
        key: 'results/transient-small/summary.json',
        fault: { status: 500, code: 'InternalError' },
      }),
    ];
    await run('transient-small');
    expect(rules.map((rule) => rule.hits)).toEqual([1, 1, 1]);
    await expectCompleteSet('transient-small', 'small', eTag);
  });

  it('large file: a 503 on an UploadPart, on CompleteMultipartUpload, on a histogram and on summary.json', async () => {
    const eTag = await put('uploads/transient-large.csv', LARGE[1]);
    const at = (name: string) => `results/transient-large/${name}`;
    const rules = [
      proxy.addRule({
        method: 'PUT',
        key: at('rates.csv'),
        query: /partNumber=2/,
        fault: { status: 503, code: 'SlowDown' },
      }),
      proxy.addRule({
        method: 'POST',
        key: at('rates.csv'),
        query: /uploadId=/,
        fault: { status: 500, code: 'InternalError' },
      }),
      proxy.addRule({ method: 'PUT', key: at('histogram.png'), fault: { status: 503, code: 'SlowDown' } }),
      proxy.addRule({ method: 'PUT', key: at('summary.json'), fault: { status: 500, code: 'InternalError' } }),
    ];
    await run('transient-large');
    expect(rules.map((rule) => rule.hits)).toEqual([1, 1, 1, 1]);
    await expectCompleteSet('transient-large', 'large', eTag);
    expect(await openMultipartUploads()).toEqual([]);
  });
});

describe('rates: lasting S3 failures fail the run cleanly (thrown, no partial results), and the retry completes it', () => {
  it.each<[Size, number]>([
    ['small', 40_000],
    ['large', 6_000_000],
  ])(
    '%s file: the input download is cut mid-stream after %i bytes → the previous set stays',
    async (size, cutAfterBytes) => {
      const name = `cut-get-${size}`;
      await faultCase(name, size, [{ method: 'GET', key: `uploads/${name}.csv`, fault: { cutAfterBytes } }], {
        thrown: /aborted/,
        after: ['previous'],
      });
      if (size === 'large') {
        // rates.csv was being uploaded in parts as the input streamed in: that multipart upload was aborted, not completed.
        const csvRequests = proxy.requests.filter((request) => request.key === `results/${name}/rates.csv`);
        expect(
          csvRequests.some(
            (request) => request.method === 'PUT' && /partNumber=1/.test(request.query) && request.status === 200,
          ),
        ).toBe(true);
        expect(
          csvRequests.some(
            (request) => request.method === 'DELETE' && /uploadId=/.test(request.query) && request.status === 204,
          ),
        ).toBe(true);
      }
    },
  );

  // The small file's run invalidates the old set before rates.csv lands, so it leaves nothing there (keeping the old
  // set would be right too: rates.csv never changed).
  it.each<{ title: string; name: string; size: Size; rule: FaultRule }>([
    {
      title: 'small file: every PUT of rates.csv fails → no mix, no rates.csv without summary.json',
      name: 'put-csv-small',
      size: 'small',
      rule: { method: 'PUT', key: 'results/put-csv-small/rates.csv', ...internalError() },
    },
    {
      title:
        'large file: an UploadPart of rates.csv keeps failing → the multipart upload is aborted; previous set or nothing',
      name: 'put-part-large',
      size: 'large',
      rule: { method: 'PUT', key: 'results/put-part-large/rates.csv', query: /partNumber=1/, ...internalError() },
    },
    {
      title: 'large file: CompleteMultipartUpload of rates.csv keeps failing → the upload is aborted, no mix',
      name: 'complete-large',
      size: 'large',
      rule: { method: 'POST', key: 'results/complete-large/rates.csv', query: /uploadId=/, ...internalError() },
    },
  ])('$title', async ({ name, size, rule }) => {
    await faultCase(name, size, [rule], { thrown: INJECTED, after: ['previous', 'nothing'] });
  });

  it.each<[Size, string]>([
    ['small', 'histogram.png'],
    ['large', 'histogram.svg'],
    ['small', 'summary.json'],
    ['large', 'summary.json'],
  ])(
    '%s file: every PUT of %s fails after rates.csv landed → this run’s outputs are removed, nothing',
    async (size, file) => {
      const name = `put-${file.replace('.', '-')}-${size}`;
      await faultCase(name, size, [{ method: 'PUT', key: `results/${name}/${file}`, ...internalError() }], {
        thrown: /publishing results\/.+ failed \(Injected by the fault proxy\.\); the outputs of this run were removed/,
        after: ['nothing'],
      });
    },
  );

  it('deleting the old summary.json fails → nothing was overwritten: the previous set stays', async () => {
    await faultCase(
      'delete-summary',
      'small',
      [{ method: 'DELETE', key: 'results/delete-summary/summary.json', ...internalError() }],
      {
        thrown: INJECTED,
        after: ['previous'],
      },
    );
  });

  it('a histogram PUT fails and the clean-up fails too → thrown, and no summary.json vouches for what is left', async () => {
    const name = 'double-fault';
    await put(`uploads/${name}.csv`, SMALL[0]);
    await run(name);
    const eTag = await put(`uploads/${name}.csv`, SMALL[1]);
    proxy.addRule({ method: 'PUT', key: `results/${name}/histogram.png`, ...internalError() });
    proxy.addRule({ method: 'DELETE', key: `results/${name}/rates.csv`, ...internalError() });
    await runFails(
      name,
      /removing this run's outputs failed too \(Injected by the fault proxy\.\); summary\.json is absent/,
    );
    const left = Object.keys(await snapshot(name));
    expect(left).not.toContain('summary.json');
    expect(left).not.toContain('error.json');
    proxy.clearRules();
    await run(name);
    await expectCompleteSet(name, 'small', eTag);
  });

  it('a bad file over a previous set: PUT error.json fails → thrown, no summary.json; the retry writes error.json alone', async () => {
    const name = 'bad-after-good';
    await put(`uploads/${name}.csv`, SMALL[0]);
    await run(name);
    await put(`uploads/${name}.csv`, 'fips,county,cancer\n1,A,5\n'); // no population column
    proxy.addRule({ method: 'PUT', key: `results/${name}/error.json`, ...internalError() });
    await runFails(name, INJECTED);
    // The old outputs went first, summary.json first of all: no error.json (its PUT failed) and no stale summary.
    expect(await snapshot(name)).toEqual({});
    proxy.clearRules();
    const reply = (await handler(event(`uploads/${name}.csv`), lambdaContext())) as RatesBatchReply;
    expect(reply.results[0]).toMatchObject({ status: 'error', error: { code: 'MISSING_COLUMN' } });
    expect(Object.keys(await snapshot(name))).toEqual(['error.json']);
  });
});
