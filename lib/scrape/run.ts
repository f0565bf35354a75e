/**
 * One scrape: input → ids (Yelp: city searches; HN: the ids given) → each record fetched through the request
 * pool, validated, and upserted in batches as it arrives → a summary of what happened to every id.
 */
import { z } from 'zod';
import { UserError } from '../errors.ts';
import { createRequestPool, isRunStop, type PoolStop, type RequestPool } from './http.ts';
import { DEFAULT_HN_API_BASE_URL, hnItemSchema, hnItemUrl } from './hn.ts';
import { parseScrapeInput, type ScrapeInput } from './input.ts';
import { recordScrapeRun, type ScrapeRunLog } from './run-log.ts';
import type { BatchWriterOptions, ScrapeRecord, ScrapeStore, UpsertSummary } from './store.ts';
import { DEFAULT_YELP_API_BASE_URL, searchYelpCity, yelpBusinessSchema, yelpBusinessUrl, yelpHeaders } from './yelp.ts';

export const DEFAULT_CONCURRENCY = 16;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 4;
const DEFAULT_BASE_DELAY_MS = 250;
const DEFAULT_MAX_DELAY_MS = 8_000;

export interface ScrapeProgress {
  /** search: cities searched; details: records fetched or failed; write: records written. */
  phase: 'search' | 'details' | 'write';
  done: number;
  total: number;
}

export interface ScrapeDeps {
  store: ScrapeStore;
  yelpBaseUrl?: string;
  hnBaseUrl?: string;
  /** Required for Yelp. */
  yelpApiKey?: string;
  /** Where the key came from, named in the message when Yelp rejects it, e.g. "the SSM parameter /x (YELP_API_KEY_PARAMETER)". */
  yelpApiKeySource?: string;
  /** Pool tuning; `concurrency` is the default when the input names none. */
  pool?: Partial<{
    concurrency: number;
    timeoutMs: number;
    retries: number;
    baseDelayMs: number;
    maxDelayMs: number;
    maxRetryAfterMs: number;
  }>;
  /**
   * Batching and MongoDB outages (see lib/scrape/store.ts): `retryForMs` is how long a batch that failed as a
   * whole is retried (default 30 s); `deadlineAt` (epoch ms) is when the run stops waiting for writes — later
   * than the fetch `deadlineAt`, which only stops new requests, and before the Lambda's end. What is not written
   * by then is in `failed`, never dropped.
   */
  write?: Pick<BatchWriterOptions, 'maxDocs' | 'maxWaitMs' | 'retryForMs' | 'deadlineAt'>;
  onProgress?: (event: ScrapeProgress) => void;
  /** Epoch ms: no request starts after it; what was fetched is saved and the rest reported in `left`. */
  deadlineAt?: number;
  /** Aborting it stops the run the same way. */
  signal?: AbortSignal;
  /**
   * Where the run's outcome is recorded (lib/scrape/run-log.ts), under `runId`: give the same id to a retry of the
   * same run (a Lambda's request id) and it stays one record.
   */
  runLog?: { log: ScrapeRunLog; runId: string };
}

export interface ScrapeResult {
  source: 'yelp' | 'hn';
  /** Records fetched and valid (handed to the store). */
  fetched: number;
  upserted: number;
  modified: number;
  unchanged: number;
  /** Per id (a business id, an item id, or `city:<name>` for a search): why it is not stored. */
  failed: Array<{ id: string; reason: string }>;
  /**
   * Ids (and `city:<name>` searches) with no outcome because the run stopped (deadline, signal, rejected key):
   * never started, or cut off in flight. Running them again completes the scrape.
   */
  left: string[];
  wallMs: number;
  /** HTTP attempts. */
  requests: number;
  retries: number;
  stoppedEarly?: { kind: PoolStop['kind']; reason: string };
  /** Why the run could not be recorded in the run log (deps.runLog); its documents are stored regardless. */
  runLogError?: string;
}

/** What a source contributes to a run: it fetches, validates and hands records to `save`. */
interface SourceRun {
  fetched: number;
  failed: ScrapeResult['failed'];
  left: string[];
}

