/**
 * A parallel rates run from start to commit, for the rates job (job.ts) once it has decided to split: which split
 * applies, the workers (any fan-out backend), the coordinator's phases (coordinator.ts), then the same commit as
 * the single path (publish.ts) with a `parallel` section in summary.json and the run's timeline beside it
 * (timeline.ts), and the scratch objects deleted.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { withBackend, type BackendSpec } from '../../fanout/backends.ts';
import { fanoutCost, type LambdaPricing } from '../../fanout/cost.ts';
import type { Backend } from '../../fanout/index.ts';
import { asLoggable, logger } from '../../observability.ts';
import { RatesFileError } from '../errors.ts';
import type { RateOptions } from '../options.ts';
import type { RatesErrorReport, RatesSummary } from '../outcome.ts';
import { publishRatesResults, type RatesRunPlace, writeRatesError } from '../publish.ts';
import { ChunkFailedError } from './chunk-failed.ts';
import { computeInParallel, type ParallelProgress, type SplitRequest } from './coordinator.ts';
import { progressKey, progressWriter } from './progress.ts';
import { scratchPrefixFor } from './scratch.ts';
import { renderRatesTimeline } from './timeline.ts';
import type { SourceObject } from './source.ts';
import type { WorkerTask } from './tasks.ts';

/** Where and how the workers run, and when a file is split without being asked to. */
export interface ParallelSetup {
  /** Files bigger than this are split by `chunkBytes` unless the run asks otherwise (RATES_PARALLEL_ABOVE_BYTES). */
  aboveBytes: number;
  chunkBytes: number;
  backend: BackendSpec<unknown>;
  /**
   * Wraps the backend before the coordinator uses it: how a backend whose workers take another form of the tasks
   * fits the key-based coordinator (ec2-tasks.ts presigns them for EC2 instances).
   */
  decorate?: (backend: Backend<unknown, unknown>) => Backend<WorkerTask, unknown>;
  concurrency?: number;
  /** The size of the rates.csv parts workers upload (grants.ts); tests take S3's 5 MiB minimum. */
  partBytes?: number;
  pricing?: LambdaPricing;
  onProgress?: (progress: ParallelProgress) => void;
}

export interface ParallelRatesInput {
  place: RatesRunPlace & { prefix: string };
  source: SourceObject;
  options: RateOptions;
  split: SplitRequest;
}

/**
 * Runs the split file on the workers and commits the outputs. A file at fault gets error.json, as on the single
 * path; a chunk that fails for good (after the fan-out's retries, or at the deadline) gets error.json naming it,
 * and nothing of the run is published. Any other failure is thrown, after the multipart upload of rates.csv was
 * aborted and the scratch objects deleted, so Lambda's retry starts clean.
 */
export async function runParallelRates(
  s3: S3Client,
  input: ParallelRatesInput,
  setup: ParallelSetup,
  signal?: AbortSignal,
): Promise<RatesSummary | RatesErrorReport> {
  const started = performance.now();
  const { place, source } = input;
  const csvKey = `${place.prefix}rates.csv`;
  const key = progressKey(place.runId);
  const progress = key === null ? null : progressWriter(s3, source.bucket, key);
  const onProgress = (p: ParallelProgress): void => {
    progress?.report(p);
    setup.onProgress?.(p);
  };
  try {
    return await runOnWorkers(s3, input, setup, csvKey, onProgress, started, signal);
  } finally {
    await progress?.close();
  }
}

async function runOnWorkers(
  s3: S3Client,
  input: ParallelRatesInput,
  setup: ParallelSetup,
  csvKey: string,
  onProgress: (p: ParallelProgress) => void,
  started: number,
  signal: AbortSignal | undefined,
): Promise<RatesSummary | RatesErrorReport> {
  const { place, source, options } = input;
  const { value } = await withBackend<unknown, unknown, RatesSummary | RatesErrorReport>(setup.backend, async (raw) => {
    const backend: Backend<WorkerTask, unknown> = setup.decorate === undefined ? raw : setup.decorate(raw);
    let run: Awaited<ReturnType<typeof computeInParallel>>;
    try {
      run = await computeInParallel(
        s3,
        backend,
        { source, options, split: input.split, scratchPrefix: scratchPrefixFor(place.runId), csvKey },
        {
          ...(setup.concurrency === undefined ? {} : { concurrency: setup.concurrency }),
          ...(signal === undefined ? {} : { signal }),
          ...(setup.partBytes === undefined ? {} : { partBytes: setup.partBytes }),
          // Instances get presigned URLs, and a part grant would need one per part number (ec2-tasks.ts).
          directParts: setup.backend.name !== 'ec2',
          onProgress,
        },
      );
    } catch (error) {
      if (error instanceof ChunkFailedError && error.taskError.type === 'SourceChangedError') {
        return sourceChanged(place, error.message);
      }
      if (error instanceof RatesFileError || error instanceof ChunkFailedError) {
        return writeRatesError(s3, place, error.code as RatesFileError['code'] | 'CHUNK_FAILED', error.message);
      }
      throw error;
    }
    const { usage, ...section } = run.parallel;
    const cost = fanoutCost(setup.backend.name, {
      tasks: usage,
      pricing: setup.pricing,
      instances: backend.usage?.(),
    });
    const summary = { ...section, cost };
    const facts = { key: source.key, bytes: source.size, runId: place.runId, parallel: summary };
    try {
      return await publishRatesResults(
        s3,
        { ...place, eTag: source.eTag, options },
        run.computed,
        run.csv,
        { started, computeMs: performance.now() - started },
        { summary, timeline: () => renderRatesTimeline(run.timeline, facts) },
      );
    } finally {
      // The outcome stands either way: what could not be deleted, the lifecycle rule for runs/ expires in a day.
      await run.deleteScratch().catch((error: unknown) => {
        logger.warn('could not delete the scratch objects of a parallel rates run', {
          key: source.key,
          error: asLoggable(error),
        });
      });
    }
  });
  return value;
}

/**
 * The upload was replaced while the run read it: the new version's own event runs it. Nothing is written under
 * results/ — an error.json would first delete what the new version's run may already have committed there.
 */
function sourceChanged(place: RatesRunPlace, message: string): RatesErrorReport {
  logger.warn('a parallel rates run stopped: its upload was replaced mid-run', { key: place.key, error: message });
  return {
    status: 'error',
    runId: place.runId,
    input: { bucket: place.bucket, key: place.key },
    error: { code: 'SOURCE_CHANGED', message },
    errorObject: null,
    finishedAt: new Date().toISOString(),
  };
}
