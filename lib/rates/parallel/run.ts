/**
 * A parallel rates run from start to commit, for the rates job (job.ts) once it has decided to split: which split
 * applies, the workers (any fan-out backend), the coordinator's phases (coordinator.ts), then the same commit as
 * the single path (publish.ts) with a `parallel` section in summary.json, and the scratch objects deleted.
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
import { scratchPrefixFor } from './scratch.ts';
import type { SourceObject } from './source.ts';
import type { RatesSplit } from '../split.ts';
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
  pricing?: LambdaPricing;
  onProgress?: (progress: ParallelProgress) => void;
}

/**
 * The split a run gets, or null for the single path: what it asked for (`workers: 1` forces the single path), else `chunkBytes` ranges for a file over
 * `aboveBytes`. A compressed upload is never split (gzip cannot be read from the middle).
 */
export function chooseSplit(
  asked: RatesSplit | undefined,
  bytes: number,
  setup: Pick<ParallelSetup, 'aboveBytes' | 'chunkBytes'>,
): SplitRequest | null {
  if (asked?.workers === 1) return null;
  if (asked?.workers !== undefined) return { workers: asked.workers };
  if (asked?.chunkBytes !== undefined) return { chunkBytes: asked.chunkBytes };
  return bytes > setup.aboveBytes ? { chunkBytes: setup.chunkBytes } : null;
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
  const { place, source, options } = input;
  const csvKey = `${place.prefix}rates.csv`;
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
          ...(setup.onProgress === undefined ? {} : { onProgress: setup.onProgress }),
        },
      );
    } catch (error) {
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
    try {
      return await publishRatesResults(
        s3,
        { ...place, eTag: source.eTag, options },
        run.computed,
        run.csv,
        { started, computeMs: performance.now() - started },
        { ...section, cost },
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
