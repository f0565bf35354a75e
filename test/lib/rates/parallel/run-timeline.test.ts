/**
 * A split run's timeline.{json,svg,png} keep publish.ts's rules for results/<name>/, against a real local S3 server
 * with the workers in real threads: they come and go with the set — there after a split run and listed in its
 * summary.json, gone after a single run or an error.json, and never left behind by a commit that failed half way
 * (S3 refusing the timeline's own PUT: the folder is left empty, and the retry publishes the whole set).
 */
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import type { RatesDefaults } from '../../../../lib/config.ts';
import { InfrastructureError } from '../../../../lib/errors.ts';
import { runRatesJob } from '../../../../lib/rates/job.ts';
import type { RatesJobOutcome, RatesSummary } from '../../../../lib/rates/outcome.ts';
import { FAULT_ENV, type RatesWorkerFault } from '../../../support/crashing-rates-worker.ts';
import { useFaultProxiedS3 } from '../../../support/fault-proxied-s3.ts';
import { decodePng } from '../../../support/png.ts';
import { leftovers, localParallelSetup, objectBytes, TIMELINE_FILES } from '../../../support/parallel-rates.ts';
import { generated } from './worker-rig.ts';

const BUCKET = 'parallel-rates-timeline';
const DEFAULTS: RatesDefaults = { numerator: 'num', denominator: 'den', bins: 10 };
const CSV = generated(3000); // 56,799 bytes: 7 chunks of 8 KiB
const CHUNK = 8192;
const SET = ['histogram.png', 'histogram.svg', 'rates.csv', 'summary.json'];
let runs = 0;
const rig = useFaultProxiedS3(BUCKET, 'cp-parallel-timeline-');

/** The names in results/<name>/, sorted. */
async function folder(name: string): Promise<string[]> {
  const listed = await rig.local.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `results/${name}/` }));
  return (listed.Contents ?? []).map((o) => (o.Key ?? '').slice(`results/${name}/`.length)).sort();
}

/** uploads/<name>.csv run again under a new run id: split in chunks of 8 KiB, or on the single path. */
async function rerun(name: string, how: 'split' | 'single', s3: S3Client = rig.local.s3): Promise<RatesJobOutcome> {
  const key = `uploads/${name}.csv`;
  await rig.local.s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: CSV, Metadata: { 'run-id': `t-${++runs}` } }),
  );
  if (how === 'single') return runRatesJob(s3, { bucket: BUCKET, key }, DEFAULTS);
  // The worker that fails a chunk on demand (FAULT_ENV), the real one otherwise.
  const worker = {
    module: new URL('../../../support/crashing-rates-worker.ts', import.meta.url),
    exportName: 'runFaultyRatesWorkerTask',
  };
  return runRatesJob(s3, { bucket: BUCKET, key, split: { chunkBytes: CHUNK } }, DEFAULTS, undefined, {
    parallel: localParallelSetup({ aboveBytes: 0, chunkBytes: CHUNK }, worker),
  });
}

async function expectSplitSet(name: string, outcome: RatesJobOutcome): Promise<void> {
  expect(outcome.status).toBe('ok');
  expect(await folder(name)).toEqual([...SET, ...TIMELINE_FILES].sort());
  const summary = JSON.parse((await objectBytes(rig.local.s3, BUCKET, `results/${name}/summary.json`)).toString());
  expect((summary as RatesSummary).outputs.timeline).toEqual({
    json: `s3://${BUCKET}/results/${name}/timeline.json`,
    svg: `s3://${BUCKET}/results/${name}/timeline.svg`,
    png: `s3://${BUCKET}/results/${name}/timeline.png`,
  });
  const png = decodePng(await objectBytes(rig.local.s3, BUCKET, `results/${name}/timeline.png`));
  expect(png.width).toBeGreaterThan(700);
  const svg = (await objectBytes(rig.local.s3, BUCKET, `results/${name}/timeline.svg`)).toString();
  expect(svg).toContain(`Rates of ${name}.csv`);
  expect(svg).toContain('parse 6'); // the last of 7 chunks of 8 KiB
}

describe("a split run's timeline in results/<name>/", () => {
  it('comes with a split run, goes with an error.json and with a single run', async () => {
    await expectSplitSet('comes-goes', await rerun('comes-goes', 'split'));

    // A chunk that fails for good: error.json alone, the older run's timeline gone with the rest of its set.
    vi.stubEnv(
      FAULT_ENV,
      JSON.stringify({
        chunk: 4,
        mode: 'throw',
        log: path.join(rig.logs, 'comes-goes.log'),
      } satisfies RatesWorkerFault),
    );
    expect((await rerun('comes-goes', 'split')).status).toBe('error');
    expect(await folder('comes-goes')).toEqual(['error.json']);
    vi.stubEnv(FAULT_ENV, undefined);

    await expectSplitSet('comes-goes', await rerun('comes-goes', 'split'));
    // A single run has no timeline and leaves none of the split run's beside its set.
    const single = await rerun('comes-goes', 'single');
    expect(single.status).toBe('ok');
    expect((single as RatesSummary).outputs.timeline).toBeUndefined();
    expect(await folder('comes-goes')).toEqual(SET);
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
  }, 40_000);

  it('is never left half-committed: S3 refusing timeline.png empties the folder, and the retry publishes all', async () => {
    expect((await rerun('refused', 'single')).status).toBe('ok');
    const rule = rig.proxy.addRule({
      method: 'PUT',
      key: 'results/refused/timeline.png',
      times: Number.POSITIVE_INFINITY,
      fault: { status: 500, code: 'InternalError' },
    });
    const error = await rerun('refused', 'split', rig.faulty).catch((thrown: unknown) => thrown);
    expect(error, 'thrown, so that Lambda retries the event').toBeInstanceOf(InfrastructureError);
    expect((error as Error).message).toMatch(/^publishing results\/refused\/ failed \(/);
    expect(rule.hits, 'the fault was met').toBeGreaterThan(0);
    expect(await folder('refused')).toEqual([]);
    expect(await leftovers(rig.local.s3, BUCKET)).toEqual({ scratch: [], uploads: [] });
    rig.proxy.clearRules();
    await expectSplitSet('refused', await rerun('refused', 'split', rig.faulty));
  }, 40_000);
});
