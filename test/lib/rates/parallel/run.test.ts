/**
 * The rates job split across workers must publish exactly what the single path publishes: every corpus file is
 * uploaded to a real local S3 server, run once on one worker (runRatesJob without workers) and again split into
 * ranges parsed by worker threads running the real worker (lib/rates/parallel/worker.ts) against the same server;
 * rates.csv must be byte-identical and summary.json identical except timings, run id, its `parallel` section and the
 * timeline among its outputs. A split run leaves its timeline (timeline.{json,svg,png}: a task per chunk parsed, per
 * re-run and per statistics task, labelled by phase), the single run none. Nothing may be left behind: no scratch
 * object, no open multipart upload.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RatesDefaults } from '../../../../lib/config.ts';
import { runRatesJob } from '../../../../lib/rates/job.ts';
import type { RatesSummary } from '../../../../lib/rates/outcome.ts';
import type { ParallelSetup } from '../../../../lib/rates/parallel/run.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../../support/local-s3.ts';
import { corpus } from './corpus.ts';
import { stubS3Env } from '../../../support/clients.ts';
import {
  expectTimelineOfRun,
  leftovers,
  localParallelSetup,
  published,
  TIMELINE_FILES,
  timelineFiles,
  timelineJson,
} from '../../../support/parallel-rates.ts';

const BUCKET = 'parallel-rates';
const DEFAULTS: RatesDefaults = { numerator: 'num', denominator: 'den', bins: 10 };
/** Run ids are plain key segments, so each split run also keeps a progress object (deleted at its end). */
let runs = 0;
let local: LocalS3;

beforeAll(async () => {
  local = await startLocalS3([BUCKET], 'cp-parallel-run-');
  // The worker threads build their S3 client from the environment, as a Lambda does.
  stubS3Env(local.server.endpoint);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await stopLocalS3(local);
});

function setup(): ParallelSetup {
  return localParallelSetup({ aboveBytes: Number.MAX_SAFE_INTEGER, chunkBytes: 64 * 1024 * 1024 });
}

describe('a split run publishes what the single path publishes', () => {
  for (const { name, csv } of corpus()) {
    it(`${name} (${csv.length} bytes)`, async () => {
      const key = `uploads/${name}.csv`;
      await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv }));
      const single = await runRatesJob(local.s3, { bucket: BUCKET, key }, DEFAULTS);
      const expected = await published(local.s3, BUCKET, name, single);
      expect(await timelineFiles(local.s3, BUCKET, name), `${name}: a single run draws no timeline`).toEqual([]);
      for (const split of [{ workers: 3 }, { chunkBytes: 4096 }]) {
        // Another option set than the single run's would defeat the duplicate check only by chance: a new run id does.
        await local.s3.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv, Metadata: { 'run-id': `run-${++runs}` } }),
        );
        const outcome = await runRatesJob(local.s3, { bucket: BUCKET, key, split }, DEFAULTS, undefined, {
          parallel: setup(),
        });
        const got = await published(local.s3, BUCKET, name, outcome);
        const what = `${name} split ${JSON.stringify(split)}`;
        if ('csv' in expected && 'csv' in got) {
          expect(got.csv.equals(expected.csv), `${what}: rates.csv bytes`).toBe(true);
          expect({ ...got.summary, runId: null }, what).toEqual({ ...expected.summary, runId: null });
          const summary = outcome as RatesSummary;
          expect(summary.parallel?.chunks, what).toBeGreaterThanOrEqual(1);
          expect(await timelineFiles(local.s3, BUCKET, name), `${what}: its timeline`).toEqual(TIMELINE_FILES);
          expect(summary.outputs.timeline, what).toEqual({
            json: `s3://${BUCKET}/results/${name}/timeline.json`,
            svg: `s3://${BUCKET}/results/${name}/timeline.svg`,
            png: `s3://${BUCKET}/results/${name}/timeline.png`,
          });
          expectTimelineOfRun(await timelineJson(local.s3, BUCKET, name), summary);
        } else {
          expect({ ...got, error: { ...(got as { error: object }).error, runId: null } }, what).toEqual({
            error: { ...(expected as { error: object }).error, runId: null },
          });
          expect(await timelineFiles(local.s3, BUCKET, name), `${what}: error.json alone`).toEqual([]);
        }
        expect(await leftovers(local.s3, BUCKET), `${what}: nothing left behind`).toEqual({ scratch: [], uploads: [] });
      }
    }, 60_000);
  }
});
