/**
 * The ways a compressed upload is refused or kept on one worker, through the real job against a local S3 server:
 * a stream that is not valid gzip gives error.json BAD_GZIP (never a crash, never partial results); a split asked
 * for, or a file over the parallel threshold, runs on one worker and summary.json says why; the size limit holds
 * for the decompressed CSV. Expected results come from the plain file's run on the single path.
 */
import { gzipSync } from 'node:zlib';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RatesDefaults } from '../../../lib/config.ts';
import { GZIP_SINGLE_WORKER_REASON } from '../../../lib/rates/gzip-input.ts';
import { runRatesJob } from '../../../lib/rates/job.ts';
import type { RatesSummary } from '../../../lib/rates/outcome.ts';
import type { ParallelSetup } from '../../../lib/rates/parallel/run.ts';
import type { RatesSplit } from '../../../lib/rates/split.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../support/local-s3.ts';
import { corpus } from './parallel/corpus.ts';
import { BUCKET, openUploads, published, put, read } from './gzip-rig.ts';
import { stubS3Env } from '../../support/clients.ts';
import { localParallelSetup } from '../../support/parallel-rates.ts';

const DEFAULTS: RatesDefaults = { numerator: 'num', denominator: 'den', bins: 10 };
const LIMITS = { maxInputBytes: 4 * 1024 ** 3 };
const CSV = corpus().find((file) => file.name === 'quoted commas and newlines')!.csv;
let local: LocalS3;

beforeAll(async () => {
  local = await startLocalS3([BUCKET], 'cp-gzip-refusals-');
  // Were a split ever run, the worker threads would build their S3 client from the environment, as a Lambda does.
  stubS3Env(local.server.endpoint);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await stopLocalS3(local);
});

/** A deployment with real workers (worker threads running lib/rates/parallel/worker.ts), as run.test.ts has. */
function parallel(aboveBytes = Number.MAX_SAFE_INTEGER): ParallelSetup {
  return localParallelSetup({ aboveBytes, chunkBytes: 4096 });
}

async function exists(key: string): Promise<boolean> {
  try {
    await local.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
}

describe('a corrupt .csv.gz gives error.json BAD_GZIP', () => {
  const good = gzipSync(CSV);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 6] = (flipped[flipped.length - 6] as number) ^ 0xff; // inside the CRC-32 trailer
  const cases: [string, Buffer, RegExp][] = [
    ['a plain CSV named .csv.gz', CSV, /incorrect header check/],
    ['a gzip file cut short', good.subarray(0, Math.floor(good.length / 2)), /unexpected end of file/],
    ['a gzip file whose checksum fails', flipped, /incorrect data check/],
  ];
  for (const [what, body, detail] of cases) {
    it(what, async () => {
      const name = `corrupt-${what.replaceAll(' ', '-')}`;
      // An earlier good run's outputs must not stay beside the error.
      await put(local, `uploads/${name}.csv`, CSV);
      expect((await runRatesJob(local.s3, { bucket: BUCKET, key: `uploads/${name}.csv` }, DEFAULTS)).status).toBe('ok');
      const key = `uploads/${name}.csv.gz`;
      await put(local, key, body);
      const outcome = await runRatesJob(local.s3, { bucket: BUCKET, key }, DEFAULTS);
      expect(outcome).toMatchObject({ status: 'error', error: { code: 'BAD_GZIP' } });
      const report = JSON.parse((await read(local, `results/${name}/error.json`)).toString());
      expect(report.error.code).toBe('BAD_GZIP');
      expect(report.error.message).toMatch(detail);
      expect(report.error.message).toContain(`s3://${BUCKET}/${key} is not a valid gzip file`);
      for (const file of ['rates.csv', 'summary.json', 'histogram.png']) {
        expect(await exists(`results/${name}/${file}`), file).toBe(false);
      }
      expect(await openUploads(local)).toEqual([]);
    });
  }
});

