/**
 * The rates job end to end on the real local stack: S3 server → notification → serverless-offline's
 * Lambda invoke API → the bundled handler → results in S3. Nothing of ours is mocked.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lib/aws/s3.ts';
import type { Timeline } from '../../lib/fanout/timeline.ts';
import { submitRatesRun, waitForRatesOutcome } from '../../lib/rates/client.ts';
import type { RatesSummary } from '../../lib/rates/index.ts';
import { sampleCountyCsv } from '../../lib/rates/sample-data.ts';
import { decodePng } from '../support/png.ts';
import { runCli, slsInvokeLocal, useLocalStack } from '../support/stack.ts';

const run = promisify(execFile);
const awsCli = spawnSync('aws', ['--version'], { encoding: 'utf8' }).status === 0;
const stack = useLocalStack({
  s3: 27569,
  lambda: 27302,
  ec2: 27570,
  mongo: 27117,
  api: 27575,
  http: 27300,
  dashboard: 27580,
});
let workDir: string;
let s3: S3Client;
let bucket: string;

beforeAll(() => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'cp-files-'));
  s3 = createS3Client();
  bucket = stack.state.service.environment.DATA_BUCKET!;
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function writeFile(name: string, content: string | Buffer): string {
  const file = path.join(workDir, name);
  writeFileSync(file, content);
  return file;
}

async function getText(key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return object.Body!.transformToString();
}

async function getBytes(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

async function listKeys(prefix: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!).sort();
}

/** Rates computed here, independently of the job's parser, from csv-parse's reading of the whole file. */
function referenceRates(csv: string, numerator = 'cancer', denominator = 'population') {
  const records = parse(csv, { columns: true, skip_empty_lines: true, bom: true }) as Record<string, string>[];
  return records
    .filter(
      (r) =>
        r[numerator] !== '' &&
        r[denominator] !== '' &&
        Number.isFinite(Number(r[numerator])) &&
        Number(r[denominator]) > 0,
    )
    .map((r) => Number(r[numerator]) / Number(r[denominator]));
}

/**
 * A split run's timeline in S3, as its summary lists it: a PNG that decodes, and timeline.json with a task per chunk
 * parsed, per re-run and per statistics task (every chunk of these county files has rates, so each answers every
 * round), each attempt told by a worker whose id matches `workerIds` (the rates-worker Lambda's container, or the
 * EC2 instance): the workers' own clocks reached the timeline.
 */
async function expectSplitTimeline(summary: RatesSummary, workerIds: RegExp): Promise<void> {
  const prefix = `s3://${bucket}/results/split/`;
  expect(summary.outputs.timeline).toEqual({
    json: `${prefix}timeline.json`,
    svg: `${prefix}timeline.svg`,
    png: `${prefix}timeline.png`,
  });
  const png = decodePng(await getBytes('results/split/timeline.png'));
  expect(png.width).toBeGreaterThan(700);
  expect(png.height).toBeGreaterThan(300);
  const timeline = JSON.parse(await getText('results/split/timeline.json')) as Timeline;
  const p = summary.parallel!;
  expect(timeline.tasks).toHaveLength(p.chunks + p.reruns + p.assembly.rerunsWithoutParts + p.statsRounds * p.chunks);
  expect(timeline.tasks[0]?.label).toBe('parse 0');
  const attempts = timeline.tasks.flatMap((t) => t.attempts);
  for (const a of attempts) expect(a.workerId ?? '', `attempt ${a.task}/${a.attempt}`).toMatch(workerIds);
  expect(attempts.every((a) => a.startedMs !== undefined)).toBe(true);
}

