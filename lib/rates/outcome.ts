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
  | 'INTERNAL';

export interface RatesSummary {
  status: 'ok';
  runId: string | null;
  input: { bucket: string; key: string; bytes: number; eTag: string | null };
  options: RateOptions;
  rateColumn: string;
  rows: number;
  badRows: { count: number; samples: BadRow[] };
  stats: { min: number; max: number; mean: number; median: number; p95: number };
  histogram: { edges: number[]; counts: number[] };
  outputs: { csv: string; png: string; svg: string; summary: string };
  /** computeMs: download + parse + statistics (the upload of rates.csv streams alongside); uploadMs: from then
   *  until rates.csv is complete (the chart is drawn meanwhile, taking chartMs); totalMs: the whole run. */
  timings: { computeMs: number; uploadMs: number; chartMs: number; totalMs: number };
  /** Present when the file was split by byte range across workers (lib/rates/parallel/). */
  parallel?: ParallelSummary;
  finishedAt: string;
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