function invalidRecord(error: z.ZodError): string {
  return `invalid record: ${z.prettifyError(error).replaceAll('\n', ' ')}`;
}

/**
 * Fetches one record per id through the pool, in parallel (the pool bounds it). `toRecord` validates a body
 * into the stored data, or explains why it cannot be stored.
 */
async function fetchRecords(
  pool: RequestPool,
  ids: readonly string[],
  request: (id: string) => { url: string; headers?: Record<string, string> },
  toRecord: (id: string, body: unknown) => { data: Record<string, unknown> } | { reason: string },
  save: (sourceId: string, data: Record<string, unknown>) => void,
  outcome: SourceRun,
  progress: () => void,
): Promise<void> {
  await Promise.all(
    ids.map(async (id) => {
      const { url, headers } = request(id);
      const response = await pool.getJson(url, headers === undefined ? {} : { headers });
      if (!response.ok) {
        if (isRunStop(response.kind)) outcome.left.push(id);
        else outcome.failed.push({ id, reason: response.reason });
      } else {
        const record = toRecord(id, response.body);
        if ('reason' in record) {
          outcome.failed.push({ id, reason: record.reason });
        } else {
          outcome.fetched++;
          save(id, record.data);
        }
      }
      progress();
    }),
  );
}

async function runYelp(
  input: Extract<ScrapeInput, { source: 'yelp' }>,
  pool: RequestPool,
  api: { baseUrl: string; apiKey: string },
  onProgress: ScrapeDeps['onProgress'],
  save: (sourceId: string, data: Record<string, unknown>) => void,
): Promise<SourceRun> {
  const outcome: SourceRun = { fetched: 0, failed: [], left: [] };
  const claimed = new Set<string>();
  let citiesDone = 0;
  let detailsTotal = 0;
  let detailsDone = 0;
  // Each city's details start as soon as its search is done; an id found in two cities is fetched once.
  await Promise.all(
    input.cities.map(async (city) => {
      const search = await searchYelpCity(pool, api, city, input.limit);
      outcome.failed.push(...search.failed);
      if (search.stopped) outcome.left.push(`city:${city}`);
      onProgress?.({ phase: 'search', done: ++citiesDone, total: input.cities.length });
      const ids = search.ids.filter((id) => !claimed.has(id));
      for (const id of ids) claimed.add(id);
      detailsTotal += ids.length;
      await fetchRecords(
        pool,
        ids,
        (id) => ({ url: yelpBusinessUrl(api.baseUrl, id), headers: yelpHeaders(api.apiKey) }),
        (id, body) => {
          const parsed = yelpBusinessSchema.safeParse(body);
          if (!parsed.success) return { reason: invalidRecord(parsed.error) };
          if (parsed.data.id !== id)
            return { reason: `invalid record: asked for ${id}, the answer is for ${parsed.data.id}` };
          return { data: parsed.data };
        },
        save,
        outcome,
        () => onProgress?.({ phase: 'details', done: ++detailsDone, total: detailsTotal }),
      );
    }),
  );
  return outcome;
}

async function runHn(
  input: Extract<ScrapeInput, { source: 'hn' }>,
  pool: RequestPool,
  baseUrl: string,
  onProgress: ScrapeDeps['onProgress'],
  save: (sourceId: string, data: Record<string, unknown>) => void,
): Promise<SourceRun> {
  const outcome: SourceRun = { fetched: 0, failed: [], left: [] };
  let done = 0;
  await fetchRecords(
    pool,
    input.ids.map(String),
    (id) => ({ url: hnItemUrl(baseUrl, Number(id)) }),
    (id, body) => {
      const parsed = hnItemSchema.safeParse(body);
      if (!parsed.success) return { reason: invalidRecord(parsed.error) };
      if (String(parsed.data.id) !== id)
        return { reason: `invalid record: asked for item ${id}, the answer is item ${parsed.data.id}` };
      return { data: parsed.data };
    },
    save,
    outcome,
    () => onProgress?.({ phase: 'details', done: ++done, total: input.ids.length }),
  );
  return outcome;
}

/**
 * Runs one scrape. Bad input and a missing Yelp key throw a UserError before any request; everything that
 * happens to single ids (and to the run: deadline, rejected key) is in the result. A MongoDB that cannot create
 * the indexes fails the run before it fetches anything.
 */
