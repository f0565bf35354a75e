/**
 * S3 delivers each notification at least once: the same event delivered twice must give the same results once. The
 * real handler (functions/rates.ts) runs in process against the local S3 server (its own process), through the fault
 * proxy with no rules, only to see which requests a delivery makes.
 *
 * A delivery for an object whose current version (ETag) was already processed with the same resolved options and run
 * id returns the stored summary with `alreadyProcessed: true` and writes nothing. New content, other options or
 * another run id are processed. An error.json outcome is simply computed again.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultProxy } from '../../../local-stack/fault-proxy.ts';
import { encodeS3EventKey } from '../../../local-stack/s3/server.ts';
import type {
  RatesAlreadyProcessed,
  RatesBatchReply,
  RatesJobOutcome,
  RatesSummary,
} from '../../../lib/rates/index.ts';
import { sampleCountyCsv } from '../../../lib/rates/sample-data.ts';
import {
  startRatesHandler,
  stopRatesHandler,
  type RatesHandler,
  type RatesHandlerRig,
} from '../../support/rates-handler.ts';
import { lambdaContext } from '../../support/bad-input.ts';

const BUCKET = 'idempotency-rates';
type Handler = RatesHandler;

let proxy: FaultProxy;
let s3: S3Client;
let handler: Handler;

let rig: RatesHandlerRig | undefined;
beforeAll(async () => {
  rig = await startRatesHandler({ bucket: BUCKET, name: 'idempotency-rates', viaProxy: true });
  ({ s3, handler } = rig);
  proxy = rig.proxy!;
});

afterAll(() => stopRatesHandler(rig));

async function put(name: string, body: string, metadata?: Record<string, string>): Promise<string> {
  const answer = await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: `uploads/${name}.csv`,
      Body: body,
      ContentType: 'text/csv',
      ...(metadata ? { Metadata: metadata } : {}),
    }),
  );
  return answer.ETag!.replaceAll('"', '');
}

/** The S3 event AWS would send for uploads/<name>.csv (the same object each time: a redelivery is this, again). */
function event(name: string) {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: '2026-11-25T12:00:00.000Z',
        eventName: 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
          object: { key: encodeS3EventKey(`uploads/${name}.csv`), sequencer: '0A1B2C3D4E5F678901' },
        },
      },
    ],
  };
}

async function deliver(payload: unknown): Promise<RatesJobOutcome> {
  const reply = (await handler(payload, lambdaContext('cloud-parallel-test-rates'))) as RatesBatchReply;
  expect(reply.results).toHaveLength(1);
  return reply.results[0]!;
}

/** results/<name>/ as file name → ETag and LastModified: any rewrite changes one of them. */
async function snapshot(name: string): Promise<Record<string, string>> {
  const prefix = `results/${name}/`;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return Object.fromEntries(
    (listed.Contents ?? []).map((o) => [o.Key!.slice(prefix.length), `${o.ETag} ${o.LastModified!.toISOString()}`]),
  );
}

async function text(key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return object.Body!.transformToString();
}

/** Requests the handler sent through the proxy while `work` ran. */
async function requestsDuring(work: () => Promise<unknown>) {
  const from = proxy.requests.length;
  await work();
  return proxy.requests.slice(from);
}

function summaryOf(outcome: RatesJobOutcome): RatesSummary {
  if (outcome.status !== 'ok') throw new Error(`expected a summary, got ${JSON.stringify(outcome)}`);
  return outcome;
}

function expectFresh(outcome: RatesJobOutcome): RatesSummary {
  const summary = summaryOf(outcome);
  expect(summary).not.toHaveProperty('alreadyProcessed');
  return summary;
}

function expectDuplicateOf(outcome: RatesJobOutcome, first: RatesSummary): RatesAlreadyProcessed {
  const summary = summaryOf(outcome) as RatesAlreadyProcessed;
  expect(summary.alreadyProcessed).toBe(true);
  // The stored summary of the run that did the work, as that run answered it.
  expect({ ...summary, alreadyProcessed: undefined }).toEqual({ ...first, alreadyProcessed: undefined });
  return summary;
}

const WRITES = new Set(['PUT', 'POST', 'DELETE']);
const COUNTIES = sampleCountyCsv({ rows: 500, seed: 5, badRowFraction: 0.02 });
const OTHER_COUNTIES = sampleCountyCsv({ rows: 700, seed: 6 });

