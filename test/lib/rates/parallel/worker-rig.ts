/**
 * The rig of the worker suites (worker.test.ts, worker-failures.test.ts): a local S3 server (a child process on
 * port 0) with a fault proxy in front, SDK v3 clients for both, and helpers that run tasks through the worker and
 * check them against the pure pieces run in memory on the same task (parseRange) and against the single path
 * (runs.ts's runSingle) — never against output made by the worker. What went over the wire is seen by a
 * middleware on the direct client's own stack.
 */
import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { type ChunkRange, planChunks, verifyChunks } from '../../../../lib/rates/parallel/chunks.ts';
import type { FileHeader } from '../../../../lib/rates/parallel/header.ts';
import { mergeChunks } from '../../../../lib/rates/parallel/merge.ts';
import { parseRange, readStart } from '../../../../lib/rates/parallel/range-parse.ts';
import { type ChunkReply, decodeChunkReply, encodeChunkReply } from '../../../../lib/rates/parallel/reply.ts';
import { type ParseResult, type ParseTask, parseResultSchema } from '../../../../lib/rates/parallel/tasks.ts';
import { runWorkerTask } from '../../../../lib/rates/parallel/worker.ts';
import { type FaultProxy, startFaultProxy } from '../../../../local-stack/fault-proxy.ts';
import { freePort } from '../../../../local-stack/shared/server-process.ts';
import { testS3Client } from '../../../support/clients.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../../support/local-s3.ts';
import { Collector, headerOf, OPTS, type Outcome, pieces, rangesAt, runSingle } from './runs.ts';

export const BUCKET = 'rates-worker-test';

export interface WorkerRig {
  local: LocalS3;
  /** Straight to the server. */
  s3: S3Client;
  proxy: FaultProxy;
  /** Through the fault proxy, one attempt per request, so a fault is seen unretried. */
  faulty: S3Client;
  /** Commands sent by `s3` since the current test began, and the bodies of its GetObject answers. */
  sent: string[];
  bodies: Readable[];
}

/** Filled in by the hooks useWorkerRig registers (one rig per test file: vitest isolates modules per file). */
export const rig = { sent: [], bodies: [] } as unknown as WorkerRig;

export function useWorkerRig(): void {
  beforeAll(async () => {
    // The proxy forwards its client's Host (its own name), so the server must know that name before it starts.
    const proxyPort = await freePort();
    rig.local = await startLocalS3([BUCKET], 'cp-rates-worker-', { hostAliases: [`127.0.0.1:${proxyPort}`] });
    rig.s3 = rig.local.s3;
    rig.s3.middlewareStack.add(
      (next, context) => async (args) => {
        rig.sent.push((context.commandName ?? '?').replace(/Command$/, ''));
        const result = await next(args);
        const body = (result.output as { Body?: unknown }).Body;
        if (context.commandName === 'GetObjectCommand' && body !== undefined) rig.bodies.push(body as Readable);
        return result;
      },
      { step: 'initialize', name: 'recordRequests' },
    );
    rig.proxy = await startFaultProxy({ target: rig.local.server.endpoint, port: proxyPort });
    rig.faulty = testS3Client(rig.proxy.endpoint, 1);
  });

  afterAll(async () => {
    rig.faulty?.destroy();
    await rig.proxy?.close();
    await stopLocalS3(rig.local ?? {});
  });

  beforeEach(() => {
    rig.sent = [];
    rig.bodies = [];
    rig.proxy.clearRules();
  });
}

export interface Source {
  key: string;
  csv: Buffer;
  eTag: string;
}

export async function upload(key: string, csv: Buffer): Promise<Source> {
  const put = await rig.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv }));
  return { key, csv, eTag: put.ETag as string };
}

export async function bytesOf(key: string): Promise<Buffer> {
  const got = await rig.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

export async function exists(key: string): Promise<boolean> {
  try {
    await rig.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

export async function openUploads(): Promise<string[]> {
  const listed = await rig.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  return (listed.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`);
}

export function parseTask(
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
    parts: null,
  };
}

/** The same task run in memory by the pure piece the worker wraps: what the worker must have written and said. */
export async function inMemory(
  csv: Buffer,
  task: ParseTask,
): Promise<{ reply: ChunkReply; out: Buffer; values: Buffer }> {
  const out = new Collector();
  const values = new Collector();
  const headerLine = task.headerLine === null ? null : Buffer.from(task.headerLine, 'base64');
  const range = { options: task.options, header: task.header, s: task.s, e: task.e, start: task.start, headerLine };
  const reply = await parseRange(pieces(csv.subarray(readStart(range)), 4096), range, out, values);
  return { reply, out: out.bytes(), values: values.bytes() };
}

/** One parse task through the worker, checked against the same task in memory and against what S3 holds. */
export async function parseChecked(client: S3Client, source: Source, task: ParseTask): Promise<ParseResult> {
  const result = parseResultSchema.parse(await runWorkerTask(client, task));
  const expected = await inMemory(source.csv, task);
  expect(result.reply).toEqual(encodeChunkReply(expected.reply));
  const [csv, values] = await Promise.all([bytesOf(result.csv.key), bytesOf(result.values.key)]);
  expect(csv.equals(expected.out)).toBe(true);
  expect(values.equals(expected.values)).toBe(true);
  expect([result.csv.bytes, result.values.bytes]).toEqual([csv.length, values.length]);
  return result;
}

export interface WorkerRun {
  ranges: ChunkRange[];
  results: ParseResult[];
  reruns: number;
}

/**
 * A whole parse phase as the coordinator drives it (runs.ts's runParallel), every chunk through the worker:
 * ranges of `chunkBytes`, or (for a file too small for planChunks' 4 KiB minimum) thirds of it.
 */
export async function runThroughWorker(source: Source, run: string, chunkBytes: number): Promise<WorkerRun> {
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
        rig.s3,
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
        rig.s3,
        source,
        parseTask(source, header, r, { kind: 'known', at: start }, out(r, round)),
      );
    }
  }
  return { ranges, results, reruns };
}

export type Success = Exclude<Outcome, { error: unknown }>;

export async function single(csv: Buffer): Promise<Success> {
  const outcome = await runSingle(csv);
  if ('error' in outcome) throw new Error(`the single path refused the file: ${outcome.error.message}`);
  return outcome;
}

/** The worker's scratch objects, concatenated in chunk order, against the single path's rates.csv and values. */
export async function expectSameAsSingle(source: Source, run: WorkerRun, expected: Success): Promise<void> {
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
  // The mean follows from the values (compared above) through the statistics rounds (stats-rounds.test.ts).
  const { rows, badRows, badRowSamples, min, max } = merged;
  expect({ rows, badRows, badRowSamples, min, max }).toEqual({
    rows: expected.rows,
    badRows: expected.badRows,
    badRowSamples: expected.badRowSamples,
    min: expected.stats.min,
    max: expected.stats.max,
  });
}

/** `rows` rows of `id,name,num,den`, about 24 bytes each. */
export function generated(rows: number): Buffer {
  const lines = ['id,name,num,den'];
  for (let i = 0; i < rows; i++) lines.push(`${i},n${i},${(i * 37) % 1000},${1 + ((i * 7919) % 5000)}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}
