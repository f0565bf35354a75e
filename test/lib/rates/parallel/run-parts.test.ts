/**
 * rates.csv of a split run from parts the workers upload themselves (part-writer.ts, assemble-plan.ts): files big
 * enough for chunks to cut 5 MiB parts, run single and split against a real local S3 server (which refuses a part
 * under 5 MiB that is not the last, as S3 does), must publish byte-identical results — including a file whose
 * tiny first chunk forces the next chunk to be parsed again without parts. Nothing may be left behind. Each split
 * run's timeline has a row for every task it ran, the re-runs without parts included.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RatesDefaults } from '../../../../lib/config.ts';
import { runRatesJob } from '../../../../lib/rates/job.ts';
import type { RatesSummary } from '../../../../lib/rates/outcome.ts';
import type { SplitRequest } from '../../../../lib/rates/parallel/coordinator.ts';
import { sampleCountyCsv } from '../../../../lib/rates/sample-data.ts';
import { stubS3Env } from '../../../support/clients.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../../support/local-s3.ts';
import {
  expectTimelineOfRun,
  leftovers,
  localParallelSetup,
  published,
  timelineJson,
} from '../../../support/parallel-rates.ts';

const BUCKET = 'parallel-rates-parts';
const DEFAULTS: RatesDefaults = { numerator: 'cancer', denominator: 'population', bins: 20 };
const MIB = 1024 * 1024;
let local: LocalS3;
let runs = 0;

beforeAll(async () => {
  local = await startLocalS3([BUCKET], 'cp-parallel-parts-');
  stubS3Env(local.server.endpoint);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await stopLocalS3(local);
});

/** Runs `csv` single, then split each way; returns each split run's summary after checking it equals the single. */
async function splitEqualsSingle(name: string, csv: Buffer, splits: SplitRequest[]): Promise<RatesSummary[]> {
  const key = `uploads/${name}.csv`;
  await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv }));
  const expected = await published(
    local.s3,
    BUCKET,
    name,
    await runRatesJob(local.s3, { bucket: BUCKET, key }, DEFAULTS),
  );
  if (!('csv' in expected)) throw new Error(`the single run of ${name} failed: ${JSON.stringify(expected)}`);
  const summaries: RatesSummary[] = [];
  for (const split of splits) {
    const metadata = { 'run-id': `parts-${++runs}` };
    await local.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: csv, Metadata: metadata }));
    const setup = {
      ...localParallelSetup({ aboveBytes: Number.MAX_SAFE_INTEGER, chunkBytes: 64 * MIB }),
      partBytes: 5 * MIB,
    };
    const outcome = await runRatesJob(local.s3, { bucket: BUCKET, key, split }, DEFAULTS, undefined, {
      parallel: setup,
    });
    const what = `${name} split ${JSON.stringify(split)}`;
    const got = await published(local.s3, BUCKET, name, outcome);
    if (!('csv' in got)) throw new Error(`${what} failed: ${JSON.stringify(got)}`);
    expect(got.csv.length, `${what}: rates.csv length`).toBe(expected.csv.length);
    expect(got.csv.equals(expected.csv), `${what}: rates.csv bytes`).toBe(true);
    expect({ ...got.summary, runId: null }, what).toEqual({ ...expected.summary, runId: null });
    expect(await leftovers(local.s3, BUCKET), `${what}: nothing left behind`).toEqual({ scratch: [], uploads: [] });
    // Every chunk of these files has rates, so every chunk answers every statistics round.
    const p = (outcome as RatesSummary).parallel;
    const timeline = await timelineJson(local.s3, BUCKET, name);
    expectTimelineOfRun(timeline, outcome as RatesSummary, (p?.statsRounds ?? 0) * (p?.chunks ?? 0));
    summaries.push(outcome as RatesSummary);
  }
  return summaries;
}

describe('a split run whose workers upload rates.csv parts themselves', () => {
  it("publishes what the single path publishes, most bytes in the workers' own parts", async () => {
    // ~21 MB, ~34 MB of rates.csv: 2 workers cut two 5 MiB parts each, 3 one each, 6 none (all copied or stitched).
    const csv = Buffer.from(sampleCountyCsv({ rows: 600_000, badRowFraction: 0.001 }));
    const [two, three, six] = await splitEqualsSingle('counties', csv, [
      { workers: 2 },
      { workers: 3 },
      { workers: 6 },
    ]);
    const total = (s: RatesSummary | undefined) => {
      const a = s?.parallel?.assembly;
      return a === undefined ? 0 : a.workerBytes + a.copiedBytes + a.stitchedBytes;
    };
    for (const summary of [two, three, six]) expect(total(summary)).toBeGreaterThan(20 * MIB);
    expect(two?.parallel?.assembly.workerParts).toBeGreaterThanOrEqual(4);
    expect(three?.parallel?.assembly.workerParts).toBeGreaterThanOrEqual(3);
    expect(two?.parallel?.assembly.workerBytes).toBeGreaterThan(total(two) / 2);
    expect(six?.parallel?.assembly.workerParts).toBe(0);
    expect(six?.parallel?.assembly.copiedParts).toBeGreaterThan(0);
  }, 120_000);

  it('parses a chunk again without parts when tiny outputs before it cannot make a 5 MiB part', async () => {
    // The first third is nearly all bad rows (a few KiB of output), the rest good: chunk 1's parts cannot follow
    // chunk 0's output as they are, so chunk 1 is parsed again and its whole output joins chunk 0's.
    const bad = sampleCountyCsv({ rows: 200_000, seed: 7, badRowFraction: 0.999 });
    const good = sampleCountyCsv({ rows: 400_000, seed: 8 });
    const csv = Buffer.from(bad + good.slice(good.indexOf('\n') + 1));
    const [split] = await splitEqualsSingle('mostly-bad-start', csv, [{ workers: 3 }]);
    expect(split?.parallel?.assembly.rerunsWithoutParts).toBeGreaterThanOrEqual(1);
    expect(split?.parallel?.assembly.workerParts).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