describe('rates: the same event delivered twice', () => {
  it('the second delivery does no work: same reply marked alreadyProcessed, results untouched, nothing written', async () => {
    const eTag = await put('twice', COUNTIES);
    const first = expectFresh(await deliver(event('twice')));
    expect(first.input.eTag).toBe(eTag);
    const before = await snapshot('twice');
    expect(Object.keys(before).sort()).toEqual(['histogram.png', 'histogram.svg', 'rates.csv', 'summary.json']);

    await new Promise((resolve) => setTimeout(resolve, 1100)); // a rewrite would show a later LastModified, even at 1 s resolution
    let second: RatesJobOutcome | undefined;
    const requests = await requestsDuring(async () => {
      second = await deliver(event('twice'));
    });
    const duplicate = expectDuplicateOf(second!, first);
    expect(duplicate.rows).toBe(first.rows);
    expect(duplicate.stats).toEqual(first.stats);
    expect(await snapshot('twice')).toEqual(before);
    expect(requests.filter((request) => WRITES.has(request.method))).toEqual([]);
    // Read: the input's headers and the stored summary. rates.csv and the charts are not even read.
    expect(requests.map((request) => `${request.method} ${request.key}`).sort()).toEqual([
      'GET results/twice/summary.json',
      'GET uploads/twice.csv',
    ]);

    // And a third time, the same.
    expectDuplicateOf(await deliver(event('twice')), first);
  });

  it('a new upload of the key with other content is processed', async () => {
    await put('changed', COUNTIES);
    const first = expectFresh(await deliver(event('changed')));
    const eTag = await put('changed', OTHER_COUNTIES);
    const second = expectFresh(await deliver(event('changed')));
    expect(second.input.eTag).toBe(eTag);
    expect(second.input.eTag).not.toBe(first.input.eTag);
    expect(second.rows).toBe(700);
    expect(first.rows).not.toBe(second.rows);
    expect(JSON.parse(await text('results/changed/summary.json'))).toMatchObject({ rows: 700, input: { eTag } });
  });

  it('the same bytes uploaded again have the same ETag: a duplicate (same bytes, same results)', async () => {
    const eTag = await put('same-bytes', COUNTIES);
    const first = expectFresh(await deliver(event('same-bytes')));
    const before = await snapshot('same-bytes');
    expect(await put('same-bytes', COUNTIES)).toBe(eTag);
    expectDuplicateOf(await deliver(event('same-bytes')), first);
    expect(await snapshot('same-bytes')).toEqual(before);
  });

  it('other options in the upload metadata are processed; then their redelivery is a duplicate', async () => {
    await put('options', COUNTIES);
    const defaults = expectFresh(await deliver(event('options')));
    await put('options', COUNTIES, { bins: '12' }); // same bytes, same ETag: only the options differ
    const twelve = expectFresh(await deliver(event('options')));
    expect(twelve.input.eTag).toBe(defaults.input.eTag);
    expect(twelve.options.bins).toBe(12);
    expect(twelve.histogram.counts).toHaveLength(12);
    expectDuplicateOf(await deliver(event('options')), twelve);
  });

  it('a direct invocation with options other than the stored run is processed', async () => {
    await put('direct', COUNTIES);
    const first = expectFresh(await deliver(event('direct')));
    const other = expectFresh(await deliver({ key: 'uploads/direct.csv', bins: 7 }));
    expect(other.options.bins).toBe(7);
    expect(other.input.eTag).toBe(first.input.eTag);
    // The same invocation again: a duplicate of that run.
    expectDuplicateOf(await deliver({ key: 'uploads/direct.csv', bins: 7 }), other);
  });

  it('the same bytes uploaded with another run id are processed (a client waits for the summary with its run id)', async () => {
    await put('run-id', COUNTIES, { 'run-id': 'run-1' });
    const first = expectFresh(await deliver(event('run-id')));
    await put('run-id', COUNTIES, { 'run-id': 'run-2' });
    const second = expectFresh(await deliver(event('run-id')));
    expect([first.runId, second.runId]).toEqual(['run-1', 'run-2']);
    expect(second.input.eTag).toBe(first.input.eTag);
    expect(JSON.parse(await text('results/run-id/summary.json'))).toMatchObject({ runId: 'run-2' });
  });

  it('an error.json outcome delivered again is simply computed again (a bad file fails fast)', async () => {
    await put('bad', 'fips,county,cancer\n1,A,5\n');
    const first = await deliver(event('bad'));
    const second = await deliver(event('bad'));
    for (const outcome of [first, second])
      expect(outcome).toMatchObject({ status: 'error', error: { code: 'MISSING_COLUMN' } });
    expect(Object.keys(await snapshot('bad'))).toEqual(['error.json']);
  });

  it('an unreadable summary.json is not trusted: the run computes again and replaces it', async () => {
    await put('corrupt', COUNTIES);
    const first = expectFresh(await deliver(event('corrupt')));
    await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'results/corrupt/summary.json', Body: '{"status": "ok", trunc' }),
    );
    const again = expectFresh(await deliver(event('corrupt')));
    expect(again.rows).toBe(first.rows);
    expect(JSON.parse(await text('results/corrupt/summary.json'))).toMatchObject({ status: 'ok', rows: first.rows });
  });

  it('two deliveries at the same moment both compute the same outputs; a complete set remains, and the next is a duplicate', async () => {
    await put('concurrent', COUNTIES);
    const [a, b] = (await Promise.all([deliver(event('concurrent')), deliver(event('concurrent'))])).map(summaryOf);
    expect(a!.stats).toEqual(b!.stats);
    expect(a!.rows).toBe(b!.rows);
    expect(Object.keys(await snapshot('concurrent')).sort()).toEqual([
      'histogram.png',
      'histogram.svg',
      'rates.csv',
      'summary.json',
    ]);
    const stored = JSON.parse(await text('results/concurrent/summary.json')) as RatesSummary;
    expect([a!.finishedAt, b!.finishedAt]).toContain(stored.finishedAt);
    // rates.csv is byte for byte what a single run writes.
    await put('single', COUNTIES);
    expectFresh(await deliver(event('single')));
    expect(await text('results/concurrent/rates.csv')).toBe(await text('results/single/rates.csv'));
    expect((await deliver(event('concurrent'))) as RatesAlreadyProcessed).toMatchObject({
      alreadyProcessed: true,
      finishedAt: stored.finishedAt,
    });
  });
});
