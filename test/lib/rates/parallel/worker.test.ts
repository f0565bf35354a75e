/**
 * lib/rates/parallel/worker.ts against the local S3 server (a child process on port 0), through the real SDK v3
 * client. The expected outputs come from the single path (computeRates, runs.ts's runSingle) and from the pure
 * pieces run in memory on the same task (parseRange, answerStatsPlan over chunkValuesOf) — never from the worker.
 * What went over the wire is seen by a middleware on the client's own stack, and faults come from the fault proxy
 * (local-stack/fault-proxy.ts) between a second client and the server.
 */
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../../../lib/errors.ts';
import { fanout, localBackend } from '../../../../lib/fanout/index.ts';
import { type ChunkRange, planChunks, verifyChunks } from '../../../../lib/rates/parallel/chunks.ts';
import type { FileHeader } from '../../../../lib/rates/parallel/header.ts';
import { mergeChunks } from '../../../../lib/rates/parallel/merge.ts';
import { parseRange, readStart } from '../../../../lib/rates/parallel/range-parse.ts';
import { type ChunkReply, decodeChunkReply, encodeChunkReply } from '../../../../lib/rates/parallel/reply.ts';
import { answerStatsPlan, chunkValuesOf, StatsRounds } from '../../../../lib/rates/parallel/stats-rounds.ts';
import { type ParseResult, type ParseTask, parseResultSchema } from '../../../../lib/rates/parallel/tasks.ts';
import { valuesObjectOf } from '../../../../lib/rates/parallel/values-object.ts';
import { runWorkerTask } from '../../../../lib/rates/parallel/worker.ts';
import { SourceChangedError } from '../../../../lib/rates/parallel/worker-errors.ts';
import { type FaultProxy, startFaultProxy } from '../../../../local-stack/fault-proxy.ts';
import { freePort } from '../../../../local-stack/shared/server-process.ts';
import { testS3Client } from '../../../support/clients.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../../support/local-s3.ts';
import { TEST_CREDENTIALS } from '../../../support/signing.ts';
import { corpus } from './corpus.ts';
import { Collector, headerOf, OPTS, type Outcome, pieces, rangesAt, runSingle } from './runs.ts';

const BUCKET = 'rates-worker-test';

let local: LocalS3;
let s3: S3Client;
let proxy: FaultProxy;
/** Through the fault proxy, one attempt per request, so a fault is seen unretried. */
let faulty: S3Client;
/** Commands sent by `s3` since the last test began, and the bodies of its GetObject answers. */
let sent: string[] = [];
let bodies: Readable[] = [];

beforeAll(async () => {
  // The proxy forwards its client's Host (its own name), so the server must know that name before it starts.
  const proxyPort = await freePort();
  local = await startLocalS3([BUCKET], 'cp-rates-worker-', { hostAliases: [`127.0.0.1:${proxyPort}`] });
  s3 = local.s3;
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push((context.commandName ?? '?').replace(/Command$/, ''));
      const result = await next(args);
      const body = (result.output as { Body?: unknown }).Body;
      if (context.commandName === 'GetObjectCommand' && body !== undefined) bodies.push(body as Readable);
      return result;
    },
    { step: 'initialize', name: 'recordRequests' },
  );
  proxy = await startFaultProxy({ target: local.server.endpoint, port: proxyPort });
  faulty = testS3Client(proxy.endpoint, 1);
});

afterAll(async () => {
  faulty?.destroy();
  await proxy?.close();
  await stopLocalS3(local ?? {});
});

beforeEach(() => {
  sent = [];
  bodies = [];
  proxy.clearRules();
});

// ---------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------

interface Source {
  key: string;
  csv: Buffer;
  eTag: string;
}

async function upload(key: string, csv: Buffer): Promise<Source> {
  const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv }));
  return { key, csv, eTag: put.ETag as string };
}

