/**
 * The split rates run when something fails, against a real local S3 server with the workers in real threads:
 * a worker that crashes (test/support/crashing-rates-worker.ts wraps the real worker), one that never answers
 * before the coordinator's deadline, S3 refusing a part or the completion of rates.csv (the coordinator's client
 * goes through the fault proxy), and the upload replaced mid-run. After each, the issue's promise: results/<name>/
 * holds the previous complete set untouched, or nothing of it (publish.ts's rules: error.json alone for a run that
 * failed on a chunk, an empty folder for a commit that failed half way), no multipart upload is open, no scratch
 * object is left under runs/, and the error says what failed. What a run that succeeds publishes is checked against
 * the single path's rates.csv for the same file.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { corpus } from './corpus.ts';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { RatesDefaults } from '../../../../lib/config.ts';
import { InfrastructureError } from '../../../../lib/errors.ts';
import { runRatesJob } from '../../../../lib/rates/job.ts';
import type { RatesErrorReport, RatesJobOutcome } from '../../../../lib/rates/outcome.ts';
import type { ParallelProgress } from '../../../../lib/rates/parallel/coordinator.ts';
import type { ParallelSetup } from '../../../../lib/rates/parallel/run.ts';
import { stubS3Env } from '../../../support/clients.ts';
import { FAULT_ENV, type RatesWorkerFault } from '../../../support/crashing-rates-worker.ts';
import { useFaultProxiedS3 } from '../../../support/fault-proxied-s3.ts';
import { generated } from './worker-rig.ts';
import { leftovers, localParallelSetup } from '../../../support/parallel-rates.ts';

const BUCKET = 'parallel-rates-failures';
const DEFAULTS: RatesDefaults = { numerator: 'num', denominator: 'den', bins: 10 };
const rig = useFaultProxiedS3(BUCKET, 'cp-parallel-failures-');

function setup(chunkBytes: number): ParallelSetup {
  return localParallelSetup(
    { aboveBytes: 0, chunkBytes },
    {
      module: new URL('../../../support/crashing-rates-worker.ts', import.meta.url),
      exportName: 'runFaultyRatesWorkerTask',
    },
  );
}

/** Makes the workers started from now on fail `chunk` as `mode` says; returns the file its attempts are logged to. */
function inject(name: string, chunk: number, mode: RatesWorkerFault['mode']): string {
  const log = path.join(rig.logs, `${name}.log`);
  vi.stubEnv(FAULT_ENV, JSON.stringify({ chunk, mode, log } satisfies RatesWorkerFault));
  return log;
}

function attempts(log: string): string[] {
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

async function bytesOf(key: string): Promise<Buffer> {
  const object = await rig.local.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

/** What results/<name>/ holds: each object's name and a digest of its bytes. */
async function folder(name: string): Promise<Record<string, string>> {
  const prefix = `results/${name}/`;
  const listed = await rig.local.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  const entries = await Promise.all(
    (listed.Contents ?? []).map(async ({ Key }) => {
      const key = Key ?? '';
      return [
        key.slice(prefix.length),
        createHash('sha256')
          .update(await bytesOf(key))
          .digest('hex'),
      ] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/**
 * Uploads the file and publishes its complete set with the single path (no workers): the previous run a failed
 * split run must leave alone, and the rates.csv a split run that succeeds must equal.
 */
async function previousRun(name: string, csv: Buffer): Promise<{ set: Record<string, string>; rates: Buffer }> {
  const key = `uploads/${name}.csv`;
  await rig.local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv }));
  const single = await runRatesJob(rig.local.s3, { bucket: BUCKET, key }, DEFAULTS);
  expect(single.status, `the single path on ${name}`).toBe('ok');
  const set = await folder(name);
  expect(Object.keys(set).sort()).toEqual(['histogram.png', 'histogram.svg', 'rates.csv', 'summary.json']);
  return { set, rates: await bytesOf(`results/${name}/rates.csv`) };
}

/** A split run of uploads/<name>.csv under a new run id (so the duplicate check lets it through). */
async function splitRun(
  name: string,
  chunkBytes: number,
  s3: S3Client = rig.local.s3,
  hooks: { signal?: AbortSignal; onProgress?: (progress: ParallelProgress) => void } = {},
): Promise<RatesJobOutcome> {
  const key = `uploads/${name}.csv`;
  const body = await bytesOf(key);
  await rig.local.s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, Metadata: { 'run-id': `r-${Math.random()}` } }),
  );
  return runRatesJob(s3, { bucket: BUCKET, key, split: { chunkBytes } }, DEFAULTS, undefined, {
    parallel: { ...setup(chunkBytes), ...(hooks.onProgress === undefined ? {} : { onProgress: hooks.onProgress }) },
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
  });
}

