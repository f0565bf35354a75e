/**
 * The primes fan-out through the real local stack: serverless-offline's Lambda invoke API runs the
 * fan-out function, which invokes the worker function once per chunk. Nothing of ours is mocked.
 */
import path from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createLambdaClient } from '../../lib/aws/lambda.ts';
import { createS3Client } from '../../lib/aws/s3.ts';
import { lambdaBackend } from '../../lib/fanout/index.ts';
import { runPrimesFanout, type PrimesRunResult } from '../../lib/primes/fanout-job.ts';
import { parsePrimesRunInput } from '../../lib/primes/run-input.ts';
import type { PrimesChunkResult, PrimesTask } from '../../lib/primes/worker.ts';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import type { Timeline } from '../../lib/fanout/timeline.ts';
import type { PrimesRunSummary, SavedRun } from '../../lib/primes/run-record.ts';
import { decodePng, darkPixels } from '../support/png.ts';
import { runCli, slsInvokeLocal, useLocalStack } from '../support/stack.ts';
import { useTempDir } from '../support/temp-dir.ts';

const stack = useLocalStack({
  s3: 28569,
  lambda: 28302,
  ec2: 28570,
  mongo: 28017,
  api: 28575,
  http: 28300,
  dashboard: 28580,
});
const outDir = useTempDir('cp-e2e-primes-');

