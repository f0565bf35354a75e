/**
 * The rates job's metrics and summary log lines (the table in lib/observability.ts says what each metric means).
 * Dimension `job=rates`; one value per uploaded file.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { asLoggable, jobMetrics, logger, metrics } from '../observability.ts';
import { RatesBatchError } from './index.ts';
import { isAlreadyProcessed, type RatesJobOutcome } from './job.ts';

const add = jobMetrics({
  RowsProcessed: MetricUnit.Count,
  BadRows: MetricUnit.Count,
  RatesDurationMs: MetricUnit.Milliseconds,
  RatesFailed: MetricUnit.Count,
  RatesDuplicates: MetricUnit.Count,
});

/** The results of a rates invocation: per file, its rows, bad rows and duration, or that it failed. */
export function recordRates(outcomes: readonly RatesJobOutcome[]): void {
  metrics.addDimension('job', 'rates');
  for (const outcome of outcomes) {
    const { bucket, key } = outcome.input;
    if (isAlreadyProcessed(outcome)) {
      // A redelivered event did no work: counted as a duplicate, never again as rows.
      add('RatesDuplicates', 1);
      logger.info('rates event already processed', {
        bucket,
        key,
        eTag: outcome.input.eTag,
        runId: outcome.runId,
        processedAt: outcome.finishedAt,
        summary: outcome.outputs.summary,
      });
    } else if (outcome.status === 'ok') {
      add('RowsProcessed', outcome.rows);
      add('BadRows', outcome.badRows.count);
      add('RatesDurationMs', outcome.timings.totalMs);
      add('RatesFailed', 0);
      logger.info('rates run finished', {
        bucket,
        key,
        runId: outcome.runId,
        rows: outcome.rows,
        badRows: outcome.badRows.count,
        ms: outcome.timings.totalMs,
      });
    } else {
      add('RatesFailed', 1);
      logger.warn('rates run failed', {
        bucket,
        key,
        runId: outcome.runId,
        error: outcome.error,
        errorObject: outcome.errorObject,
      });
    }
  }
}

/**
 * A rates invocation that throws (Lambda retries it): the files done are recorded, each failed one logged. Any other
 * error is one failure of the invocation.
 */
export function recordRatesFailure(error: unknown): void {
  if (!(error instanceof RatesBatchError)) {
    metrics.addDimension('job', 'rates');
    add('RatesFailed', 1);
    logger.error('rates invocation failed', { error: asLoggable(error) });
    return;
  }
  recordRates(error.completed);
  for (const failure of error.failures) {
    add('RatesFailed', 1);
    logger.error('rates invocation failed', { key: failure.key, error: asLoggable(failure.error) });
  }
}