describe('rates on the local stack', () => {
  it('runs when a CSV lands under uploads/ and writes rates.csv, the chart and the summary', async () => {
    const csv = sampleCountyCsv({ rows: 3143, seed: 11, badRowFraction: 0.01 });
    const submitted = await submitRatesRun(s3, { bucket, file: writeFile('counties.csv', csv) });
    const outcome = await waitForRatesOutcome(s3, submitted, { timeoutMs: 90_000 });
    expect(outcome.status).toBe('ok');
    const summary = outcome as RatesSummary;

    const expected = referenceRates(csv);
    expect(summary.rows).toBe(expected.length);
    expect(summary.badRows.count).toBe(3143 - expected.length);
    expect(summary.badRows.count).toBeGreaterThan(0);
    expect(summary.stats.min).toBe(Math.min(...expected));
    expect(summary.stats.max).toBe(Math.max(...expected));
    const sorted = [...expected].sort((a, b) => a - b);
    const mid = (sorted.length - 1) / 2;
    expect(summary.stats.median).toBeCloseTo((sorted[Math.floor(mid)]! + sorted[Math.ceil(mid)]!) / 2, 15);
    expect(summary.histogram.counts).toHaveLength(30);
    expect(summary.histogram.counts.reduce((a, b) => a + b, 0)).toBe(expected.length);

    expect(await listKeys('results/counties/')).toEqual([
      'results/counties/histogram.png',
      'results/counties/histogram.svg',
      'results/counties/rates.csv',
      'results/counties/summary.json',
    ]);
    const out = parse(await getText('results/counties/rates.csv'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(out[0]!)).toEqual(['fips', 'county', 'state', 'cancer', 'population', 'rate']);
    expect(out.map((r) => Number(r.rate))).toEqual(expected);
    const png = decodePng(await getBytes('results/counties/histogram.png'));
    expect(png.width).toBeGreaterThan(700);
    expect(await getText('results/counties/histogram.svg')).toContain('cancer / population');
  });

  it('splits a file across rates-worker invocations and publishes exactly what one worker publishes', async () => {
    // ~1.2 MB with quoted fields and bad rows; 64 KiB chunks put ~19 boundaries anywhere in records.
    const csv = sampleCountyCsv({ rows: 20_000, seed: 14, badRowFraction: 0.01, quotedFraction: 0.2 });
    const file = writeFile('split.csv', csv);
    const one = await waitForRatesOutcome(s3, await submitRatesRun(s3, { bucket, file, split: { workers: 1 } }), {
      timeoutMs: 90_000,
    });
    expect(one).toMatchObject({ status: 'ok' });
    expect((one as RatesSummary).parallel).toBeUndefined();
    expect((one as RatesSummary).outputs.timeline).toBeUndefined();
    expect(await listKeys('results/split/timeline.'), 'a single run draws no timeline').toEqual([]);
    const single = await getBytes('results/split/rates.csv');

    const { stdout } = await runCli(stack, ['rates', file, '--chunk-size', '64KiB', '--json']);
    const split = JSON.parse(stdout) as RatesSummary;
    const dataBytes = Buffer.byteLength(csv) - (csv.indexOf('\n') + 1);
    expect(split.parallel?.chunks).toBe(Math.ceil(dataBytes / (64 * 1024)));
    expect(split.parallel?.chunkTimings).toHaveLength(split.parallel!.chunks);
    expect(split.parallel?.cost).toMatchObject({ backend: 'lambda' });
    expect((await getBytes('results/split/rates.csv')).equals(single)).toBe(true);
    // What only a split run has: its parallel section, and its timeline among the outputs.
    const strip = ({
      runId: _r,
      timings: _t,
      finishedAt: _f,
      parallel: _p,
      outputs: { timeline: _tl, ...outputs },
      ...rest
    }: RatesSummary) => ({ ...rest, outputs });
    expect(strip(split)).toEqual(strip(one as RatesSummary));
    expect(await listKeys('runs/rates/')).toEqual([]);
    await expectSplitTimeline(split, /^lambda-/);

    // The same split with its chunks on local EC2 instances: staged under inputs/ (no trigger), coordinated by the
    // CLI, each task on an instance with presigned URLs; the same bytes and figures, the instances' cost.
    const onEc2 = await runCli(stack, ['rates', file, '--backend', 'ec2', '--workers', '2', '--json']);
    const viaEc2 = JSON.parse(onEc2.stdout) as RatesSummary;
    expect(viaEc2.input.key).toBe('inputs/split.csv');
    expect(viaEc2.parallel).toMatchObject({ workers: 2, chunks: 2, cost: { backend: 'ec2' } });
    expect((await getBytes('results/split/rates.csv')).equals(single)).toBe(true);
    const sameInput = (summary: RatesSummary) => ({ ...strip(summary), input: { ...summary.input, key: null } });
    expect(sameInput(viaEc2)).toEqual(sameInput(one as RatesSummary));
    expect(await listKeys('runs/')).toEqual([]);
    await expectSplitTimeline(viaEc2, /^i-/);
    // Without --json: progress of the phases and the instances on stderr, the EC2 cost and the timeline in the
    // summary; --out downloads rates.csv and the timeline with the rest.
    const outDir = path.join(workDir, 'split-out');
    const shown = await runCli(stack, ['rates', file, '--backend', 'ec2', '--workers', '3', '--out', outDir]);
    expect(shown.stderr).toMatch(/parse: \d\/3 chunks/);
    expect(shown.stderr).toMatch(/instances: \d+ pending, \d+ running, \d+ done/);
    expect(shown.stdout).toMatch(/parallel {3}3 chunks on 3 workers, .*workers ≈ \$\d/);
    expect(shown.stdout).toContain(
      `  timeline   s3://${bucket}/results/split/timeline.png  (timeline.json and timeline.svg beside it)`,
    );
    expect(readdirSync(outDir).sort()).toEqual([
      'histogram.png',
      'histogram.svg',
      'rates.csv',
      'summary.json',
      'timeline.json',
      'timeline.png',
      'timeline.svg',
    ]);
    expect(decodePng(readFileSync(path.join(outDir, 'timeline.png'))).width).toBeGreaterThan(700);
    expect(await listKeys('runs/')).toEqual([]);
    // Four runs, two of them launching EC2 instances: more than the default 30 s on a busy machine.
  }, 120_000);

  it('takes per-run options from the upload metadata', async () => {
    const csv = 'id,deaths,births\n1,2,100\n2,3,50\n3,x,10\n';
    const submitted = await submitRatesRun(s3, {
      bucket,
      file: writeFile('births.csv', csv),
      options: { numerator: 'deaths', denominator: 'births', bins: 4 },
    });
    const outcome = (await waitForRatesOutcome(s3, submitted, { timeoutMs: 60_000 })) as RatesSummary;
    expect(outcome.status).toBe('ok');
    expect(outcome.options).toEqual({ numerator: 'deaths', denominator: 'births', bins: 4 });
    expect(outcome.rows).toBe(2);
    expect(outcome.badRows.samples).toEqual([{ line: 4, reason: expect.stringContaining('deaths') }]);
    expect(outcome.histogram.counts).toHaveLength(4);
    expect(await getText('results/births/rates.csv')).toBe('id,deaths,births,rate\n1,2,100,0.02\n2,3,50,0.06\n');
  });

  it('answers a bad file with error.json and no partial results', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001', 'hex');
    const submitted = await submitRatesRun(s3, { bucket, file: writeFile('picture.png', png) });
    const outcome = await waitForRatesOutcome(s3, submitted, { timeoutMs: 60_000 });
    expect(outcome).toMatchObject({ status: 'error', error: { code: 'NOT_CSV' } });
    expect(await listKeys('results/picture/')).toEqual(['results/picture/error.json']);

    const missing = await submitRatesRun(s3, { bucket, file: writeFile('nocol.csv', 'fips,cases\n1,2\n') });
    const missingOutcome = await waitForRatesOutcome(s3, missing, { timeoutMs: 60_000 });
    expect(missingOutcome).toMatchObject({ status: 'error', error: { code: 'MISSING_COLUMN' } });
    if (missingOutcome.status === 'error') expect(missingOutcome.error.message).toContain('cases');
  });

  it('runs when a .csv.gz lands under uploads/ (the second trigger), publishing what the plain file publishes', async () => {
    const csv = sampleCountyCsv({ rows: 2000, seed: 17, badRowFraction: 0.01 });
    const plain = await submitRatesRun(s3, { bucket, file: writeFile('zipped.csv', csv) });
    const plainOutcome = (await waitForRatesOutcome(s3, plain, { timeoutMs: 60_000 })) as RatesSummary;
    expect(plainOutcome.status).toBe('ok');
    const plainCsv = await getBytes('results/zipped/rates.csv');
    // Uploaded by the client as it is (uploads/zipped.csv.gz): only the S3 notification of the .csv.gz rule runs it.
    const gz = await submitRatesRun(s3, { bucket, file: writeFile('zipped.csv.gz', gzipSync(csv)) });
    expect(gz.key).toBe('uploads/zipped.csv.gz');
    const outcome = (await waitForRatesOutcome(s3, gz, { timeoutMs: 60_000 })) as RatesSummary;
    expect(outcome).toMatchObject({
      status: 'ok',
      input: { key: 'uploads/zipped.csv.gz', compression: 'gzip', bytes: plainOutcome.input.bytes },
      rows: plainOutcome.rows,
      stats: plainOutcome.stats,
    });
    expect((await getBytes('results/zipped/rates.csv')).equals(plainCsv)).toBe(true);
  });

  it('runs for multipart uploads and never for objects outside uploads/*.csv', async () => {
    // 9 MB: lib-storage sends it as a multipart upload (5 MB parts) → ObjectCreated:CompleteMultipartUpload.
    const big = sampleCountyCsv({ rows: 250_000, seed: 3 });
    expect(big.length).toBeGreaterThan(5 * 1024 * 1024);
    const submitted = await submitRatesRun(s3, { bucket, file: writeFile('big.csv', big) });
    const outcome = await waitForRatesOutcome(s3, submitted, { timeoutMs: 90_000 });
    expect(outcome).toMatchObject({ status: 'ok', rows: 250_000 });

    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'uploads/notes.txt', Body: 'a,b\n1,2\n' }));
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'incoming/other.csv', Body: 'cancer,population\n1,2\n' }),
    );
    await sleep(3000);
    expect(await listKeys('results/notes/')).toEqual([]);
    expect(await listKeys('results/other/')).toEqual([]);
    // The job's own outputs are outside the trigger: nothing under results/ ever produced a run for itself.
    expect((await listKeys('results/')).filter((k) => k.includes('/results/'))).toEqual([]);
  });

  it('`cloud-parallel rates --json` prints the summary, and a clear error object for bad input', async () => {
    const file = writeFile('cli.csv', 'county,cancer,population\n"Lewis and Clark, MT",50,10000\nB,1,0\n');
    const { stdout } = await runCli(stack, ['rates', file, '--bins', '5', '--json']);
    const summary = JSON.parse(stdout) as RatesSummary;
    expect(summary).toMatchObject({ status: 'ok', rows: 1, options: { bins: 5 }, stats: { min: 0.005, max: 0.005 } });
    expect(summary.badRows.samples[0]).toMatchObject({ line: 3 });

    // The same file on one EC2 instance: staged under inputs/ (no trigger), same numbers.
    const onEc2 = await runCli(stack, ['rates', file, '--bins', '5', '--backend', 'ec2', '--json']);
    const ec2Summary = JSON.parse(onEc2.stdout) as RatesSummary;
    expect(ec2Summary).toMatchObject({
      status: 'ok',
      rows: 1,
      input: { key: 'inputs/cli.csv' },
      stats: summary.stats,
      histogram: summary.histogram,
    });

    const failed = await runCli(stack, ['rates', file, '--bins', 'zero', '--json']).catch(
      (error: { code: number; stdout: string }) => error,
    );
    expect(failed).toMatchObject({ code: 1 });
    expect(JSON.parse((failed as { stdout: string }).stdout)).toEqual({
      error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('--bins') },
    });

    const empty = writeFile('empty.csv', '');
    const emptyRun = await runCli(stack, ['rates', empty, '--json']).catch(
      (error: { code: number; stdout: string }) => error,
    );
    expect(emptyRun).toMatchObject({ code: 1 });
    expect(JSON.parse((emptyRun as { stdout: string }).stdout).error.code).toBe('EMPTY_FILE');
  });

  it('processes every record of a multi-record event through the Lambda invoke API; one failure loses nothing', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'uploads/first.csv', Body: 'cancer,population\n1,100\n2,100\n' }),
    );
    const record = (key: string) => ({
      eventSource: 'aws:s3',
      eventName: 'ObjectCreated:Put',
      s3: { bucket: { name: bucket }, object: { key } },
    });
    const lambda = new LambdaClient({});
    const response = await lambda.send(
      new InvokeCommand({
        FunctionName: stack.state.service.notifications[0]!.target,
        Payload: Buffer.from(
          JSON.stringify({ Records: [record('uploads/first.csv'), record('uploads/never+uploaded.csv')] }),
        ),
      }),
    );
    expect(response.FunctionError).toBeUndefined();
    const reply = JSON.parse(Buffer.from(response.Payload!).toString()) as {
      results: { status: string; error?: { code: string } }[];
    };
    expect(reply.results).toEqual([
      expect.objectContaining({ status: 'ok', rows: 2 }),
      expect.objectContaining({ status: 'error', error: expect.objectContaining({ code: 'OBJECT_NOT_FOUND' }) }),
    ]);
    expect(await listKeys('results/never uploaded/')).toEqual(['results/never uploaded/error.json']);
  });

  it('`sls invoke local -p events/rates-s3-put.json` runs the handler against the local stack', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'uploads/us-counties.csv',
        Body: sampleCountyCsv({ rows: 500, seed: 5 }),
      }),
    );
    const stdout = await slsInvokeLocal('rates', 'events/rates-s3-put.json');
    const reply = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { results: RatesSummary[] };
    expect(reply.results[0]).toMatchObject({ status: 'ok', rows: 500, input: { key: 'uploads/us-counties.csv' } });
  }, 120_000);
  it('a web page gets nothing from the running stack: unsigned and page-sent requests change nothing on any endpoint', async () => {
    const { s3Endpoint, lambdaEndpoint, ec2Endpoint, stateDir } = stack.state;
    const offlinePort = /listening on http:\/\/localhost:(\d+)/.exec(
      readFileSync(path.join(stateDir, 'logs', 'lambda.log'), 'utf8'),
    )?.[1];
    expect(offlinePort, 'serverless-offline announces its private port').toBeDefined();
    const csv = 'county,cancer,population\nx,1,2\n';
    const hostile: [string, string, RequestInit][] = [
      [
        'S3 PUT that would fire the trigger',
        `${s3Endpoint}/${bucket}/uploads/from-a-page.csv`,
        { method: 'PUT', body: csv, headers: { 'content-type': 'text/plain' } },
      ],
      [
        'S3 form POST',
        `${s3Endpoint}/${bucket}`,
        { method: 'POST', body: csv, headers: { 'content-type': 'text/plain', origin: 'http://evil.example' } },
      ],
      [
        'EC2 RunInstances as an <img src>',
        `${ec2Endpoint}/?Action=RunInstances&ImageId=ami-0c1a0ca1000000000&MinCount=1&MaxCount=1`,
        { method: 'GET' },
      ],
      [
        'Lambda invoke, CORS-simple',
        `${lambdaEndpoint}/2015-03-31/functions/cloud-parallel-dev-rates/invocations`,
        { method: 'POST', body: '{"key":"uploads/x.csv"}', headers: { 'content-type': 'text/plain' } },
      ],
      [
        "serverless-offline's own port",
        `http://127.0.0.1:${offlinePort}/2015-03-31/functions/cloud-parallel-dev-rates/invocations`,
        { method: 'POST', body: '{"key":"uploads/x.csv"}' },
      ],
    ];
    for (const [what, url, init] of hostile) {
      const answer = await fetch(url, init);
      expect([401, 403], `${what}: ${answer.status} ${await answer.text()}`).toContain(answer.status);
    }
    await sleep(1000);
    expect(await listKeys('uploads/from-a-page')).toEqual([]);
    expect(await listKeys('results/from-a-page/')).toEqual([]);
    expect(readFileSync(path.join(stateDir, 'logs', 'lambda.log'), 'utf8')).not.toMatch(
      /cloud-parallel-dev-rates.*invocations.*x\.csv/,
    );
  });

  it.skipIf(!awsCli)('the AWS CLI works with what `local env` exports: S3, and Lambda through the front', async () => {
    const env = {
      ...process.env,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_PAGER: '',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const aws = (...args: string[]) => run('aws', args, { env, maxBuffer: 16 * 1024 * 1024 });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'cli/hello.txt', Body: 'hello' }));
    const listed = await aws(
      's3api',
      'list-objects-v2',
      '--endpoint-url',
      stack.state.s3Endpoint,
      '--bucket',
      bucket,
      '--prefix',
      'cli/',
    );
    expect(JSON.parse(listed.stdout)).toMatchObject({
      Contents: [expect.objectContaining({ Key: 'cli/hello.txt', Size: 5 })],
    });
    const out = path.join(workDir, 'invoke.json');
    const invoked = await aws(
      'lambda',
      'invoke',
      '--endpoint-url',
      stack.state.lambdaEndpoint,
      '--function-name',
      'cloud-parallel-dev-primes-worker',
      '--payload',
      '{"start":0,"end":1000}',
      out,
    );
    expect(JSON.parse(invoked.stdout)).toMatchObject({ StatusCode: 200 });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ start: 0, end: 1000, count: 168 });
  });
});
