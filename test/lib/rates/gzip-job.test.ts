/**
 * Compressed uploads through the real job against a local S3 server: `uploads/<name>.csv.gz` must publish exactly
 * what `uploads/<name>.csv` publishes — rates.csv byte for byte, summary.json but for the key, ETag, run id,
 * timings and the compression fields — for every file of the parallel corpus (bad files give the same error.json).
 * The plain run is the reference: it is the single path the job always had, not the code under test.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RatesDefaults } from '../../../lib/config.ts';
import { runRatesJob } from '../../../lib/rates/job.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../support/local-s3.ts';
import { corpus } from './parallel/corpus.ts';
import { BUCKET, openUploads, published, put } from './gzip-rig.ts';

const DEFAULTS: RatesDefaults = { numerator: 'num', denominator: 'den', bins: 10 };
let local: LocalS3;

beforeAll(async () => {
  local = await startLocalS3([BUCKET], 'cp-gzip-job-');
});

afterAll(async () => {
  await stopLocalS3(local);
});

/** Runs `uploads/<name>.csv` with `plain`, then `uploads/<name>.csv.gz` with `gz`; both publish to results/<name>/. */
async function runBoth(name: string, plain: Buffer, gz: Buffer) {
  const plainKey = `uploads/${name}.csv`;
  const gzKey = `uploads/${name}.csv.gz`;
  await put(local, plainKey, plain);
  const expected = await published(
    local,
    name,
    await runRatesJob(local.s3, { bucket: BUCKET, key: plainKey }, DEFAULTS),
    plainKey,
    plainKey,
  );
  await put(local, gzKey, gz);
  const outcome = await runRatesJob(local.s3, { bucket: BUCKET, key: gzKey }, DEFAULTS);
  const got = await published(local, name, outcome, gzKey, plainKey);
  return { expected, got, outcome };
}

describe('a .csv.gz upload publishes what the same .csv publishes', () => {
  for (const { name, csv } of corpus()) {
    it(`${name} (${csv.length} bytes)`, async () => {
      const gz = gzipSync(csv);
      const { expected, got } = await runBoth(name, csv, gz);
      if ('csv' in expected) {
        expect('csv' in got, `${name}: the .gz run succeeded`).toBe(true);
        if (!('csv' in got)) return;
        expect(got.csv.equals(expected.csv), `${name}: rates.csv bytes`).toBe(true);
        expect(got.summary).toEqual(expected.summary);
        // A plain CSV's summary.json is as it always was: no compression fields, no single-worker note.
        expect(expected.compression).toEqual({});
        expect(expected.summary).not.toHaveProperty('singleWorkerReason');
        expect(got.compression).toEqual({ compression: 'gzip', storedBytes: gz.length });
      } else {
        expect(got).toEqual(expected);
      }
      expect(await openUploads(local)).toEqual([]);
    }, 30_000);
  }

  it('reads a file of several gzip members (as `cat a.gz b.gz` or pigz make it) as one CSV', async () => {
    const csv = corpus().find((file) => file.name === 'quoted commas and newlines')!.csv;
    // Cut inside the data, so a record and a quoted field straddle the two members.
    const cut = Math.floor(csv.length / 2) + 3;
    const members = Buffer.concat([gzipSync(csv.subarray(0, cut)), gzipSync(csv.subarray(cut))]);
    const { expected, got } = await runBoth('members', csv, members);
    expect('csv' in expected && 'csv' in got).toBe(true);
    if (!('csv' in expected && 'csv' in got)) return;
    expect(got.csv.equals(expected.csv)).toBe(true);
    expect(got.summary).toEqual(expected.summary);
  });
});
