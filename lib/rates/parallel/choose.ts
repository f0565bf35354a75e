/**
 * Whether a rates run is split across workers, and how: what the run asked for (invocation or metadata,
 * lib/rates/split.ts), the deployment's threshold, and what the object allows (a size, an ETag, not gzip).
 */
import { RatesFileError } from '../errors.ts';
import type { RatesSplit } from '../split.ts';
import type { SplitRequest } from './coordinator.ts';
import type { ParallelSetup } from './run.ts';

/**
 * The split a run gets, or null for the single path: what it asked for (`workers: 1` forces the single path), else `chunkBytes` ranges for a file over
 * `aboveBytes`. A compressed upload (`input.compressed`, a `.csv.gz` key) is never split, whatever was asked: a gzip
 * stream can only be read from its start, so no worker could begin at a byte range's start (the job says so in
 * summary.json's `singleWorkerReason`).
 */
export function chooseSplit(
  asked: RatesSplit | undefined,
  bytes: number,
  setup: Pick<ParallelSetup, 'aboveBytes' | 'chunkBytes'>,
  input: { compressed?: boolean } = {},
): SplitRequest | null {
  if (input.compressed === true || asked?.workers === 1) return null;
  if (asked?.workers !== undefined) return { workers: asked.workers };
  if (asked?.chunkBytes !== undefined) return { chunkBytes: asked.chunkBytes };
  return bytes > setup.aboveBytes ? { chunkBytes: setup.chunkBytes } : null;
}

/**
 * The split of a run (chooseSplit), or null for the single path. A split needs the
 * object's size and ETag (every ranged read is conditional on it) and a deployment with workers: asking for one
 * without them is refused, since the run would silently be something else than what was asked. A compressed upload
 * is never split, and that is not refused: the run goes ahead on one worker and its summary says why (wouldSplit).
 */
export function splitFor(
  asked: RatesSplit | undefined,
  size: number | undefined,
  eTag: string | null,
  parallel: ParallelSetup | undefined,
  compressed: boolean,
): SplitRequest | null {
  if (parallel === undefined || size === undefined || eTag === null) {
    if (asked === undefined || !asksForSplit(asked) || compressed) return null;
    throw new RatesFileError(
      'INVALID_OPTIONS',
      parallel === undefined
        ? 'This deployment has no rates worker function (RATES_WORKER_FUNCTION is not set), so the file cannot be split: run it without workers/chunkBytes.'
        : 'S3 gave no size or ETag for the object, which splitting it by byte range needs: run it without workers/chunkBytes.',
    );
  }
  return chooseSplit(asked, size, parallel, { compressed });
}

/**
 * Whether a plain CSV of `size` bytes would have been split: a split was asked for (workers > 1 or chunkBytes), or a
 * deployment with workers splits a file that big unasked (for a compressed upload, `size` is its stored size). Said in
 * summary.json of a compressed upload, which never is split.
 */
export function wouldSplit(asked: RatesSplit, size: number | undefined, parallel: ParallelSetup | undefined): boolean {
  if (asksForSplit(asked)) return true;
  return parallel !== undefined && size !== undefined && chooseSplit(asked, size, parallel) !== null;
}

/** More than one worker, or a chunk size: a split asked for in so many words (`workers: 1` asks for none). */
function asksForSplit(asked: RatesSplit): boolean {
  return (asked.workers !== undefined && asked.workers > 1) || asked.chunkBytes !== undefined;
}
