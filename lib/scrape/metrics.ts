/**
 * The scrape's metrics and summary log lines (the table in lib/observability.ts says what each metric means).
 * Dimensions `job=scrape`, `source`.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { jobMetrics, logger, MAX_LISTED_FAILURES, metrics } from '../observability.ts';
import type { ScrapeResult } from './run.ts';

const add = jobMetrics({
  DocumentsUpserted: MetricUnit.Count,
  DocumentsModified: MetricUnit.Count,
  DocumentsUnchanged: MetricUnit.Count,
  FetchFailed: MetricUnit.Count,
  ScrapeLeft: MetricUnit.Count,
  ScrapeRequests: MetricUnit.Count,
  ScrapeRetries: MetricUnit.Count,
  ScrapeWallMs: MetricUnit.Milliseconds,
});

/** A scrape run: documents written, fetch failures, requests and time, per source. */
export function recordScrape(result: ScrapeResult): void {
  metrics.addDimensions({ job: 'scrape', source: result.source });
  add('DocumentsUpserted', result.upserted);
  add('DocumentsModified', result.modified);
  add('DocumentsUnchanged', result.unchanged);
  add('FetchFailed', result.failed.length);
  add('ScrapeLeft', result.left.length);
  add('ScrapeRequests', result.requests);
  add('ScrapeRetries', result.retries);
  add('ScrapeWallMs', result.wallMs);
  logger.info('scrape run finished', {
    source: result.source,
    fetched: result.fetched,
    upserted: result.upserted,
    modified: result.modified,
    unchanged: result.unchanged,
    failed: result.failed.length,
    left: result.left.length,
    requests: result.requests,
    retries: result.retries,
    wallMs: result.wallMs,
    ...(result.stoppedEarly === undefined ? {} : { stoppedEarly: result.stoppedEarly }),
  });
  if (result.failed.length > 0) {
    logger.warn('scrape records failed', {
      source: result.source,
      failed: result.failed.slice(0, MAX_LISTED_FAILURES),
    });
  }
}
