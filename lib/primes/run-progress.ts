/**
 * A primes run's progress while it runs, for whoever waits on it from outside (the dashboard's Runs page): the
 * fan-out puts it to `results/primes/<runId>/progress.json` — the first state at once, then at most every 500 ms as
 * chunks finish, and the last state (`done` or `failed`) before the run's summary.json. The caller chooses the run id
 * (the `runId` of the run's input), so it knows where to look without listing.
 *
 * The final state is kept, not deleted: a poller then never mistakes "over" for "not started" (both would be a
 * missing object), a run whose summary could not be saved still says how it ended, and the fan-out's role needs
 * no s3:DeleteObject on results/. The Runs list reads summary.json only, so a kept progress.json lists nothing.
 * Advisory: a failed write is logged once and never fails the run (lib/aws/throttled-object.ts).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { throttledObjectWriter, type ThrottledObjectWriter } from '../aws/throttled-object.ts';
import type { Backend, ProgressEvent } from '../fanout/index.ts';
import { readJsonObject } from '../rates/client.ts';
import type { Chunk } from './chunks.ts';
import { runIdSchema } from './run-id.ts';
import { primesRunPrefix } from './run-record.ts';
import type { PrimesChunkResult, PrimesTask } from './worker.ts';

/** Least time between two writes while chunks finish; the first and the last state are written at once. */
export const PROGRESS_INTERVAL_MS = 500;

const count = z.number().int().min(0);

export const primesProgressSchema = z.object({
  runId: runIdSchema,
  /** `done`: every chunk settled (the timeline and summary.json come next); `failed`: the run threw. */
  state: z.enum(['running', 'done', 'failed']),
  start: z.number(),
  end: z.number(),
  backend: z.string(),
  /** When the fan-out started (coordinator clock), ISO 8601. */
  startedAt: z.string(),
  elapsedMs: z.number().min(0),
  chunks: z.object({ total: count, done: count, failed: count }),
  /** How many numbers of [start, end) the chunks that succeeded covered, and the primes they found. */
  numbersCounted: count,
  primes: count,
  /** Why the run failed, in words (state `failed`). */
  error: z.string().optional(),
});
export type PrimesProgress = z.infer<typeof primesProgressSchema>;

export function primesProgressKey(runId: string): string {
  return `${primesRunPrefix(runIdSchema.parse(runId))}progress.json`;
}

/** Where a run's progress goes: a writer per run id. */
export type PrimesProgressStore = (runId: string) => ThrottledObjectWriter<PrimesProgress>;

/** Progress objects in `bucket`, through the caller's S3 client. */
export function s3ProgressStore(s3: S3Client, bucket: string, intervalMs = PROGRESS_INTERVAL_MS): PrimesProgressStore {
  return (runId) =>
    throttledObjectWriter<PrimesProgress>(s3, {
      bucket,
      key: primesProgressKey(runId),
      intervalMs,
      what: `the progress of primes run ${runId}`,
    });
}

/** The run's latest progress; null when it has none (not started, or run without a store) or an unreadable one. */
export async function readPrimesProgress(s3: S3Client, bucket: string, runId: string): Promise<PrimesProgress | null> {
  let raw: unknown;
  try {
    raw = await readJsonObject(s3, bucket, primesProgressKey(runId));
  } catch (error) {
    // Half-written objects do not exist in S3; a body that is not JSON was put there by someone else: no progress.
    if (error instanceof SyntaxError) return null;
    throw error;
  }
  const parsed = primesProgressSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

export interface PrimesProgressTracker {
  /** The fan-out's onProgress. */
  onProgress(event: ProgressEvent): void;
  /** Wraps the backend so each chunk's count is seen as it comes back. */
  decorate(backend: Backend<PrimesTask, PrimesChunkResult>): Backend<PrimesTask, PrimesChunkResult>;
  /** Writes the last state (`done`, or `failed` with `error`) and waits for every write. Never throws. */
  finish(error?: string): Promise<void>;
}

export interface TrackedRun {
  runId: string;
  start: number;
  end: number;
  backend: string;
  chunks: readonly Chunk[];
  /** Epoch milliseconds; default Date.now (tests pass their own). */
  now?: () => number;
}

/** Follows one run's chunks and reports every change to `writer`, the first state forced. */
export function trackPrimesProgress(
  writer: ThrottledObjectWriter<PrimesProgress>,
  run: TrackedRun,
): PrimesProgressTracker {
  const now = run.now ?? Date.now;
  const started = now();
  const counts = new Map<number, number>();
  const state: PrimesProgress = {
    runId: run.runId,
    state: 'running',
    start: run.start,
    end: run.end,
    backend: run.backend,
    startedAt: new Date(started).toISOString(),
    elapsedMs: 0,
    chunks: { total: run.chunks.length, done: 0, failed: 0 },
    numbersCounted: 0,
    primes: 0,
  };
  const report = (force: boolean): void => {
    state.elapsedMs = Math.max(0, now() - started);
    writer.report(structuredClone(state), { force });
  };
  report(true);

  return {
    onProgress(event) {
      if (event.kind !== 'succeeded' && event.kind !== 'failed') return;
      state.chunks.done = event.done;
      if (event.kind === 'failed') state.chunks.failed += 1;
      else {
        const chunk = run.chunks[event.index];
        state.numbersCounted += chunk === undefined ? 0 : chunk.end - chunk.start;
        state.primes += counts.get(event.index) ?? 0;
      }
      report(false);
    },
    decorate(backend) {
      // Methods called on the backend, not copied off it: a backend may be a class instance.
      return {
        name: backend.name,
        run: async (task, context) => {
          const result = await backend.run(task, context);
          counts.set(context.index, result.count);
          return result;
        },
        ...(backend.close ? { close: () => backend.close!() } : {}),
        ...(backend.usage ? { usage: () => backend.usage!() } : {}),
      };
    },
    async finish(error) {
      state.state = error === undefined ? 'done' : 'failed';
      if (error !== undefined) state.error = error;
      report(true);
      await writer.flush();
    },
  };
}