async function bytesOf(key: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function exists(key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

async function openUploads(): Promise<string[]> {
  const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  return (listed.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`);
}

function parseTask(
  source: Source,
  header: FileHeader,
  range: ChunkRange,
  start: ParseTask['start'],
  out: string,
): ParseTask {
  return {
    kind: 'parse',
    source: { bucket: BUCKET, key: source.key, eTag: source.eTag, size: source.csv.length },
    index: range.index,
    s: range.s,
    e: range.e,
    start,
    options: OPTS,
    header: header.info,
    headerLine: range.index === 0 ? header.outputLine.toString('base64') : null,
    output: { csv: `${out}.csv`, values: `${out}.values` },
  };
}

/** The same task run in memory by the pure piece the worker wraps: what the worker must have written and said. */
async function inMemory(csv: Buffer, task: ParseTask): Promise<{ reply: ChunkReply; out: Buffer; values: Buffer }> {
  const out = new Collector();
  const values = new Collector();
  const headerLine = task.headerLine === null ? null : Buffer.from(task.headerLine, 'base64');
  const range = { options: task.options, header: task.header, s: task.s, e: task.e, start: task.start, headerLine };
  const reply = await parseRange(pieces(csv.subarray(readStart(range)), 4096), range, out, values);
  return { reply, out: out.bytes(), values: values.bytes() };
}

/** One parse task through the worker, checked against the same task in memory and against what S3 holds. */
async function parseChecked(client: S3Client, source: Source, task: ParseTask): Promise<ParseResult> {
  const result = parseResultSchema.parse(await runWorkerTask(client, task));
  const expected = await inMemory(source.csv, task);
  expect(result.reply).toEqual(encodeChunkReply(expected.reply));
  const [csv, values] = await Promise.all([bytesOf(result.csv.key), bytesOf(result.values.key)]);
  expect(csv.equals(expected.out)).toBe(true);
  expect(values.equals(expected.values)).toBe(true);
  expect([result.csv.bytes, result.values.bytes]).toEqual([csv.length, values.length]);
  return result;
}

interface WorkerRun {
  ranges: ChunkRange[];
  results: ParseResult[];
  reruns: number;
}

/**
 * A whole parse phase as the coordinator drives it (runs.ts's runParallel), every chunk through the worker:
 * ranges of `chunkBytes`, or (for a file too small for planChunks' 4 KiB minimum) thirds of it.
 */
async function runThroughWorker(source: Source, run: string, chunkBytes: number): Promise<WorkerRun> {
  const header = headerOf(source.csv);
  const { dataStart } = header;
  const size = source.csv.length;
  const third = Math.floor((size - dataStart) / 3);
  const ranges =
    size - dataStart > chunkBytes
      ? planChunks({ dataStart, size, chunkBytes })
      : rangesAt(dataStart, size, [dataStart + third, dataStart + 2 * third]);
  const out = (r: ChunkRange, round: number) => `runs/rates/${run}/${r.index}-${round}`;
  const results = await Promise.all(
    ranges.map((r) =>
      parseChecked(
        s3,
        source,
        parseTask(source, header, r, r.index === 0 ? { kind: 'known', at: r.s } : { kind: 'guess' }, out(r, 0)),
      ),
    ),
  );
  let reruns = 0;
  for (let round = 1; ; round++) {
    const { rerun } = verifyChunks(
      ranges,
      results.map((r) => decodeChunkReply(r.reply)),
    );
    if (rerun.length === 0) break;
    reruns += rerun.length;
    for (const { index, start } of rerun) {
      const r = ranges[index] as ChunkRange;
      results[index] = await parseChecked(
        s3,
        source,
        parseTask(source, header, r, { kind: 'known', at: start }, out(r, round)),
      );
    }
  }
  return { ranges, results, reruns };
}

type Success = Exclude<Outcome, { error: unknown }>;

async function single(csv: Buffer): Promise<Success> {
  const outcome = await runSingle(csv);
  if ('error' in outcome) throw new Error(`the single path refused the file: ${outcome.error.message}`);
  return outcome;
}

/** The worker's scratch objects, concatenated in chunk order, against the single path's rates.csv and values. */
async function expectSameAsSingle(source: Source, run: WorkerRun, expected: Success): Promise<void> {
  const csv = Buffer.concat(await Promise.all(run.results.map((r) => bytesOf(r.csv.key))));
  const values = Buffer.concat(await Promise.all(run.results.map((r) => bytesOf(r.values.key))));
  expect(csv.equals(expected.out)).toBe(true);
  expect(values.equals(expected.values)).toBe(true);
  const merged = mergeChunks(
    headerOf(source.csv),
    run.ranges,
    run.results.map((r) => decodeChunkReply(r.reply)),
    source.csv.length,
  );
  const { rows, badRows, badRowSamples, min, max, mean } = merged;
  expect({ rows, badRows, badRowSamples, min, max, mean }).toEqual({
    rows: expected.rows,
    badRows: expected.badRows,
    badRowSamples: expected.badRowSamples,
    min: expected.min,
    max: expected.max,
    mean: expected.mean,
  });
}

/** `rows` rows of `id,name,num,den`, about 24 bytes each. */
function generated(rows: number): Buffer {
  const lines = ['id,name,num,den'];
  for (let i = 0; i < rows; i++) lines.push(`${i},n${i},${(i * 37) % 1000},${1 + ((i * 7919) % 5000)}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

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
      const result = await parseChecked(s3, source, parseTask(source, header, last, start, out));
      expect(result.reply.n).toBe(0);
      expect([result.csv.bytes, result.values.bytes]).toEqual([0, 0]);
    }
    expect(sent).toContain('HeadObject');
  });

  it('multipart outputs: a large file in two chunks, and each GET is dropped once its chunk is done', async () => {
    const csv = generated(600_000);
    const source = await upload('uploads/large.csv', csv);
    const run = await runThroughWorker(source, 'large', Math.ceil((csv.length - headerOf(csv).dataStart) / 2));
    expect(run.ranges.length).toBe(2);
    // More than a part's 5 MiB: the csv went up as a multipart upload.
    expect(sent).toContain('CreateMultipartUpload');
    expect(run.results[0]?.csv.bytes).toBeGreaterThan(5 * 1024 * 1024);
    const gets = bodies.length;
    expect(gets).toBeGreaterThan(0);
    expect(bodies.every((b) => b.destroyed)).toBe(true);
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
      min: expected.min,
      max: expected.max,
      bins: 10,
      limits: { buckets: 16, collectLimit: 16 },
    });
    while (rounds.plan !== null) {
      const plan = rounds.plan;
      const answers = await Promise.all(
        run.results.map((r) =>
          runWorkerTask(s3, {
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
    expect(rounds.result().mean).toBe(expected.mean);
  });

  it('re-blocks the values whatever the block size (a block boundary anywhere in a network chunk)', async () => {
    const values = Float64Array.from({ length: 200_003 }, (_, i) => Math.sin(i) * 1e6);
    const body = Buffer.from(values.buffer);
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'runs/rates/blocks/v', Body: body }));
    const object = { bucket: BUCKET, key: 'runs/rates/blocks/v', eTag: put.ETag as string, count: values.length };
    for (const size of [7, 1000, 65_536]) {
      const seen: Buffer[] = [];
      const lengths: number[] = [];
      await valuesObjectOf(s3, object, size).forEachBlock((block) => {
        lengths.push(block.length);
        seen.push(Buffer.from(new Float64Array(block).buffer));
      });
      expect(Buffer.concat(seen).equals(body)).toBe(true);
      expect(lengths.slice(0, -1).every((n) => n === size)).toBe(true);
    }
  });

  it('refuses a values object that is not 8 × count bytes, naming it', async () => {
    const key = 'runs/rates/short/v';
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.alloc(8 * 10) }));
    const plan = new StatsRounds({ n: 11, min: 0, max: 1, bins: 4 }).plan;
    await expect(
      runWorkerTask(s3, { kind: 'stats', values: { bucket: BUCKET, key, eTag: put.ETag as string, count: 11 }, plan }),
    ).rejects.toThrow(`s3://${BUCKET}/${key} holds 80 bytes, not 8 × 11 = 88`);
  });
});