describe('a .csv.gz never splits, and says why when a split was due', () => {
  /** The plain file's results on the single path, then the .gz file's with `split` and `setup`. */
  async function compare(name: string, split: RatesSplit | undefined, setup: ParallelSetup | undefined) {
    await put(local, `uploads/${name}.csv`, CSV);
    const plain = await runRatesJob(local.s3, { bucket: BUCKET, key: `uploads/${name}.csv` }, DEFAULTS);
    const expected = await published(local, name, plain, `uploads/${name}.csv`, `uploads/${name}.csv`);
    const key = `uploads/${name}.csv.gz`;
    await put(local, key, gzipSync(CSV));
    const outcome = await runRatesJob(
      local.s3,
      { bucket: BUCKET, key, ...(split === undefined ? {} : { split }) },
      DEFAULTS,
      LIMITS,
      setup === undefined ? {} : { parallel: setup },
    );
    const got = await published(local, name, outcome, key, `uploads/${name}.csv`);
    if (!('csv' in got && 'csv' in expected)) throw new Error(`${name}: ${JSON.stringify(got)}`);
    expect(got.csv.equals(expected.csv), `${name}: rates.csv bytes`).toBe(true);
    const { singleWorkerReason, ...rest } = got.summary;
    expect(rest).toEqual(expected.summary);
    expect(got.summary).not.toHaveProperty('parallel');
    expect(await openUploads(local)).toEqual([]);
    return { singleWorkerReason, outcome: outcome as RatesSummary };
  }

  it.each([
    ['workers', { workers: 3 }],
    ['chunk-bytes', { chunkBytes: 4096 }],
  ] as const)(
    'asked for %s: runs on one worker',
    async (label, split) => {
      const { singleWorkerReason, outcome } = await compare(`split-${label}`, split, parallel());
      expect(singleWorkerReason).toBe(GZIP_SINGLE_WORKER_REASON);
      expect(outcome.singleWorkerReason).toBe(GZIP_SINGLE_WORKER_REASON);
      expect(outcome.parallel).toBeUndefined();
    },
    30_000,
  );

  it('asked for in the upload metadata, in a deployment without workers: not refused, one worker', async () => {
    const name = 'split-metadata';
    const key = `uploads/${name}.csv.gz`;
    await put(local, key, gzipSync(CSV), { workers: '4' });
    const outcome = await runRatesJob(local.s3, { bucket: BUCKET, key }, DEFAULTS);
    expect(outcome).toMatchObject({ status: 'ok', singleWorkerReason: GZIP_SINGLE_WORKER_REASON });
  });

  it('over the parallel threshold unasked: one worker, and the reason', async () => {
    const { singleWorkerReason } = await compare('over-threshold', undefined, parallel(100));
    expect(singleWorkerReason).toBe(GZIP_SINGLE_WORKER_REASON);
  }, 30_000);

  it('when no split was due (under the threshold, or workers: 1): no reason given', async () => {
    expect((await compare('under-threshold', undefined, parallel())).singleWorkerReason).toBeUndefined();
    expect((await compare('one-worker', { workers: 1 }, parallel(100))).singleWorkerReason).toBeUndefined();
  }, 30_000);
});

describe('the size limit of a .csv.gz', () => {
  const gz = gzipSync(CSV);

  it('holds for the decompressed CSV: a small .gz of a big CSV is refused as it decompresses', async () => {
    expect(gz.length).toBeLessThan(CSV.length / 2);
    const key = 'uploads/bomb.csv.gz';
    await put(local, key, gz);
    const limits = { maxInputBytes: gz.length + 1 };
    const outcome = await runRatesJob(local.s3, { bucket: BUCKET, key }, DEFAULTS, limits);
    expect(outcome).toMatchObject({ status: 'error', error: { code: 'FILE_TOO_LARGE' } });
    expect(outcome.status === 'error' && outcome.error.message).toMatch(/decompresses to more than/);
    expect(await exists('results/bomb/rates.csv')).toBe(false);
    expect(await openUploads(local)).toEqual([]);
  });

  it('is checked on the stored size first, before anything is read', async () => {
    const key = 'uploads/stored.csv.gz';
    await put(local, key, gz);
    const outcome = await runRatesJob(local.s3, { bucket: BUCKET, key }, DEFAULTS, { maxInputBytes: gz.length - 1 });
    expect(outcome).toMatchObject({ status: 'error', error: { code: 'FILE_TOO_LARGE' } });
    expect(outcome.status === 'error' && outcome.error.message).toMatch(/over the .* the rates Lambda takes/);
  });

  it('skips the spill pre-check, which needs the CSV size (the plain file is refused by it)', async () => {
    const noSpace = { freeSpillBytes: async () => 0 };
    await put(local, 'uploads/spill.csv', CSV);
    const plain = await runRatesJob(local.s3, { bucket: BUCKET, key: 'uploads/spill.csv' }, DEFAULTS, LIMITS, noSpace);
    expect(plain).toMatchObject({ status: 'error', error: { code: 'FILE_TOO_LARGE' } });
    await put(local, 'uploads/spill.csv.gz', gz);
    const compressed = await runRatesJob(
      local.s3,
      { bucket: BUCKET, key: 'uploads/spill.csv.gz' },
      DEFAULTS,
      LIMITS,
      noSpace,
    );
    // A file this small never leaves the statistics' memory buffer, so it runs.
    expect(compressed).toMatchObject({ status: 'ok', input: { compression: 'gzip', bytes: CSV.length } });
  });
});
