/**
 * lib/rates/parallel/worker.ts against the local S3 server, through the real SDK v3 client (the rig:
 * worker-rig.ts): a run's parse tasks write what the single path writes, stats tasks answer what the in-memory
 * answer gives, and the local backend's threads run the module-level entry point. Failures: worker-failures.test.ts.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { fanout, localBackend } from '../../../../lib/fanout/index.ts';
import { planChunks } from '../../../../lib/rates/parallel/chunks.ts';
import { encodeChunkReply } from '../../../../lib/rates/parallel/reply.ts';
import { answerStatsPlan, chunkValuesOf, StatsRounds } from '../../../../lib/rates/parallel/stats-rounds.ts';
import { type ParseResult, type ParseTask, parseResultSchema } from '../../../../lib/rates/parallel/tasks.ts';
import { valuesObjectOf } from '../../../../lib/rates/parallel/values-object.ts';
import { runWorkerTask } from '../../../../lib/rates/parallel/worker.ts';
import { TEST_CREDENTIALS } from '../../../support/signing.ts';
import { corpus } from './corpus.ts';
import { headerOf } from './runs.ts';
import {
  BUCKET,
  bytesOf,
  expectSameAsSingle,
  generated,
  inMemory,
  openUploads,
  parseChecked,
  parseTask,
  rig,
  runThroughWorker,
  single,
  upload,
  useWorkerRig,
} from './worker-rig.ts';

useWorkerRig();

// ---------------------------------------------------------------------------------------------------------
// the parse task
// ---------------------------------------------------------------------------------------------------------

const FILES = [
  'normal',
  'quoted fake rows',
  'quoted commas and newlines',
  'crlf',
  'bom',
  'unicode',
  'bad rows near boundaries',
  'record longer than a chunk',
  'extra columns',
  'no trailing newline, quoted end',
  'negative zero and extremes',
];

describe('parse tasks: a run through the worker writes what the single path writes', () => {
  for (const name of FILES) {
    it(name, async () => {
      const file = corpus().find((f) => f.name === name);
      if (file === undefined) throw new Error(`the corpus has no file "${name}"`);
      const source = await upload(`uploads/${name}.csv`, file.csv);
      const run = await runThroughWorker(source, name.replaceAll(' ', '-'), 4096);
      expect(run.ranges.length).toBeGreaterThan(1);
      // A guess inside a quoted field goes wrong: the re-run path ran too.
      if (name === 'quoted fake rows') expect(run.reruns).toBeGreaterThan(0);
      await expectSameAsSingle(source, run, await single(file.csv));
      expect(await openUploads()).toEqual([]);
    });
  }

  it('a chunk with no rows still writes its (empty) objects', async () => {
    const csv = Buffer.from('id,name,num,den\n1,a,2,3\n');
    const source = await upload('uploads/tiny.csv', csv);
    const header = headerOf(csv);
    const last = { index: 1, s: csv.length, e: csv.length };
    // A guess at the end of the file, and a re-run told to start there (read with a HeadObject: S3 has no range
    // starting at an object's end): both own nothing, and both check the upload is still the same.
    for (const [start, out] of [
      [{ kind: 'guess' }, 'runs/rates/tiny/1-0'],
      [{ kind: 'known', at: csv.length }, 'runs/rates/tiny/1-1'],
    ] as const) {
      const result = await parseChecked(rig.s3, source, parseTask(source, header, last, start, out));
      expect(result.reply.n).toBe(0);
      expect([result.csv.bytes, result.values.bytes]).toEqual([0, 0]);
    }
    expect(rig.sent).toContain('HeadObject');
  });

  it('multipart outputs: a large file in two chunks, and each GET is dropped once its chunk is done', async () => {
    const csv = generated(600_000);
    const source = await upload('uploads/large.csv', csv);
    const run = await runThroughWorker(source, 'large', Math.ceil((csv.length - headerOf(csv).dataStart) / 2));
    expect(run.ranges.length).toBe(2);
    // More than a part's 5 MiB: the csv went up as a multipart upload.
    expect(rig.sent).toContain('CreateMultipartUpload');
    expect(run.results[0]?.csv.bytes).toBeGreaterThan(5 * 1024 * 1024);
    const gets = rig.bodies.length;
    expect(gets).toBeGreaterThan(0);
    expect(rig.bodies.every((b) => b.destroyed)).toBe(true);
    await expectSameAsSingle(source, run, await single(csv));
  });
});

// ---------------------------------------------------------------------------------------------------------
// the stats task
// ---------------------------------------------------------------------------------------------------------

describe('stats tasks', () => {
  it('every round answers what answerStatsPlan answers over the same values in memory', async () => {
    const file = corpus().find((f) => f.name === 'bad rows near boundaries');
    if (file === undefined) throw new Error('the corpus lost a file');
    const source = await upload('uploads/stats.csv', file.csv);
    const run = await runThroughWorker(source, 'stats', 4096);
    const expected = await single(file.csv);
    // Each chunk's values, cut from the single path's values by the counts the replies give.
    const all = new Float64Array(new Uint8Array(expected.values).buffer);
    const chunks: Float64Array[] = [];
    let at = 0;
    for (const r of run.results) {
      chunks.push(all.subarray(at, at + r.reply.n));
      at += r.reply.n;
    }
    expect(at).toBe(all.length);
    // Small limits: several refine rounds, each answered by the worker from S3.
    const rounds = new StatsRounds({
      n: all.length,
      min: expected.stats.min,
      max: expected.stats.max,
      bins: 10,
      limits: { buckets: 16, collectLimit: 16 },
    });
    while (rounds.plan !== null) {
      const plan = rounds.plan;
      const answers = await Promise.all(
        run.results.map((r) =>
          runWorkerTask(rig.s3, {
            kind: 'stats',
            values: { bucket: BUCKET, key: r.values.key, eTag: r.values.eTag, count: r.reply.n },
            plan,
          }),
        ),
      );
      const inMemoryAnswers = await Promise.all(chunks.map((c) => answerStatsPlan(plan, chunkValuesOf(c))));
      expect(answers).toEqual(inMemoryAnswers);
      rounds.merge(answers);
    }
    expect(rounds.rounds).toBeGreaterThan(2);
    expect(rounds.result().mean).toBe(expected.stats.mean);
  });

  it('re-blocks the values whatever the block size (a block boundary anywhere in a network chunk)', async () => {
    const values = Float64Array.from({ length: 200_003 }, (_, i) => Math.sin(i) * 1e6);
    const body = Buffer.from(values.buffer);
    const put = await rig.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'runs/rates/blocks/v', Body: body }));
    const object = { bucket: BUCKET, key: 'runs/rates/blocks/v', eTag: put.ETag as string, count: values.length };
    for (const size of [7, 1000, 65_536]) {
      const seen: Buffer[] = [];
      const lengths: number[] = [];
      await valuesObjectOf(rig.s3, object, size).forEachBlock((block) => {
        lengths.push(block.length);
        seen.push(Buffer.from(new Float64Array(block).buffer));
      });
      expect(Buffer.concat(seen).equals(body)).toBe(true);
      expect(lengths.slice(0, -1).every((n) => n === size)).toBe(true);
    }
  });

  it('refuses a values object that is not 8 × count bytes, naming it', async () => {
    const key = 'runs/rates/short/v';
    const put = await rig.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.alloc(8 * 10) }));
    const plan = new StatsRounds({ n: 11, min: 0, max: 1, bins: 4 }).plan;
    await expect(
      runWorkerTask(rig.s3, {
        kind: 'stats',
        values: { bucket: BUCKET, key, eTag: put.ETag as string, count: 11 },
        plan,
      }),
    ).rejects.toThrow(`s3://${BUCKET}/${key} holds 80 bytes, not 8 × 11 = 88`);
  });
});

// ---------------------------------------------------------------------------------------------------------
// the local fan-out backend's entry point
// ---------------------------------------------------------------------------------------------------------

describe("runRatesWorkerTask in the local backend's worker threads", () => {
  it('runs parse tasks with its own S3 client, and a replaced upload comes back as SourceChangedError', async () => {
    // The threads build their client from the environment (createS3Client), as a Lambda container does.
    vi.stubEnv('AWS_ENDPOINT_URL_S3', rig.local.server.endpoint);
    vi.stubEnv('S3_FORCE_PATH_STYLE', 'true');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', TEST_CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', TEST_CREDENTIALS.secretAccessKey);
    const backend = localBackend<ParseTask, ParseResult>({
      module: new URL('../../../../lib/rates/parallel/worker.ts', import.meta.url),
      exportName: 'runRatesWorkerTask',
      threads: 2,
      parse: (value) => parseResultSchema.parse(value),
    });
    try {
      const file = corpus().find((f) => f.name === 'crlf');
      if (file === undefined) throw new Error('the corpus lost a file');
      const source = await upload('uploads/threads.csv', file.csv);
      const header = headerOf(file.csv);
      const ranges = planChunks({ dataStart: header.dataStart, size: file.csv.length, workers: 3 });
      const tasks = ranges.map((r) =>
        parseTask(
          source,
          header,
          r,
          r.index === 0 ? { kind: 'known', at: r.s } : { kind: 'guess' },
          `runs/rates/t/${r.index}`,
        ),
      );
      const run = await fanout(tasks, backend, { retries: 0 });
      expect(run.failed).toBe(0);
      for (const [i, outcome] of run.outcomes.entries()) {
        if (!outcome.ok) throw new Error(outcome.error.message);
        const expected = await inMemory(file.csv, tasks[i] as ParseTask);
        expect(outcome.value.reply).toEqual(encodeChunkReply(expected.reply));
        expect((await bytesOf(outcome.value.csv.key)).equals(expected.out)).toBe(true);
      }
      await upload('uploads/threads.csv', Buffer.concat([file.csv, file.csv]));
      const again = await fanout(tasks.slice(0, 1), backend, { retries: 0 });
      expect(again.outcomes[0]).toMatchObject({
        ok: false,
        error: { kind: 'function', type: 'SourceChangedError', message: expect.stringContaining('was replaced') },
      });
    } finally {
      await backend.close?.();
      vi.unstubAllEnvs();
    }
  });
});