// ---------------------------------------------------------------------------------------------------------
// refusals and failures
// ---------------------------------------------------------------------------------------------------------

describe('refusals and failures', () => {
  it('an upload replaced between two chunks fails the second with a message naming it (412)', async () => {
    const file = corpus().find((f) => f.name === 'normal');
    if (file === undefined) throw new Error('the corpus lost a file');
    const source = await upload('uploads/replaced.csv', file.csv);
    const header = headerOf(file.csv);
    const [first, second] = planChunks({ dataStart: header.dataStart, size: file.csv.length, workers: 2 });
    if (first === undefined || second === undefined) throw new Error('expected two chunks');
    await parseChecked(s3, source, parseTask(source, header, first, { kind: 'known', at: first.s }, 'runs/rates/r/0'));
    await upload('uploads/replaced.csv', Buffer.concat([file.csv, Buffer.from('9,new,1,2\n')]));
    const failed = runWorkerTask(s3, parseTask(source, header, second, { kind: 'guess' }, 'runs/rates/r/1'));
    await expect(failed).rejects.toThrow(SourceChangedError);
    await expect(failed).rejects.toThrow(
      `s3://${BUCKET}/uploads/replaced.csv was replaced while the parallel run was reading it (its ETag is no longer ${source.eTag})`,
    );
    expect(await exists('runs/rates/r/1.csv')).toBe(false);
    expect(await exists('runs/rates/r/1.values')).toBe(false);
    expect(await openUploads()).toEqual([]);
  });

  it('refuses a task that would write outside runs/rates/ before anything is sent', async () => {
    const csv = Buffer.from('id,name,num,den\n1,a,2,3\n');
    const source = { key: 'uploads/any.csv', csv, eTag: '"0"' };
    const task = parseTask(source, headerOf(csv), { index: 0, s: 16, e: csv.length }, { kind: 'known', at: 16 }, 'x');
    const outside = { ...task, output: { csv: 'results/any/rates.csv', values: 'runs/rates/ok/0.values' } };
    const refused = runWorkerTask(s3, outside);
    await expect(refused).rejects.toThrow(UserError);
    await expect(refused).rejects.toThrow(/output\.csv: must be a key under runs\/rates\//);
    const climbing = { ...task, output: { csv: 'runs/rates/../../results/x.csv', values: 'runs/rates/ok/0.values' } };
    await expect(runWorkerTask(s3, climbing)).rejects.toThrow(/without "\." or "\.\." segments/);
    await expect(runWorkerTask(s3, { kind: 'nothing' })).rejects.toThrow(/not a rates worker task/);
    expect(sent).toEqual([]);
  });

  it('a download cut mid-chunk fails the task and aborts the multipart upload it had begun', async () => {
    const csv = generated(600_000);
    const source = await upload('uploads/cut.csv', csv);
    const header = headerOf(csv);
    const range = { index: 0, s: header.dataStart, e: csv.length };
    // Past the first 5 MiB part of rates.csv, so a multipart upload is open when the download breaks.
    proxy.addRule({ method: 'GET', key: 'uploads/cut.csv', fault: { cutAfterBytes: 9 * 1024 * 1024 } });
    const task = parseTask(source, header, range, { kind: 'known', at: range.s }, 'runs/rates/cut/0');
    await expect(runWorkerTask(faulty, task)).rejects.toThrow();
    const began = proxy.requests.filter((r) => r.method === 'POST' && r.key === 'runs/rates/cut/0.csv');
    expect(began.length).toBeGreaterThan(0);
    expect(await openUploads()).toEqual([]);
    expect(await exists('runs/rates/cut/0.csv')).toBe(false);
    expect(await exists('runs/rates/cut/0.values')).toBe(false);
  });

  it('an upload part refused by S3 fails the task without waiting forever, and leaves no multipart upload', async () => {
    const csv = generated(600_000);
    const source = await upload('uploads/refused-part.csv', csv);
    const header = headerOf(csv);
    const range = { index: 0, s: header.dataStart, e: csv.length };
    proxy.addRule({
      method: 'PUT',
      key: 'runs/rates/part/0.csv',
      query: /partNumber=/,
      times: Number.POSITIVE_INFINITY,
      fault: { status: 500, code: 'InternalError' },
    });
    const task = parseTask(source, header, range, { kind: 'known', at: range.s }, 'runs/rates/part/0');
    await expect(runWorkerTask(faulty, task)).rejects.toThrow(
      `chunk 0: uploading s3://${BUCKET}/runs/rates/part/0.csv failed: InternalError (HTTP 500)`,
    );
    expect(await openUploads()).toEqual([]);
    expect(await exists('runs/rates/part/0.csv')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------
// the local fan-out backend's entry point
// ---------------------------------------------------------------------------------------------------------

describe("runRatesWorkerTask in the local backend's worker threads", () => {
  it('runs parse tasks with its own S3 client, and a replaced upload comes back as SourceChangedError', async () => {
    // The threads build their client from the environment (createS3Client), as a Lambda container does.
    vi.stubEnv('AWS_ENDPOINT_URL_S3', local.server.endpoint);
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
