/**
 * A parallel rates worker on an EC2 instance (bundled as `rates-chunk` by lib/fanout/ec2/worker-bundle.ts): the two
 * tasks of worker.ts with presigned URLs in place of keys (ec2-wire.ts), since an instance has no credentials.
 *
 * - parse: one ranged GET of the upload from the chunk's read start, with the `If-Match` the URL was signed with
 *   (and the response's ETag compared too), through parseRange, which reads only as far as the chunk's last record
 *   needs; the GET is then dropped. The chunk's rates.csv bytes and values go to local temp files, then up with one
 *   presigned PUT each, with its Content-Length (S3 refuses a chunked presigned PUT). The answer carries the
 *   reply, each object's bytes and the ETag its PUT answered; the coordinator's side (ec2-tasks.ts) adds the keys.
 * - stats: one round of the exact statistics answered from the chunk's values object, one presigned GET a pass.
 *
 * Failures are worded as the SDK path words them (worker-errors.ts): a replaced upload is a SourceChangedError.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { bareETag, putFile, S3HttpError } from '../../aws/presigned-http.ts';
import { UserError } from '../../errors.ts';
import { describeIssues } from '../../validation.ts';
import {
  type Ec2ParseAnswer,
  type Ec2ParseTask,
  type Ec2StatsTask,
  type Ec2WorkerTask,
  ec2TaskSchema,
} from './ec2-wire.ts';
import { parseRange, readStart } from './range-parse.ts';
import { type ChunkReply, encodeChunkReply } from './reply.ts';
import { answerStatsPlan } from './stats-rounds.ts';
import type { StatsAnswer } from './stats-wire.ts';
import { rangeTaskOf } from './tasks.ts';
import { chunkValuesFrom } from './values-blocks.ts';
import {
  describeSdkError,
  outputMismatch,
  RatesWorkerError,
  scratchReadError,
  sourceReadError,
} from './worker-errors.ts';

export async function run(input: unknown): Promise<Ec2ParseAnswer | StatsAnswer> {
  const parsed = ec2TaskSchema.safeParse(input);
  if (!parsed.success) {
    throw new UserError('INVALID_INPUT', `not a rates chunk task: ${describeIssues(parsed.error, '(task)')}`);
  }
  const task: Ec2WorkerTask = parsed.data;
  return task.kind === 'parse' ? runParse(task) : runStats(task);
}

const uriOf = (o: { bucket: string; key: string }) => `s3://${o.bucket}/${o.key}`;

/** A presigned GET conditional on `eTag`; what fails is handed to `wordError` as the SDK would have thrown it. */
async function conditionalGet(
  target: { url: string; eTag: string; bucket: string; key: string },
  range: string | undefined,
  wordError: (error: unknown) => Error,
): Promise<Response> {
  let response: Response;
  try {
    // If-Match is a signed header of the URL (ec2-tasks.ts): it must go as signed. Range is not signed: any range goes.
    const headers: Record<string, string> = { 'if-match': target.eTag };
    if (range !== undefined) headers.range = range;
    response = await fetch(target.url, { headers });
  } catch (error) {
    throw wordError(error);
  }
  if (!response.ok) throw wordError(new S3HttpError(response.status, await response.text().catch(() => '')));
  const eTag = response.headers.get('etag');
  if (eTag === null || bareETag(eTag) !== bareETag(target.eTag)) {
    await response.body?.cancel();
    if (eTag === null) throw new RatesWorkerError(`S3 answered ${uriOf(target)} without an ETag`);
    // A server that ignored If-Match still cannot hand over another object than the one the run read.
    throw wordError(new S3HttpError(412, `<Code>PreconditionFailed</Code><Message>ETag is ${eTag}</Message>`));
  }
  return response;
}

function bodyOf(response: Response, target: { bucket: string; key: string }): Readable {
  if (response.body === null) throw new RatesWorkerError(`S3 answered ${uriOf(target)} without a body`);
  return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
}

/**
 * The upload from byte `from` to its end, while it is still the one the coordinator read. Null when `from` is at
 * its end (S3 refuses a range that starts there): the upload is still checked with a one-byte read, so a replaced
 * file fails every chunk alike.
 */