async function readObject(key: string): Promise<Buffer> {
  const bucket = stack.state.service.environment.DATA_BUCKET!;
  const object = await createS3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/** The run's timeline.json agrees with its reply (one row per chunk, the same attempts), and its PNG decodes with text. */
function checkRecord(result: PrimesRunResult, timeline: Timeline, summary: PrimesRunSummary, png: Buffer): void {
  expect(timeline.tasks).toHaveLength(result.chunks.length);
  expect(timeline.tasks.map((t) => t.attempts.length)).toEqual(result.chunks.map((c) => c.attempts));
  expect(timeline.tasks.map((t) => t.outcome)).toEqual(result.chunks.map((c) => (c.error ? 'failed' : 'succeeded')));
  expect(summary).toMatchObject({ count: result.count, chunks: result.chunks.length, wallMs: result.wallMs });
  const image = decodePng(png);
  expect(darkPixels(image, 0, 0, image.width, Math.round(image.height * 0.08))).toBeGreaterThan(500);
}

async function invoke(functionKey: string, payload: unknown): Promise<{ functionError?: string; body: unknown }> {
  const response = await new LambdaClient({}).send(
    new InvokeCommand({
      FunctionName: stack.state.service.functions[functionKey],
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
  return { functionError: response.FunctionError, body: JSON.parse(Buffer.from(response.Payload!).toString()) };
}

describe('primes on the local stack', () => {
  it('the fan-out Lambda counts [1e8, 1.01e8) in 4 parallel worker invocations: 54,208', async () => {
    const { functionError, body } = await invoke('primes-fanout', { start: 100000000, end: 101000000, chunks: 4 });
    expect(functionError).toBeUndefined();
    const result = body as PrimesRunResult;
    expect(result).toMatchObject({ count: 54208, complete: true, backend: 'lambda', failedChunks: [] });
    expect(result.chunks.map((c) => [c.start, c.end])).toEqual([
      [100000000, 100250000],
      [100250000, 100500000],
      [100500000, 100750000],
      [100750000, 101000000],
    ]);
    expect(result.chunks.every((c) => c.count! > 0 && c.ms! > 0 && c.attempts === 1)).toBe(true);
    expect(result.cost).toMatchObject({ requests: 4 });
    expect(result.speedup).toBeGreaterThan(0);
    // The worker's facts are taken out of the values the fan-out returns.
    expect(JSON.stringify(result.chunks)).not.toContain('fanoutWorker');
  });

  it('the fan-out Lambda leaves timeline.{json,svg,png} and summary.json under results/primes/<runId>/ and names them', async () => {
    const { functionError, body } = await invoke('primes-fanout', { start: 100000000, end: 101000000, chunks: 4 });
    expect(functionError).toBeUndefined();
    const result = body as PrimesRunResult & { runId: string; timeline: SavedRun };
    const bucket = stack.state.service.environment.DATA_BUCKET!;
    const prefix = `results/primes/${result.runId}/`;
    expect(result.timeline).toEqual({
      location: `s3://${bucket}/${prefix}`,
      files: {
        'timeline.json': `${prefix}timeline.json`,
        'timeline.svg': `${prefix}timeline.svg`,
        'timeline.png': `${prefix}timeline.png`,
        'summary.json': `${prefix}summary.json`,
      },
    });
    const timeline = JSON.parse((await readObject(result.timeline.files['timeline.json'])).toString()) as Timeline;
    const summary = JSON.parse((await readObject(result.timeline.files['summary.json'])).toString());
    checkRecord(result, timeline, summary, await readObject(result.timeline.files['timeline.png']));
    expect(summary).toMatchObject({ runId: result.runId, backend: 'lambda', count: 54208, cost: { requests: 4 } });
    // Each worker invocation told its container and clock; the corrected spans lie within the coordinator's windows.
    for (const a of timeline.tasks.flatMap((t) => t.attempts)) {
      expect(a.workerId).toMatch(/^lambda-/);
      expect(typeof a.coldStart).toBe('boolean');
      expect(a.submittedMs).toBeLessThanOrEqual(a.startedMs!);
      expect(a.endedMs!).toBeLessThanOrEqual(a.returnedMs);
    }
  });

  it('a fan-out invocation given a runId runs under it: summary.json and a final progress.json under results/primes/<runId>/', async () => {
    const runId = `e2e-run-id.${Date.now()}`;
    const { functionError, body } = await invoke('primes-fanout', {
      start: 100000000,
      end: 101000000,
      chunks: 4,
      runId,
    });
    expect(functionError).toBeUndefined();
    expect(body).toMatchObject({ runId, count: 54208, complete: true });
    const read = async (name: string) =>
      JSON.parse((await readObject(`results/primes/${runId}/${name}`)).toString()) as Record<string, unknown>;
    expect(await read('summary.json')).toMatchObject({ runId, count: 54208, chunks: 4, backend: 'lambda' });
    expect(await read('progress.json')).toMatchObject({
      runId,
      state: 'done',
      start: 100000000,
      end: 101000000,
      chunks: { total: 4, done: 4, failed: 0 },
      numbersCounted: 1000000,
      primes: 54208,
    });
    // An id that is not one safe key segment is refused before anything runs.
    const refused = await invoke('primes-fanout', { start: 0, end: 10, chunks: 1, runId: '../summary' });
    expect(refused.body).toMatchObject({ error: { code: 'INVALID_INPUT', message: expect.stringContaining('runId') } });
  });

  it('the fan-out Lambda drives EC2 itself (events/primes-ec2.json): 54,208, instances terminated, scratch deleted', async () => {
    const event = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'events/primes-ec2.json'), 'utf8'));
    expect(event.backend).toBe('ec2');
    const { functionError, body } = await invoke('primes-fanout', event);
    expect(functionError).toBeUndefined();
    const result = body as PrimesRunResult & { ec2: { runId: string } };
    expect(result).toMatchObject({ count: 54208, complete: true, backend: 'ec2', failedChunks: [] });
    expect(result.cost).toMatchObject({ backend: 'ec2', instances: event.chunks });
    const ec2 = new EC2Client({});
    const described = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:cloud-parallel:run-id', Values: [result.ec2.runId] }] }),
    );
    const instances = described.Reservations!.flatMap((r) => r.Instances!);
    expect(instances).toHaveLength(event.chunks);
    expect(instances.every((i) => ['shutting-down', 'terminated'].includes(i.State!.Name!))).toBe(true);
    const bucket = stack.state.service.environment.DATA_BUCKET!;
    const scratch = await createS3Client().send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `runs/${result.ec2.runId}/` }),
    );
    expect(scratch.KeyCount).toBe(0);
  });

  it('a retried or duplicated fan-out (Lambda delivers at least once) gives the same counts, chunk by chunk', async () => {
    // A retry after a lost reply, racing the delivery it repeats, on each backend: nothing is shared between runs
    // but the data bucket, and EC2 runs keep to a scratch prefix of their own.
    const lambdaEvent = { start: 100000000, end: 101000000, chunks: 4 };
    const ec2Event = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'events/primes-ec2.json'), 'utf8'));
    const replies = await Promise.all([
      invoke('primes-fanout', lambdaEvent),
      invoke('primes-fanout', lambdaEvent),
      invoke('primes-fanout', ec2Event),
      invoke('primes-fanout', ec2Event),
    ]);
    const results = replies.map(({ functionError, body }) => {
      expect(functionError).toBeUndefined();
      return body as PrimesRunResult & { ec2?: { runId: string } };
    });
    const countsOf = (result: PrimesRunResult) => ({
      count: result.count,
      complete: result.complete,
      chunks: result.chunks.map((c) => [c.start, c.end, c.count]),
    });
    expect(results.map((result) => result.count)).toEqual([54208, 54208, 54208, 54208]);
    expect(countsOf(results[1]!)).toEqual(countsOf(results[0]!));
    expect(countsOf(results[3]!)).toEqual(countsOf(results[2]!));
    const [first, second] = [results[2]!.ec2!.runId, results[3]!.ec2!.runId];
    expect(first).not.toBe(second);
    const bucket = stack.state.service.environment.DATA_BUCKET!;
    for (const runId of [first, second]) {
      const scratch = await createS3Client().send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `runs/${runId}/` }),
      );
      expect(scratch.KeyCount).toBe(0);
    }
  });

  it('answers invalid input with an error object, not a crash', async () => {
    const { functionError, body } = await invoke('primes-fanout', { start: 10, end: 1, chunks: 2 });
    expect(functionError).toBeUndefined();
    expect(body).toEqual({ error: { code: 'INVALID_INPUT', message: expect.stringContaining('start must be ≤ end') } });
  });

  it('a worker that rejects its task is a function error, named per chunk', async () => {
    const { functionError, body } = await invoke('primes-worker', { start: 0, end: 20_000_001, includePrimes: true });
    expect(functionError).toBeDefined();
    expect(JSON.stringify(body)).toContain('includePrimes is limited');
  });

  it('a worker writes a prime list too big for its reply to the data bucket and returns where', async () => {
    // 482,449 primes in [1e9, 1.01e9) (counted by primesieve 11): 5.3 MB of JSON, over the 5 MB inline limit.
    const { functionError, body } = await invoke('primes-worker', { start: 1e9, end: 1.01e9, includePrimes: true });
    expect(functionError).toBeUndefined();
    const bucket = stack.state.service.environment.DATA_BUCKET!;
    expect(body).toMatchObject({
      count: 482_449,
      primesObject: `s3://${bucket}/results/primes/1000000000-1010000000.json`,
    });
    const object = await createS3Client().send(
      new GetObjectCommand({ Bucket: bucket, Key: 'results/primes/1000000000-1010000000.json' }),
    );
    const primes = JSON.parse(await object.Body!.transformToString()) as number[];
    expect(primes).toHaveLength(482_449);
    expect(primes[0]).toBe(1_000_000_007);
  });

  it('the stack answers the EC2 API with the real SDK client through AWS_ENDPOINT_URL_EC2', async () => {
    const ec2 = new EC2Client({});
    const launched = await ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        MinCount: 1,
        MaxCount: 1,
        InstanceInitiatedShutdownBehavior: 'terminate',
        UserData: Buffer.from('#!/bin/bash\nsleep 30\n').toString('base64'),
      }),
    );
    const id = launched.Instances![0]!.InstanceId!;
    expect(id).toMatch(/^i-[0-9a-f]{17}$/);
    const terminated = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(terminated.TerminatingInstances![0]!.CurrentState!.Name).toMatch(/shutting-down|terminated/);
  });

  it('names every chunk when the worker function does not exist, without retrying', async () => {
    const backend = lambdaBackend<PrimesTask, PrimesChunkResult>({
      client: createLambdaClient(),
      functionName: 'cloud-parallel-dev-no-such-worker',
    });
    const result = await runPrimesFanout(parsePrimesRunInput({ start: 0, end: 1000, chunks: 3 }), backend, {
      retries: 3,
    });
    expect(result.complete).toBe(false);
    expect(result.failedChunks).toHaveLength(3);
    for (const chunk of result.failedChunks) {
      expect(chunk).toMatchObject({ attempts: 1, error: { type: 'ResourceNotFoundException' } });
    }
  });

  it('`cloud-parallel primes --json` drives the workers and reports the exact count; bad input is an error object', async () => {
    // [1e8, 1.01e8) holds 54,208 primes, on either backend.
    const range = ['primes', '--start', '1e8', '--end', '101000000'];
    const { stdout } = await runCli(stack, [...range, '--chunks', '3', '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ count: 54208, complete: true, backend: 'lambda' });
    const onEc2 = await runCli(stack, [...range, '--chunks', '2', '--backend', 'ec2', '--json']);
    expect(JSON.parse(onEc2.stdout)).toMatchObject({
      count: 54208,
      complete: true,
      backend: 'ec2',
      cost: { backend: 'ec2', instances: 2 },
    });

    // --out downloads the run's files; the EC2 run's timeline knows its instances.
    const withOut = await runCli(stack, [...range, '--chunks', '2', '--backend', 'ec2', '--out', outDir(), '--json']);
    const ec2Result = JSON.parse(withOut.stdout) as PrimesRunResult & { runId: string };
    const timeline = JSON.parse(readFileSync(path.join(outDir(), 'timeline.json'), 'utf8')) as Timeline;
    const summary = JSON.parse(readFileSync(path.join(outDir(), 'summary.json'), 'utf8')) as PrimesRunSummary;
    checkRecord(ec2Result, timeline, summary, readFileSync(path.join(outDir(), 'timeline.png')));
    expect(summary.runId).toBe(ec2Result.runId);
    for (const a of timeline.tasks.flatMap((t) => t.attempts)) {
      expect(a.instanceId).toMatch(/^i-/);
      expect(a.startedMs).toBeDefined();
    }

    const failed = await runCli(stack, ['primes', '--start', '5', '--end', 'ten', '--json']).catch(
      (error: { code: number; stdout: string }) => error,
    );
    expect(failed).toMatchObject({ code: 1 });
    expect(JSON.parse((failed as { stdout: string }).stdout)).toEqual({
      error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('--end must be a whole number') },
    });
  });

  it('`sls invoke local -f primes-fanout -p events/primes-seed.json` fans out to the local workers', async () => {
    const stdout = await slsInvokeLocal('primes-fanout', 'events/primes-seed.json');
    expect(JSON.parse(stdout.slice(stdout.indexOf('{')))).toMatchObject({ count: 54208, complete: true });
  }, 120_000);
});