/** The run's error.json, which must be all results/<name>/ holds now, and must agree with the outcome. */
async function errorReport(name: string, outcome: RatesJobOutcome): Promise<RatesErrorReport['error']> {
  expect(outcome.status).toBe('error');
  expect(Object.keys(await folder(name))).toEqual(['error.json']);
  const written = JSON.parse((await bytesOf(`results/${name}/error.json`)).toString()) as RatesErrorReport;
  expect(written.error).toEqual((outcome as RatesErrorReport).error);
  return written.error;
}

const SMALL = generated(3000); // ~70 KB: 9 chunks of 8 KiB
const SMALL_CHUNK = 8192;

describe('a worker that crashes', () => {
  it('is retried when its thread dies, and the run publishes what the single path does', async () => {
    const { rates } = await previousRun('crash-once', SMALL);
    const log = inject('crash-once', 2, 'exit-once');
    const outcome = await splitRun('crash-once', SMALL_CHUNK);
    expect(outcome.status).toBe('ok');
    expect(attempts(log), 'the crashed attempt, then the one that ran').toEqual(['exit-once', 'exit-once']);
    expect((await bytesOf('results/crash-once/rates.csv')).equals(rates)).toBe(true);
    expect(Object.keys(await folder('crash-once')).sort()).toEqual([
      'histogram.png',
      'histogram.svg',
      'rates.csv',
      'summary.json',
      'timeline.json',
      'timeline.png',
      'timeline.svg',
    ]);
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 20_000);

  it('fails the run with error.json CHUNK_FAILED naming the chunk when every attempt dies', async () => {
    await previousRun('crash-always', SMALL);
    const log = inject('crash-always', 2, 'exit');
    const error = await errorReport('crash-always', await splitRun('crash-always', SMALL_CHUNK));
    expect(attempts(log), 'the first attempt and the fan-out’s 3 retries').toHaveLength(4);
    expect(error.code).toBe('CHUNK_FAILED');
    expect(error.message).toMatch(
      new RegExp(
        `^chunk 2 failed \\(parsing bytes \\[\\d+, \\d+\\) of s3://${BUCKET}/uploads/crash-always\\.csv\\) after 4 attempt\\(s\\): WorkerExited: worker thread exited with code 3`,
      ),
    );
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 20_000);

  it('fails the run at once, without retrying, when the worker throws', async () => {
    await previousRun('crash-throw', SMALL);
    const log = inject('crash-throw', 4, 'throw');
    const error = await errorReport('crash-throw', await splitRun('crash-throw', SMALL_CHUNK));
    expect(attempts(log)).toEqual(['throw']);
    expect(error).toEqual({
      code: 'CHUNK_FAILED',
      message: expect.stringMatching(/^chunk 4 failed .* after 1 attempt\(s\): Error: injected failure of chunk 4$/),
    });
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 20_000);
});

describe('a worker that never answers', () => {
  it('ends the run at the coordinator’s deadline with error.json naming the chunk and the deadline', async () => {
    await previousRun('hang', SMALL);
    const log = inject('hang', 3, 'hang');
    // The deadline comes once every other chunk is parsed (a timer would race the threads' start on a busy machine),
    // with the words of the rates function's own deadline (lib/aws/lambda-deadline.ts).
    const deadline = new AbortController();
    let abortedAt = 0;
    const onProgress = ({ phase, chunks, done }: ParallelProgress) => {
      if (phase !== 'parse' || done !== chunks - 1 || deadline.signal.aborted) return;
      abortedAt = performance.now();
      deadline.abort(new Error("deadline: not finished 30 s before the function's timeout"));
    };
    const outcome = await splitRun('hang', SMALL_CHUNK, rig.local.s3, { signal: deadline.signal, onProgress });
    // The local backend cannot stop a thread mid-task: the run must return without it, right after the deadline.
    expect(abortedAt).toBeGreaterThan(0);
    expect(performance.now() - abortedAt).toBeLessThan(3000);
    expect(attempts(log), 'the stuck chunk had started').toEqual(['hang']);
    const error = await errorReport('hang', outcome);
    expect(error).toEqual({
      code: 'CHUNK_FAILED',
      message: expect.stringMatching(
        /^chunk 3 failed \(parsing bytes \[\d+, \d+\) of .*\) after 1 attempt\(s\): AbortError: still running when the run was stopped \(deadline: not finished 30 s before the function's timeout\); chunk\(s\) not finished: 3$/,
      ),
    });
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 20_000);
});

describe('S3 failing the assembly of rates.csv', () => {
  // ~13.5 MB: its rates.csv needs a multipart upload of several parts.
  const BIG = generated(560_000);
  const BIG_CHUNK = 6 * 1024 * 1024;
  let previous: { set: Record<string, string>; rates: Buffer };

  beforeAll(async () => {
    previous = await previousRun('big', BIG);
  }, 30_000);

  // In chunks of 6 MiB the outputs of all chunks are copied (the last one may be short); in chunks of 2 MiB they are
  // all under 5 MiB, so they pass through the coordinator as uploaded parts (concat-plan.ts).
  for (const [what, chunkBytes, operation, words] of [
    ['a part copied server side (UploadPartCopy)', BIG_CHUNK, /x-id=UploadPartCopy(&|$)/, 'copying s3://'],
    ['a part uploaded through the coordinator (UploadPart)', 2 * 1024 * 1024, /x-id=UploadPart(&|$)/, 'uploading part'],
  ] as const) {
    it(`${what}: the run throws, the previous set stays, nothing is left open`, async () => {
      const rule = rig.proxy.addRule({
        method: 'PUT',
        key: 'results/big/rates.csv',
        query: operation,
        times: Number.POSITIVE_INFINITY,
        fault: { status: 500, code: 'InternalError' },
      });
      const error = await splitRun('big', chunkBytes, rig.faulty).catch((thrown: unknown) => thrown);
      expect(error, 'thrown, so that Lambda retries the event').toBeInstanceOf(InfrastructureError);
      expect((error as Error).message).toMatch(
        /^assembling s3:\/\/[^/]+\/results\/big\/rates\.csv: .* part \d+ .*failed: InternalError \(HTTP 500\)/,
      );
      expect((error as Error).message).toContain(`rates.csv: ${words}`);
      expect(rule.hits, 'the fault was met').toBeGreaterThan(0);
      expect(await folder('big')).toEqual(previous.set);
      expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
    }, 20_000);
  }

  it("a worker's own part of rates.csv (UploadPart): CHUNK_FAILED naming it, and no upload left open", async () => {
    // The workers' S3 client through the proxy too, and parts of S3's minimum: each 7 MiB chunk cuts one.
    vi.stubEnv('AWS_ENDPOINT_URL_S3', rig.proxy.endpoint);
    const rule = rig.proxy.addRule({
      method: 'PUT',
      key: 'results/big/rates.csv',
      query: /x-id=UploadPart(&|$)/,
      times: Number.POSITIVE_INFINITY,
      fault: { status: 500, code: 'InternalError' },
    });
    const key = 'uploads/big.csv';
    const body = await bytesOf(key);
    await rig.local.s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, Metadata: { 'run-id': 'parts' } }),
    );
    const outcome = await runRatesJob(
      rig.local.s3,
      { bucket: BUCKET, key, split: { workers: 2 } },
      DEFAULTS,
      undefined,
      {
        parallel: { ...setup(BIG_CHUNK), partBytes: 5 * 1024 * 1024 },
      },
    );
    const error = await errorReport('big', outcome);
    expect(error.code).toBe('CHUNK_FAILED');
    expect(error.message).toMatch(
      /chunk \d+: uploading part \d+ of s3:\/\/[^/]+\/results\/big\/rates\.csv failed: .*InternalError/,
    );
    expect(rule.hits, 'the fault was met').toBeGreaterThan(0);
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
    stubS3Env(rig.local.server.endpoint);
    previous = await previousRun('big', BIG);
  }, 30_000);

  it('its completion: the run throws, results/big/ is left empty, and a retry publishes the whole set', async () => {
    const rule = rig.proxy.addRule({
      method: 'POST',
      key: 'results/big/rates.csv',
      query: /uploadId=/,
      fault: { status: 500, code: 'InternalError' },
    });
    const error = await splitRun('big', BIG_CHUNK, rig.faulty).catch((thrown: unknown) => thrown);
    expect(error, 'thrown, so that Lambda retries the event').toBeInstanceOf(InfrastructureError);
    expect((error as Error).message).toMatch(
      /^publishing results\/big\/ failed \(completing s3:\/\/.*results\/big\/rates\.csv failed: InternalError/,
    );
    expect(rule.hits).toBe(1);
    expect(await folder('big')).toEqual({});
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
    // Lambda's retry of the same event: it starts clean and publishes what the single path did.
    expect((await splitRun('big', BIG_CHUNK, rig.faulty)).status).toBe('ok');
    expect((await bytesOf('results/big/rates.csv')).equals(previous.rates)).toBe(true);
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 30_000);
});

describe('a worker that does not start where it is told to', () => {
  it('fails the run naming the chunk, instead of re-running it forever', async () => {
    // Quoted fields with newlines that look like rows: 4 KiB chunks guess wrong, and those chunks are re-run.
    const csv = corpus().find((file) => file.name === 'quoted fake rows')!.csv;
    await previousRun('liar', csv);
    const log = inject('liar', 0, 'lie-on-rerun');
    const error = await errorReport('liar', await splitRun('liar', 4096));
    expect(attempts(log).length, 'one re-run answered, then the run stopped').toBeGreaterThanOrEqual(1);
    expect(error.code).toBe('CHUNK_FAILED');
    expect(error.message).toMatch(
      /^chunk \d+ failed .*: InvalidResult: re-run from byte \d+, it answered for a chunk starting at \d+/,
    );
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 30_000);
});

describe('the upload replaced mid-run', () => {
  it("stops the run with a message saying so, and leaves results/ to the new version's run", async () => {
    const previous = await previousRun('replaced', SMALL);
    // Chunk 0's worker replaces the upload before reading it: whatever the other chunks did, chunk 0 fails first.
    const log = inject('replaced', 0, 'replace');
    const outcome = await splitRun('replaced', SMALL_CHUNK);
    expect(attempts(log), 'not retried: the new upload needs a run of its own').toEqual(['replace']);
    expect(outcome).toMatchObject({ status: 'error', errorObject: null });
    const error = (outcome as RatesErrorReport).error;
    // No error.json: it would delete what the new version's run may already have committed.
    expect(await folder('replaced')).toEqual(previous.set);
    expect(error.code).toBe('SOURCE_CHANGED');
    expect(error.message).toMatch(/^chunk 0 failed \(parsing bytes .* after 1 attempt\(s\): SourceChangedError: /);
    expect(error.message).toContain(`s3://${BUCKET}/uploads/replaced.csv was replaced while the parallel run`);
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 20_000);
});
