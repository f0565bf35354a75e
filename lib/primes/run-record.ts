import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Uri } from '../aws/s3.ts';
import { renderTimelineChart } from '../fanout/timeline-chart.ts';
import { buildTimeline, type Timeline } from '../fanout/timeline.ts';
import type { FanoutTrace } from '../fanout/trace.ts';
import type { PrimesRunResult } from './fanout-job.ts';

/**
 * What a primes run leaves behind for people to look at, beside the reply: `timeline.json` (lib/fanout/timeline.ts),
 * its chart as `timeline.svg` and `timeline.png`, and the run's `summary.json` (what a list of runs shows: count,
 * range, backend, chunks, wall time, speedup, cost). On S3 under `results/primes/<runId>/`; from the CLI without a
 * stack, in a directory. `summary.json` is written last, so a run listed by its summary has its timeline too.
 */

export const RUN_FILE_NAMES = ['timeline.json', 'timeline.svg', 'timeline.png', 'summary.json'] as const;
export type RunFileName = (typeof RUN_FILE_NAMES)[number];

export interface RunFile {
  name: RunFileName;
  body: string | Buffer;
  contentType: string;
}

/** Where a run's files went: an `s3://…/` prefix or a directory, and each file's S3 key or path. */
export interface SavedRun {
  location: string;
  files: Record<RunFileName, string>;
}

/** A run's files, saved somewhere: S3 ({@link s3RunRecorder}) or a directory ({@link directoryRunRecorder}). */
export type RunRecorder = (runId: string, files: RunFile[]) => Promise<SavedRun>;

export interface PrimesRunSummary {
  runId: string;
  /** When the run started (coordinator clock), ISO 8601. */
  startedAt: string;
  start: number;
  end: number;
  backend: string;
  count: number;
  complete: boolean;
  chunks: number;
  failedChunks: number;
  attempts: number;
  coldStarts: number;
  maxBusy: number;
  wallMs: number;
  workerMs: number;
  speedup: number;
  cost: PrimesRunResult['cost'];
}

/** The S3 prefix of one run's files. */
export function primesRunPrefix(runId: string): string {
  return `results/primes/${runId}/`;
}

export function primesRunSummary(runId: string, result: PrimesRunResult, timeline: Timeline): PrimesRunSummary {
  return {
    runId,
    startedAt: timeline.startedAt,
    start: result.start,
    end: result.end,
    backend: result.backend,
    count: result.count,
    complete: result.complete,
    chunks: result.chunks.length,
    failedChunks: result.failedChunks.length,
    attempts: timeline.attempts,
    coldStarts: timeline.coldStarts,
    maxBusy: timeline.maxBusy,
    wallMs: result.wallMs,
    workerMs: result.workerMs,
    speedup: result.speedup,
    cost: result.cost,
  };
}

const n = (x: number) => x.toLocaleString('en-US');

/** Seconds with 2 decimals from 1 s on, milliseconds below. */
function duration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** The chart's title: the run at a glance (range, chunks, backend, wall time, speedup, cost). */
export function primesTimelineTitle(summary: PrimesRunSummary): { title: string; subtitle: string } {
  const cost = summary.cost === null ? 'no cost (local threads)' : `cost ≈ $${summary.cost.usd.toFixed(6)}`;
  const title =
    `Primes in [${n(summary.start)}, ${n(summary.end)}): ${n(summary.chunks)} chunks on ${summary.backend} — ` +
    `wall ${duration(summary.wallMs)}, speedup ${summary.speedup}×, ${cost}`;
  const parts = [
    `run ${summary.runId}`,
    `${n(summary.count)} primes${summary.complete ? '' : ` (INCOMPLETE: ${summary.failedChunks} chunk(s) failed)`}`,
    `${summary.attempts} attempts`,
    `${summary.coldStarts} cold start${summary.coldStarts === 1 ? '' : 's'}`,
    `at most ${summary.maxBusy} workers busy`,
    "bars: the worker's own time; grey: submit to reply",
  ];
  return { title, subtitle: parts.join(' · ') };
}

/** The run's four files, summary.json last. */
export async function buildPrimesRunFiles(
  runId: string,
  result: PrimesRunResult,
  trace: FanoutTrace,
): Promise<RunFile[]> {
  const timeline = buildTimeline(trace);
  const summary = primesRunSummary(runId, result, timeline);
  const chart = await renderTimelineChart({ timeline, ...primesTimelineTitle(summary) });
  return [
    { name: 'timeline.json', body: `${JSON.stringify(timeline)}\n`, contentType: 'application/json' },
    { name: 'timeline.svg', body: chart.svg, contentType: 'image/svg+xml' },
    { name: 'timeline.png', body: chart.png, contentType: 'image/png' },
    { name: 'summary.json', body: `${JSON.stringify(summary, null, 2)}\n`, contentType: 'application/json' },
  ];
}

function assertComplete(files: RunFile[]): void {
  const names = files.map((f) => f.name);
  if (RUN_FILE_NAMES.some((name) => !names.includes(name)))
    throw new Error(`a run record needs ${RUN_FILE_NAMES.join(', ')}; got ${names.join(', ')}`);
}

/** Saves under `results/primes/<runId>/` in `bucket`, one PutObject per file, in order (summary.json last). */
export function s3RunRecorder(s3: S3Client, bucket: string): RunRecorder {
  return async (runId, files) => {
    assertComplete(files);
    const prefix = primesRunPrefix(runId);
    const keys: Partial<Record<RunFileName, string>> = {};
    for (const file of files) {
      const key = `${prefix}${file.name}`;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: file.body, ContentType: file.contentType }));
      keys[file.name] = key;
    }
    return { location: s3Uri(bucket, prefix), files: keys as Record<RunFileName, string> };
  };
}

/** Writes the files into `dir` (made if missing), as they are named; the run id is in summary.json. */
export function directoryRunRecorder(dir: string): RunRecorder {
  return async (_runId, files) => {
    assertComplete(files);
    await mkdir(dir, { recursive: true });
    const paths: Partial<Record<RunFileName, string>> = {};
    for (const file of files) {
      const at = path.join(dir, file.name);
      await writeFile(at, file.body);
      paths[file.name] = at;
    }
    return { location: dir, files: paths as Record<RunFileName, string> };
  };
}
