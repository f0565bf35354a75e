/**
 * The rig of the split-run suites: worker threads of the local fan-out backend standing in for rates-worker
 * Lambdas, against a local S3 server (their S3 client comes from the environment: clients.ts stubS3Env).
 */
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import type { Timeline } from '../../lib/fanout/timeline.ts';
import type { RatesJobOutcome, RatesSummary } from '../../lib/rates/outcome.ts';
import type { ParallelSetup } from '../../lib/rates/parallel/run.ts';

const REAL_WORKER = {
  module: new URL('../../lib/rates/parallel/worker.ts', import.meta.url),
  exportName: 'runRatesWorkerTask',
};

/** A deployment with workers: two threads running `worker` (default the real one), splitting as `split` says. */
export function localParallelSetup(
  split: Pick<ParallelSetup, 'aboveBytes' | 'chunkBytes'>,
  worker: { module: URL; exportName: string } = REAL_WORKER,
): ParallelSetup {
  return { ...split, backend: { name: 'local', ...worker, threads: 2 } };
}

/** What a split run may leave behind and must not: scratch objects under runs/ and open multipart uploads. */
export async function leftovers(s3: S3Client, bucket: string): Promise<{ scratch: string[]; uploads: string[] }> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'runs/' }));
  const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return {
    scratch: (listed.Contents ?? []).map((o) => o.Key ?? ''),
    uploads: (open.Uploads ?? []).map((u) => u.Key ?? ''),
  };
}

export async function objectBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

/**
 * What a reader of results/<name>/ sees: rates.csv and summary.json (or error.json), minus what differs by run —
 * and what only a split run has: its `parallel` section and its timeline among the outputs.
 */
export type Published =
  | {
      csv: Buffer;
      summary: Omit<RatesSummary, 'timings' | 'finishedAt' | 'parallel' | 'outputs'> & {
        outputs: Omit<RatesSummary['outputs'], 'timeline'>;
      };
    }
  | { error: object };

export async function published(
  s3: S3Client,
  bucket: string,
  name: string,
  outcome: RatesJobOutcome,
): Promise<Published> {
  const read = async (file: string) => objectBytes(s3, bucket, `results/${name}/${file}`);
  if (outcome.status === 'error') {
    const { finishedAt: _f, ...report } = JSON.parse((await read('error.json')).toString());
    return { error: report };
  }
  const {
    timings: _t,
    finishedAt: _f,
    parallel: _p,
    outputs: { timeline: _tl, ...outputs },
    ...summary
  } = JSON.parse((await read('summary.json')).toString()) as RatesSummary;
  return { csv: await read('rates.csv'), summary: { ...summary, outputs } };
}

export const TIMELINE_FILES = ['timeline.json', 'timeline.png', 'timeline.svg'];

/** The timeline files in results/<name>/, sorted: all three after a split run, none after any other outcome. */
export async function timelineFiles(s3: S3Client, bucket: string, name: string): Promise<string[]> {
  const prefix = `results/${name}/`;
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}timeline.` }));
  return (listed.Contents ?? []).map((o) => (o.Key ?? '').slice(prefix.length)).sort();
}

export async function timelineJson(s3: S3Client, bucket: string, name: string): Promise<Timeline> {
  return JSON.parse((await objectBytes(s3, bucket, `results/${name}/timeline.json`)).toString()) as Timeline;
}

/** A task's phase, as its row is labelled (`stats r2 5` → `stats r2`). */
export function phaseOf(label: string | undefined): string {
  return (label ?? '').replace(/ \d+$/, '');
}

/**
 * The timeline of a split run against what its summary says it ran: one task per chunk parsed, per re-run (of a
 * wrong guess, or without parts) and per statistics task (`statsTasks`: rounds × the chunks that had values, when the
 * caller knows them; otherwise only checked to be whole rounds), its phases one after another, parse first.
 */
export function expectTimelineOfRun(timeline: Timeline, summary: RatesSummary, statsTasks?: number): void {
  const p = summary.parallel;
  if (p === undefined) throw new Error('expectTimelineOfRun: the run was not split');
  const count = (test: (phase: string) => boolean) => timeline.tasks.filter((t) => test(phaseOf(t.label))).length;
  const stats = count((phase) => phase.startsWith('stats '));
  expect(
    count((phase) => phase === 'parse'),
    'parse tasks',
  ).toBe(p.chunks);
  expect(
    count((phase) => /^rerun r\d+$/.test(phase)),
    're-runs of wrong guesses',
  ).toBe(p.reruns);
  expect(
    count((phase) => /^parts rerun r\d+$/.test(phase)),
    're-runs without parts',
  ).toBe(p.assembly.rerunsWithoutParts);
  if (statsTasks !== undefined) expect(stats, 'statistics tasks').toBe(statsTasks);
  else expect(p.statsRounds === 0 ? stats : stats % p.statsRounds, 'whole statistics rounds').toBe(0);
  expect(timeline.tasks.length, 'tasks: chunks + re-runs + statistics tasks').toBe(
    p.chunks + p.reruns + p.assembly.rerunsWithoutParts + stats,
  );
  expect(
    timeline.tasks.slice(0, p.chunks).map((t) => t.label),
    'the parse first, chunk by chunk',
  ).toEqual(Array.from({ length: p.chunks }, (_, i) => `parse ${i}`));
  // One phase after another: a phase's rows never come back once another phase began.
  const phases = timeline.tasks.map((t) => phaseOf(t.label));
  const runs = phases.filter((phase, i) => i === 0 || phase !== phases[i - 1]);
  expect(new Set(runs).size, `phases in one block each: ${runs.join(', ')}`).toBe(runs.length);
}