async function openSource(task: Ec2ParseTask, from: number): Promise<Readable | null> {
  const { source } = task;
  const atEnd = from >= source.size;
  const response = await conditionalGet(source, atEnd ? 'bytes=0-0' : `bytes=${from}-`, (error) =>
    sourceReadError(error, source),
  );
  if (atEnd) {
    await response.body?.cancel();
    return null;
  }
  if (response.status !== 206) {
    await response.body?.cancel();
    throw new RatesWorkerError(`S3 answered a ranged GET of ${uriOf(source)} with HTTP ${response.status}, not 206`);
  }
  return bodyOf(response, source);
}

/** Rejects with the first error of either file: parseRange would otherwise wait for 'drain' forever. */
function brokenFile(files: WriteStream[]): Promise<never> {
  const broken = new Promise<never>((_, reject) => {
    for (const file of files) file.once('error', reject);
  });
  broken.catch(() => undefined); // raced below; an error after the race is seen again by finished()
  return broken;
}

async function runParse(task: Ec2ParseTask): Promise<Ec2ParseAnswer> {
  const started = performance.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), `cp-chunk-${task.index}-`));
  const files = { csv: path.join(dir, 'rates.csv'), values: path.join(dir, 'values') };
  const csv = createWriteStream(files.csv, { highWaterMark: 1 << 20 });
  const values = createWriteStream(files.values, { highWaterMark: 1 << 20 });
  let body: Readable | null = null;
  let parsing: Promise<ChunkReply> | null = null;
  try {
    body = await openSource(task, readStart(task));
    parsing = parseRange(body, rangeTaskOf(task), csv, values);
    const reply = await Promise.race([parsing, brokenFile([csv, values])]);
    // parseRange stops at its last record; without this the GET would go on downloading the rest of the file.
    body?.destroy();
    csv.end();
    values.end();
    await Promise.all([finished(csv), finished(values)]);
    const mismatch = outputMismatch(task.index, csv.bytesWritten, values.bytesWritten, reply);
    if (mismatch !== null) throw mismatch;
    const [csvPut, valuesPut] = await Promise.all([
      put(task, 'csv', files.csv, csv.bytesWritten),
      put(task, 'values', files.values, values.bytesWritten),
    ]);
    return {
      reply: encodeChunkReply(reply),
      csv: { bytes: csv.bytesWritten, eTag: csvPut },
      values: { bytes: values.bytesWritten, eTag: valuesPut },
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
  } catch (error) {
    body?.destroy();
    csv.destroy();
    values.destroy();
    await parsing?.catch(() => undefined); // its error, if any, is `error` or was caused by the clean-up
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** PUTs one output file; resolves with the ETag S3 answered. */
async function put(task: Ec2ParseTask, which: 'csv' | 'values', file: string, size: number): Promise<string> {
  const what = `chunk ${task.index}: uploading its ${which === 'csv' ? 'rates.csv bytes' : 'values'}`;
  let answer: Awaited<ReturnType<typeof putFile>>;
  try {
    answer = await putFile(task.output[which], file, size);
  } catch (error) {
    throw new RatesWorkerError(`${what} failed: ${describeSdkError(error)}`, error);
  }
  if (answer.status < 200 || answer.status >= 300) {
    const error = new S3HttpError(answer.status, answer.body);
    throw new RatesWorkerError(`${what} failed: ${describeSdkError(error)}`, error);
  }
  if (answer.eTag === undefined) throw new RatesWorkerError(`${what}: S3 answered without an ETag`);
  return answer.eTag;
}

async function runStats(task: Ec2StatsTask): Promise<StatsAnswer> {
  const { values } = task;
  const wordError = (error: unknown) => scratchReadError(error, values);
  return answerStatsPlan(
    task.plan,
    chunkValuesFrom({
      uri: uriOf(values),
      count: values.count,
      open: async () => {
        const response = await conditionalGet(values, undefined, wordError);
        const length = response.headers.get('content-length');
        return { body: bodyOf(response, values), length: length === null ? undefined : Number(length) };
      },
      streamError: wordError,
    }),
  );
}
