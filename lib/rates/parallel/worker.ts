/**
 * What a parallel rates worker does with one task (tasks.ts), wherever it runs: the `rates-worker` Lambda
 * (functions/rates-worker.ts), a thread of the local fan-out backend (`runRatesWorkerTask`), or an EC2 instance.
 *
 * - parse: one ranged GET of the upload from the chunk's read start to the end of the object, conditional on the
 *   upload's ETag, through parseRange (range-parse.ts), which reads only as far as the chunk's last record needs;
 *   the GET is then dropped so S3 stops sending the rest of the file. The chunk's rates.csv bytes and its values
 *   are uploaded to their scratch keys while they are produced (scratch-upload.ts), so memory stays flat
 *   whatever the chunk's size. An empty output is still written (an empty object): the coordinator assembles
 *   from every chunk's objects.
 * - stats: one round of the exact statistics answered from the chunk's values object (values-object.ts).
 *
 * A task is checked before anything is read or written: a worker writes nowhere but the scratch prefix.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, s3Uri } from '../../aws/s3.ts';
import { UserError } from '../../errors.ts';
import { describeIssues } from '../../validation.ts';
import { parseRange, readStart } from './range-parse.ts';
import { type ChunkReply, encodeChunkReply } from './reply.ts';
import { type StreamedUpload, streamedUpload } from '../streamed-upload.ts';
import { type PartWriter, partWriter } from './part-writer.ts';
import { answerStatsPlan } from './stats-rounds.ts';
import type { StatsAnswer } from './stats-wire.ts';
import { type ParseResult, type ParseTask, rangeTaskOf, type StatsTask, workerTaskSchema } from './tasks.ts';
import { valuesObjectOf } from './values-object.ts';
import { describeSdkError, outputMismatch, RatesWorkerError, sourceReadError } from './worker-errors.ts';

export type WorkerResult = ParseResult | StatsAnswer;

/** Runs one task; throws a UserError (INVALID_INPUT) naming the problem if `task` is not one. */
export async function runWorkerTask(s3: S3Client, task: unknown): Promise<WorkerResult> {
  const parsed = workerTaskSchema.safeParse(task);
  if (!parsed.success) {
    throw new UserError('INVALID_INPUT', `not a rates worker task: ${describeIssues(parsed.error, '(task)')}`);
  }
  const t = parsed.data;
  return t.kind === 'parse' ? runParseTask(s3, t) : runStatsTask(s3, t);
}

// Created on the first task, so importing this module (a worker thread does at start) makes no client.
let client: S3Client | undefined;

/** runWorkerTask with this process's own S3 client: what the local backend's threads call (module + exportName). */
export function runRatesWorkerTask(task: unknown): Promise<WorkerResult> {
  client ??= createS3Client();
  return runWorkerTask(client, task);
}

export async function runStatsTask(s3: S3Client, task: StatsTask): Promise<StatsAnswer> {
  return answerStatsPlan(task.plan, valuesObjectOf(s3, task.values));
}

/**
 * The upload from byte `from` to its end, as long as it is still the one the coordinator read. Null when `from`
 * is at its end (S3 refuses a range that starts there): the chunk then owns nothing, but the upload is still
 * checked, so a replaced file fails every chunk alike.
 */
async function openSource(s3: S3Client, source: ParseTask['source'], from: number): Promise<Readable | null> {
  const { bucket, key, eTag } = source;
  try {
    if (from >= source.size) {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, IfMatch: eTag }));
      return null;
    }
    const got = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: eTag, Range: `bytes=${from}-` }),
    );
    if (got.Body === undefined) throw new RatesWorkerError(`S3 answered ${s3Uri(bucket, key)} without a body`);
    return got.Body as Readable;
  } catch (error) {
    if (error instanceof RatesWorkerError) throw error;
    throw sourceReadError(error, source);
  }
}

/** Where the chunk's rates.csv bytes go: into the result's parts when the task grants some, else all to scratch. */
function csvOutput(s3: S3Client, task: ParseTask): PartWriter {
  const { bucket } = task.source;
  if (task.parts !== null)
    return partWriter(s3, task.parts, { bucket, scratchKey: task.output.csv, chunk: task.index });
  const upload = streamedUpload(s3, { bucket, key: task.output.csv });
  return {
    ...upload,
    land: async () => {
      const landed = await upload.land();
      return { ...landed, parts: [], scratchBytes: landed.bytes };
    },
  };
}

export async function runParseTask(s3: S3Client, task: ParseTask): Promise<ParseResult> {
  const started = performance.now();
  const { bucket } = task.source;
  const csv = csvOutput(s3, task);
  const values = streamedUpload(s3, {
    bucket,
    key: task.output.values,
    contentType: 'application/octet-stream',
    queueSize: 2,
  });
  let body: Readable | null = null;
  let parsing: Promise<ChunkReply> | null = null;
  try {
    body = await openSource(s3, task.source, readStart(task));
    parsing = parseRange(body, rangeTaskOf(task), csv.stream, values.stream);
    // An upload that fails stops taking bytes: parseRange would wait for 'drain' forever.
    const reply = await Promise.race([parsing, csv.failed, values.failed]);
    // parseRange stops at its last record; without this the GET would go on downloading the rest of the file.
    body?.destroy();
    const [csvOut, valuesOut] = await Promise.all([csv.land(), values.land()]);
    const mismatch = outputMismatch(task.index, csvOut.bytes, valuesOut.bytes, reply);
    if (mismatch !== null) throw mismatch;
    return {
      reply: encodeChunkReply(reply),
      parts: csvOut.parts,
      csv: { key: task.output.csv, bytes: csvOut.scratchBytes, eTag: landedETag(csvOut.eTag, task.output.csv) },
      values: { key: task.output.values, bytes: valuesOut.bytes, eTag: landedETag(valuesOut.eTag, task.output.values) },
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
  } catch (error) {
    body?.destroy();
    const uploads = [
      { upload: csv, key: task.output.csv },
      { upload: values, key: task.output.values },
    ];
    throw await cleanUp(error, uploads, parsing, task);
  }
}

/** The coordinator reads each scratch object only while it is this version: S3 must have said which. */
function landedETag(eTag: string | undefined, key: string): string {
  if (eTag === undefined) throw new Error(`S3 stored ${key} without answering its ETag`);
  return eTag;
}

/**
 * After a failure: no scratch upload may stay open, and parseRange must be over before the task answers (a
 * Lambda is frozen after it answers). Destroying the uploads' streams ends a parseRange still writing to them.
 * Returns the error to throw: `error`, unless an upload failed on its own — then that failure is the cause (a
 * failed upload breaks the stream parseRange writes to, which is what parseRange reports) and both are named.
 */
async function cleanUp(
  error: unknown,
  uploads: { upload: Pick<StreamedUpload, 'abandon'>; key: string }[],
  parsing: Promise<ChunkReply> | null,
  task: ParseTask,
): Promise<unknown> {
  const own = await Promise.all(uploads.map(({ upload }) => upload.abandon()));
  await parsing?.catch(() => undefined); // its error, if any, is `error` or was caused by the clean-up
  const failed = own.findIndex((e) => e !== undefined);
  if (failed === -1) return error;
  const cause = own[failed];
  const uri = s3Uri(task.source.bucket, uploads[failed]?.key ?? '?');
  const also = cause === error ? '' : `; parsing stopped with: ${(error as Error)?.message ?? String(error)}`;
  return new RatesWorkerError(`chunk ${task.index}: uploading ${uri} failed: ${describeSdkError(cause)}${also}`, cause);
}
