/**
 * A split rates run with its chunks on EC2 instances, through the local EC2 endpoint (instances are processes
 * running the user data, with presigned URLs and no credentials) and a local S3 server, nothing mocked: it must
 * publish what the single path publishes for the same upload, terminate every instance and leave no scratch.
 * The URL-based worker is also run in process behind the presigning decorator, to check that a replaced upload
 * fails its chunk as SOURCE_CHANGED.
 */
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { RatesDefaults } from '../../../../lib/config.ts';
import type { Timeline } from '../../../../lib/fanout/timeline.ts';
import { runRatesJob } from '../../../../lib/rates/job.ts';
import type { RatesJobOutcome, RatesSummary } from '../../../../lib/rates/outcome.ts';
import { ec2ParallelSetup, presigningBackend } from '../../../../lib/rates/parallel/ec2-tasks.ts';
import { run as runChunkOnInstance } from '../../../../lib/rates/parallel/ec2-worker.ts';
import type { ParseTask } from '../../../../lib/rates/parallel/tasks.ts';
import { useLocalEc2 } from '../../../support/ec2.ts';
import { corpus } from './corpus.ts';

const local = useLocalEc2('parallel-rates-ec2');
const BUCKET = local.bucket;
const DEFAULTS: RatesDefaults = { numerator: 'num', denominator: 'den', bins: 10 };

async function bytes(key: string): Promise<Buffer> {
  const object = await local.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/**
 * summary.json minus what differs between two runs of one upload (timings, run id) and what only a split run has
 * (the parallel section, the timeline among the outputs).
 */
async function publishedSummary(name: string): Promise<object> {
  const {
    timings: _t,
    finishedAt: _f,
    parallel: _p,
    runId: _r,
    outputs: { timeline: _tl, ...outputs },
    ...rest
  } = JSON.parse((await bytes(`results/${name}/summary.json`)).toString()) as RatesSummary;
  return { ...rest, outputs };
}

function expectSummary(outcome: RatesJobOutcome): RatesSummary {
  if (outcome.status !== 'ok') throw new Error(`expected a summary, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('a split rates run on EC2 instances', () => {
  it('publishes what the single path publishes, terminates every instance and leaves nothing behind', async () => {
    // Guesses inside its long quoted field go wrong: the run needs re-runs from known starts too.
    const file = corpus().find((f) => f.name === 'quoted fake rows')!;
    const name = 'fake-rows';
    const key = `uploads/${name}.csv`;
    await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: file.csv }));
    const single = expectSummary(await runRatesJob(local.s3, { bucket: BUCKET, key }, DEFAULTS));
    const expectedCsv = await bytes(`results/${name}/rates.csv`);
    const expectedSummary = await publishedSummary(name);

    // A new run id, so the job does not answer with the single run's summary.
    await local.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: file.csv, Metadata: { 'run-id': 'ec2-split' } }),
    );
    const before = local.ec2Server.instances().length;
    const setup = ec2ParallelSetup({ ec2: local.ec2, s3: local.s3 }, local.config(), {
      aboveBytes: Number.MAX_SAFE_INTEGER,
      chunkBytes: 64 * 1024 * 1024,
    });
    const split = expectSummary(
      await runRatesJob(local.s3, { bucket: BUCKET, key, split: { chunkBytes: 4096 } }, DEFAULTS, undefined, {
        parallel: setup,
      }),
    );

    expect((await bytes(`results/${name}/rates.csv`)).equals(expectedCsv), 'rates.csv bytes').toBe(true);
    expect(await publishedSummary(name)).toEqual(expectedSummary);
    expect(split.stats).toEqual(single.stats);
    expect(split.parallel).toMatchObject({ chunks: 3 });
    expect(split.parallel?.reruns, 'a chunk re-run from a known start, on an instance of its own').toBeGreaterThan(0);
    // The cost is the instances' (EC2 bills a minute at least per instance), not Lambda's.
    expect(split.parallel?.cost?.usd).toBeGreaterThan(0);
    const launched = local.ec2Server.instances().length - before;
    // Three parse tasks and at least one statistics round over the three chunks, one instance each.
    expect(launched).toBeGreaterThanOrEqual(6);
    // The timeline has every one of them: an attempt per instance launched, each named by its instance.
    const timeline = JSON.parse((await bytes(`results/${name}/timeline.json`)).toString()) as Timeline;
    const attempts = timeline.tasks.flatMap((t) => t.attempts);
    expect(attempts).toHaveLength(launched);
    expect(new Set(attempts.map((a) => a.instanceId)).size).toBe(launched);
    expect(attempts.every((a) => a.instanceId?.startsWith('i-') && a.launchToRunningMs !== undefined)).toBe(true);
    await expect
      .poll(() => local.states(before), { timeout: 15_000 })
      .toEqual(Array.from({ length: launched }, () => 'terminated'));
    expect(await local.scratchKeys()).toEqual([]);
    const open = await local.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(open.Uploads ?? []).toEqual([]);
  }, 180_000);
});

describe('the URL-based chunk worker behind the presigning decorator', () => {
  /** The decorator over a "backend" that runs the instance's worker in this process. */
  const inProcess = () =>
    presigningBackend(
      { name: 'in-process', run: (task) => runChunkOnInstance(task) },
      { s3: local.s3, expiresIn: 600 },
    );
  const csv = 'id,name,num,den\n1,a,1,2\n2,b,3,4\n3,c,5,8\n';
  const header = { columns: ['id', 'name', 'num', 'den'], numIdx: 2, denIdx: 3, rateColumn: 'num_per_den' };

  async function parseTask(key: string, eTag: string): Promise<ParseTask> {
    return {
      kind: 'parse',
      source: { bucket: BUCKET, key, eTag, size: Buffer.byteLength(csv) },
      index: 1,
      s: 16,
      e: Buffer.byteLength(csv),
      start: { kind: 'known', at: 16 },
      options: DEFAULTS,
      header,
      headerLine: null,
      output: { csv: 'runs/rates/t/u/csv/1-16', values: 'runs/rates/t/u/values/1-16' },
      parts: null,
    };
  }

  it('answers the key-based result: the rows it wrote to the keys the task named', async () => {
    const key = 'uploads/in-process.csv';
    const put = await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv }));
    const result = await inProcess().run(await parseTask(key, put.ETag!.replaceAll('"', '')), { index: 1, attempt: 1 });
    expect(result).toMatchObject({
      reply: { rows: 3, n: 3, badRows: 0 },
      csv: { key: 'runs/rates/t/u/csv/1-16' },
      values: { key: 'runs/rates/t/u/values/1-16', bytes: 24 },
    });
    const values = new Float64Array(new Uint8Array(await bytes('runs/rates/t/u/values/1-16')).buffer);
    expect([...values]).toEqual([1 / 2, 3 / 4, 5 / 8]);
    const head = await local.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'runs/rates/t/u/csv/1-16' }));
    expect((result as { csv: { eTag: string } }).csv.eTag).toBe(head.ETag);
  });

  it('fails the chunk as SOURCE_CHANGED when the upload was replaced after the coordinator read it', async () => {
    const key = 'uploads/replaced.csv';
    const first = await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv }));
    await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `${csv}4,d,1,1\n` }));
    const task = await parseTask(key, first.ETag!.replaceAll('"', ''));
    await expect(inProcess().run(task, { index: 1, attempt: 1 })).rejects.toMatchObject({
      name: 'SourceChangedError',
      code: 'SOURCE_CHANGED',
      message: expect.stringMatching(/was replaced while the parallel run was reading it/),
    });
  });
});