export async function runScrape(rawInput: unknown, deps: ScrapeDeps): Promise<ScrapeResult> {
  const started = performance.now();
  const startedAt = new Date();
  const input = parseScrapeInput(rawInput);
  const yelpApiKey = deps.yelpApiKey?.trim() ?? '';
  if (input.source === 'yelp' && yelpApiKey === '') {
    throw new UserError(
      'MISSING_API_KEY',
      'Yelp needs an API key: set YELP_API_KEY (local runs) or YELP_API_KEY_PARAMETER (the SSM SecureString holding it)',
    );
  }
  await deps.store.ensureIndexes();

  const concurrency = input.concurrency ?? deps.pool?.concurrency ?? DEFAULT_CONCURRENCY;
  const pool = createRequestPool({
    concurrency,
    timeoutMs: deps.pool?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: deps.pool?.retries ?? DEFAULT_RETRIES,
    baseDelayMs: deps.pool?.baseDelayMs ?? DEFAULT_BASE_DELAY_MS,
    maxDelayMs: deps.pool?.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
    ...(deps.pool?.maxRetryAfterMs === undefined ? {} : { maxRetryAfterMs: deps.pool.maxRetryAfterMs }),
    ...(deps.deadlineAt === undefined ? {} : { deadlineAt: deps.deadlineAt }),
    ...(deps.signal === undefined ? {} : { signal: deps.signal }),
  });
  let received = 0;
  const writer = deps.store.createWriter({
    // A batch per round of responses (at least 16): writes overlap the fetching instead of piling up at the end
    // (bench: 80 businesses at C=16, 395 → 357 ms with the local server).
    maxDocs: Math.max(16, concurrency),
    ...deps.write,
    onFlush: ({ written }) => deps.onProgress?.({ phase: 'write', done: written, total: received }),
  });
  const save = (sourceId: string, data: Record<string, unknown>): void => {
    received++;
    writer.add({ source: input.source, sourceId, data } satisfies ScrapeRecord);
  };

  let outcome: SourceRun;
  let written: UpsertSummary;
  try {
    outcome =
      input.source === 'yelp'
        ? await runYelp(
            input,
            pool,
            { baseUrl: deps.yelpBaseUrl ?? DEFAULT_YELP_API_BASE_URL, apiKey: yelpApiKey },
            deps.onProgress,
            save,
          )
        : await runHn(input, pool, deps.hnBaseUrl ?? DEFAULT_HN_API_BASE_URL, deps.onProgress, save);
  } finally {
    // Whatever happened, what was fetched is written before the run returns (or throws).
    pool.close();
    written = await writer.close();
  }
  const stop = pool.stopped;
  const result: ScrapeResult = {
    source: input.source,
    fetched: outcome.fetched,
    upserted: written.upserted,
    modified: written.modified,
    unchanged: written.unchanged,
    failed: [...outcome.failed, ...written.failed],
    left: outcome.left,
    wallMs: Math.round((performance.now() - started) * 10) / 10,
    requests: pool.requests,
    retries: pool.retries,
    ...(stop === undefined
      ? {}
      : { stoppedEarly: { kind: stop.kind, reason: stopReason(stop, input.source, deps.yelpApiKeySource) } }),
  };
  if (deps.runLog === undefined) return result;
  const deadlineAt = deps.write?.deadlineAt;
  const runLogError = await recordScrapeRun(deps.runLog.log, {
    runId: deps.runLog.runId,
    input,
    startedAt,
    result,
    ...(deadlineAt === undefined ? {} : { deadlineAt }),
  });
  return runLogError === undefined ? result : { ...result, runLogError };
}

function stopReason(stop: PoolStop, source: ScrapeInput['source'], keySource: string | undefined): string {
  if (stop.kind !== 'auth') return stop.reason;
  const stoppedWhy = 'the run stopped without starting the remaining requests';
  if (source === 'hn') return `The HN API refused access (${stop.reason}); ${stoppedWhy}`;
  return `Yelp rejected the API key from ${keySource ?? 'the caller'} (${stop.reason}); ${stoppedWhy}`;
}
