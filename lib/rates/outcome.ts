/**
 * What a rates run answers, and what summary.json / error.json hold: the outcome types shared by the job, the
 * EC2 path, the client and the metrics.
 */
import type { FanoutCost } from '../fanout/cost.ts';
import type { BadRow } from './bad-rows.ts';
import type { RatesErrorCode } from './errors.ts';
import type { RateOptions } from './options.ts';

export type JobErrorCode =
  | RatesErrorCode
  | 'NOT_AN_UPLOAD'
  | 'OBJECT_NOT_FOUND'
  | 'FILE_TOO_LARGE'
  | 'CHUNK_FAILED'
  | 'SOURCE_CHANGED'
  // A `.csv.gz` upload that is not valid gzip (not gzip at all, cut short, a failed CRC): lib/rates/gzip-input.ts.
  | 'BAD_GZIP'
  | 'INTERNAL';

export interface RatesSummary {
  status: 'ok';
  runId: string | null;
  /** `bytes`: the CSV bytes read (for a compressed upload, after decompression; see CompressedInput). */
  input: { bucket: string; key: string; bytes: number; eTag: string | null } & Partial<CompressedInput>;
  options: RateOptions;
  rateColumn: string;
  rows: number;
  badRows: { count: number; samples: BadRow[] };
  stats: { min: number; max: number; mean: number; median: number; p95: number };
  histogram: { edges: number[]; counts: number[] };
  /** `timeline`: a split run's (lib/rates/parallel/timeline.ts); absent on a single run, which leaves none. */
  outputs: { csv: string; png: string; svg: string; summary: string; timeline?: TimelineOutputs };
  /** computeMs: download + parse + statistics (the upload of rates.csv streams alongside); uploadMs: from then
   *  until rates.csv is complete (the chart is drawn meanwhile, taking chartMs); totalMs: the whole run. */
  timings: { computeMs: number; uploadMs: number; chartMs: number; totalMs: number };
  /** Present when the file was split by byte range across workers (lib/rates/parallel/). */
  parallel?: ParallelSummary;
  /**
   * Why the run stayed on one worker although a split was asked for (workers > 1 or chunkBytes) or the file was over
   * the parallel threshold: today only a compressed upload (GZIP_SINGLE_WORKER_REASON, lib/rates/gzip-input.ts).
   * Absent whenever the single path was simply the run's due (and on every plain CSV's summary).
   */
  singleWorkerReason?: string;
  finishedAt: string;
}

/** Where a split run's timeline went: timeline.json and its chart, beside the run's other outputs. */
export interface TimelineOutputs {
  json: string;
  svg: string;
  png: string;
}

/**
 * The extra `input` fields of a compressed upload (`uploads/<name>.csv.gz`); a plain CSV's summary has neither, so
 * its summary.json is unchanged. `input.bytes` stays the decompressed CSV's size — the same as for the plain file —
 * and `storedBytes` is the object's size in S3.
 */
export interface CompressedInput {
  compression: 'gzip';
  /** The object's size in S3 (null when S3 did not say). */
  storedBytes: number | null;
}

/**
 * rates.csv of a split run: the parts the workers uploaded into it, the parts the coordinator copied server-side from
 * what they held back, and the bytes it stitched through itself (only next to outputs under 5 MiB).
 */
export interface AssemblyFigures {
  workerParts: number;
  workerBytes: number;
  copiedParts: number;
  copiedBytes: number;
  stitchedParts: number;
  stitchedBytes: number;
  /** Chunks parsed again without parts, so tiny outputs before them could make 5 MiB parts. */
  rerunsWithoutParts: number;
}

/** How a parallel run was split, and what each chunk and the whole fan-out took and cost. */
export interface ParallelSummary {
  /** Workers asked for (or the chunk count, when the split was by chunk size). */
  workers: number;
  chunks: number;
  /** Chunks parsed again because the record start they guessed was wrong. */
  reruns: number;
  statsRounds: number;
  /** From the header read to rates.csv ready to land. */
  wallMs: number;
  /** Per chunk: the input bytes it owned, the rows in them (bad ones included), its worker's time. */
  chunkTimings: { index: number; bytes: number; rows: number; ms: number }[];
  /** How rates.csv was put together (lib/rates/parallel/assemble-plan.ts). */
  assembly: AssemblyFigures;
  /** The workers' cost (lib/fanout/cost.ts); null on the local backend. */
  cost: FanoutCost | null;
}

export interface RatesErrorReport {
  status: 'error';
  runId: string | null;
  input: { bucket: string; key: string };
  error: { code: JobErrorCode; message: string };
  /** Where the error report was written, or null when the key gives no place to write it. */
  errorObject: string | null;
  finishedAt: string;
}

/**
 * The reply to a redelivered event (S3 delivers each notification at least once): the object's current version was
 * already processed with the same options and run id, so the job did nothing and returns the summary.json of the run
 * that did — the results were neither recomputed nor rewritten.
 */
export interface RatesAlreadyProcessed extends RatesSummary {
  alreadyProcessed: true;
}

export type RatesJobOutcome = RatesSummary | RatesAlreadyProcessed | RatesErrorReport;

/** True for the reply to a redelivered event (see RatesAlreadyProcessed). */
export function isAlreadyProcessed(outcome: RatesJobOutcome): outcome is RatesAlreadyProcessed {
  return outcome.status === 'ok' && 'alreadyProcessed' in outcome && outcome.alreadyProcessed === true;
}
