/**
 * A split run's progress, for whoever waits on it (the CLI): the coordinator puts it to
 * `runs/rates/<run id>/progress.json` — at most once per interval, and at every change of phase — and deletes it at
 * the end. The run id is the one the client chose (upload metadata), so the client knows where to look without
 * listing. Progress is advisory: a failed write is logged once and never fails the run (lib/aws/throttled-object.ts).
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { isNotFound } from '../../aws/s3.ts';
import { throttledObjectWriter } from '../../aws/throttled-object.ts';
import type { ParallelProgress } from './coordinator.ts';
import { runIdSegment } from './scratch.ts';
import { SCRATCH_PREFIX } from './tasks.ts';

export const progressSchema = z.object({
  phase: z.enum(['parse', 'rerun', 'stats', 'concat']),
  chunks: z.number().int().min(0),
  done: z.number().int().min(0),
  bytesDone: z.number().min(0),
  bytesTotal: z.number().min(0),
  elapsedMs: z.number().min(0),
});
export type RatesProgress = z.infer<typeof progressSchema>;

/** Where the progress of the run `runId` is kept; null for a run id that is not a plain key segment. */
export function progressKey(runId: string | null): string | null {
  const segment = runIdSegment(runId);
  return segment === null ? null : `${SCRATCH_PREFIX}${segment}/progress.json`;
}

export interface ProgressWriter {
  report(progress: ParallelProgress): void;
  /** Resolves once every write reported so far has landed (or failed). */
  settled(): Promise<void>;
  /** Waits for the last write, then deletes the object. */
  close(): Promise<void>;
}

export function progressWriter(s3: S3Client, bucket: string, key: string, intervalMs = 1000): ProgressWriter {
  const started = performance.now();
  const object = throttledObjectWriter<RatesProgress>(s3, {
    bucket,
    key,
    intervalMs,
    what: 'the progress of a parallel rates run',
  });
  let lastPhase: string | null = null;
  return {
    report(progress) {
      // A new phase is written at once: the client says which phase the run is in.
      const force = progress.phase !== lastPhase;
      lastPhase = progress.phase;
      object.report({ ...progress, elapsedMs: Math.round(performance.now() - started) }, { force });
    },
    settled: () => object.settled(),
    close: () => object.delete(),
  };
}

/** The run's latest progress, or null when there is none (not split, not started, or over). */
export async function readProgress(s3: S3Client, bucket: string, runId: string): Promise<RatesProgress | null> {
  const key = progressKey(runId);
  if (key === null) return null;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const parsed = progressSchema.safeParse(JSON.parse(await object.Body!.transformToString()));
    return parsed.success ? parsed.data : null;
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) return null;
    throw error;
  }
}
