/**
 * What a rates run answers, and what summary.json / error.json hold: the outcome types shared by the job, the
 * EC2 path, the client and the metrics.
 */
import type { BadRow } from './bad-rows.ts';
import type { RatesErrorCode } from './errors.ts';
import type { RateOptions } from './options.ts';

export type JobErrorCode = RatesErrorCode | 'NOT_AN_UPLOAD' | 'OBJECT_NOT_FOUND' | 'FILE_TOO_LARGE' | 'INTERNAL';

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
  /**
   * Present when the run was split across workers (issue 14); everything else in the summary is then what one worker
   * would have written, timings and run id aside.
   */
  parallel?: {
    /** Workers the chunks ran on (at most one chunk each at a time). */
    workers: number;
    /** Byte ranges the data was cut into. */
    chunks: number;
    /** Chunks parsed a second time because their guessed start was not a record start (speculative parsing). */
    reruns: number;
    /** Rounds of the exact-statistics exchange (median, p95, histogram) after the parse. */
    statsRounds: number;
    /** From the first task handed out to the last result merged. */
    wallMs: number;
    /** Per chunk, in file order: its data bytes, valid rows and worker time. */
    chunkTimings: { index: number; bytes: number; rows: number; ms: number }[];
    /** What the run cost, as the coordinator estimates it (its shape is the coordinator's). */
    cost?: unknown;
  };
  finishedAt: string;
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
