/**
 * The scraper: Yelp Fusion businesses by city, or Hacker News items by id, fetched concurrently through a
 * bounded, retrying, rate-limit-aware pool and upserted idempotently into MongoDB.
 */
export {
  DEFAULT_LIMIT,
  MAX_CONCURRENCY,
  parseScrapeEvent,
  parseScrapeInput,
  scrapeInputFromEvent,
  scrapeInputSchema,
  type ScrapeInput,
  type ScrapeRequest,
} from './input.ts';
export { DEFAULT_CONCURRENCY, runScrape, type ScrapeDeps, type ScrapeProgress, type ScrapeResult } from './run.ts';
export {
  createScrapeRunLog,
  latestScrapeRuns,
  SCRAPE_RUNS_COLLECTION,
  type ScrapeRunDocument,
  type ScrapeRunLog,
} from './run-log.ts';
export {
  createScrapeStore,
  DEFAULT_WRITE_RETRY_MS,
  documentId,
  SCRAPE_WRITE_CONCERN,
  type BatchWriter,
  type ScrapeDocument,
  type ScrapeRecord,
  type ScrapeStore,
  type UpsertSummary,
  type WriteRetryOptions,
} from './store.ts';
export {
  createRequestPool,
  type FailureKind,
  type JsonResponse,
  type RequestPool,
  type RequestPoolOptions,
} from './http.ts';
export {
  DEFAULT_COLLECTIONS,
  createSecretResolver,
  loadScrapeConfig,
  type ScrapeConfig,
  type ScrapeSource,
  type SecretSource,
} from './config.ts';
