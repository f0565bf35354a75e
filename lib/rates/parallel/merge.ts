/**
 * Merging verified chunk replies into what the single path's computeRates reports (design14.md, step 4): rows
 * and bad rows summed, bad-row line numbers made global and the first 100 kept in file order, n/min/max, and the
 * whole-file errors worded as RatesEngine.end words them. The mean, median, p95 and histogram need passes over the
 * values (stats-rounds.ts: its first round sums them exactly), so they are not here.
 */
import type { BadRow } from '../bad-rows.ts';
import { noValidRowsError } from '../errors.ts';
import type { HeaderInfo } from '../csv-header.ts';
import { type ChunkRange, verifyChunks } from './chunks.ts';
import type { FileHeader } from './header.ts';
import type { ChunkReply } from './reply.ts';

/** Kept as the single path keeps them (bad-rows.ts). */
const MAX_BAD_ROW_SAMPLES = 100;

export interface MergedChunks extends Pick<HeaderInfo, 'columns' | 'rateColumn'> {
  rows: number;
  badRows: number;
  badRowSamples: BadRow[];
  n: number;
  min: number;
  max: number;
  /** The whole file's bytes (the single path's `inputBytes`). */
  inputBytes: number;
  /** rates.csv's bytes: the chunks' outputs concatenated in chunk order. */
  outputBytes: number;
}

/**
 * Merges the replies of chunks `ranges` of a file of `size` bytes. Throws NO_VALID_ROWS (the single path's
 * message) when no row was usable, and an internal error if the replies were not verified (chunks.ts) or do
 * not cover the data up to the end of the file.
 */
export function mergeChunks(
  header: FileHeader,
  ranges: readonly ChunkRange[],
  replies: readonly ChunkReply[],
  size: number,
): MergedChunks {
  const { verified, rerun } = verifyChunks(ranges, replies);
  if (rerun.length > 0 || verified !== replies.length) {
    throw new Error(
      `internal: merging unverified chunks (chunk ${verified} does not start where ${verified - 1} ends)`,
    );
  }
  const last = replies[replies.length - 1] as ChunkReply;
  if (last.next !== size) throw new Error(`internal: the last chunk ends at ${last.next}, the file at ${size}`);

  let rows = 0;
  let badRows = 0;
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let outputBytes = 0;
  const badRowSamples: BadRow[] = [];
  // Line of each chunk's first line, minus 1: chunk-local line 1 is the line after everything before it.
  let linesBefore = header.linesBefore;
  for (const r of replies) {
    rows += r.rows;
    badRows += r.badRows;
    n += r.n;
    // The same comparisons as the statistics' add(): the first of equal extremes (0 before -0) wins.
    if (r.n > 0 && r.min < min) min = r.min;
    if (r.n > 0 && r.max > max) max = r.max;
    outputBytes += r.outputBytes;
    for (const b of r.badRowSamples) {
      if (badRowSamples.length >= MAX_BAD_ROW_SAMPLES) break;
      badRowSamples.push({ line: b.line + linesBefore, reason: b.reason });
    }
    linesBefore += r.lines;
  }
  if (rows === 0) throw noValidRowsError(badRows, badRowSamples[0]);
  return {
    columns: header.info.columns,
    rateColumn: header.info.rateColumn,
    rows,
    badRows,
    badRowSamples,
    n,
    min,
    max,
    inputBytes: size,
    outputBytes,
  };
}
