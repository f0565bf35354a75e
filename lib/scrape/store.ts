/**
 * Where scraped records go: one MongoDB document per record, `_id: "<source>:<id>"`, written with idempotent
 * upserts so a re-run never duplicates a document and reports unchanged records as unchanged.
 *
 * Document: `{_id, source, sourceId, data, firstSeenAt, updatedAt}`. `data` is the validated record;
 * `firstSeenAt` is set on insert only; `updatedAt` moves only when `data` changed. Both are decided inside the
 * update pipeline (one round trip, no read-then-write race), so a matched document whose data is identical is
 * not modified at all and the server reports it as matched, not modified.
 *
 * MongoDB going away (a failover, maintenance, a restart, the network): a batch that fails as a whole is
 * written again, with backoff, for up to `retryForMs` (default 30 s) counted from the first failure of the
 * outage, and never past the writer's `deadlineAt`. Retrying is safe because the upserts are idempotent and a
 * batch keeps the timestamp of its first attempt: a batch that landed before the connection broke comes back
 * as matched (counted `unchanged`), never as a second document. A batch that is still failing when its time is
 * up is reported record by record in `failed` ("write failed: …") — nothing fetched is dropped silently — and
 * running the scrape again writes it. While an outage lasts, the batches waiting behind the failing one are
 * merged, so a long outage costs one more attempt per merged batch, not one per `maxDocs` records. A command
 * the server refuses for good (not authorized, over quota) is not retried: see isTransient.
 *
 * What the driver does by itself (mongodb 7.9): against a replica set (Atlas) it retries a write once after a
 * network error or a primary step-down (retryable writes), waiting for a new primary up to
 * `serverSelectionTimeoutMS` (default 30 s). Against a standalone server (the local stack's `hello` has no
 * `setName`) there are no retryable writes: a write cut off by a dropped connection fails at once, marks the
 * server unknown, and the next one waits in server selection (up to 30 s) until the server answers again. A
 * connection that cannot even be opened (ECONNREFUSED) is labelled SystemOverloadedError and retried twice on
 * any topology (`maxAdaptiveRetries`, jittered 0–200 then 0–400 ms), then fails. `timeoutMS` is a no-op in
 * this driver version. So one attempt takes from a few ms to 30 s depending on what the driver has noticed so
 * far; this store stops waiting for an attempt at its time limit instead (the driver cannot cancel it: an
 * abandoned attempt may still land later, which the idempotent upsert makes harmless — hence "may or may not
 * have been written" in the reason).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MongoBulkWriteError,
  MongoServerError,
  type AnyBulkWriteOperation,
  type BulkWriteResult,
  type Collection,
  type Db,
  type WriteConcernSettings,
  type WriteError,
} from 'mongodb';
import { type BatchOutcome, createBatchWriter } from './batch-writer.ts';

export interface ScrapeRecord {
  source: string;
  sourceId: string;
  data: Record<string, unknown>;
}

export interface UpsertSummary {
  upserted: number;
  modified: number;
  unchanged: number;
  /** `id` is the record's sourceId. */
  failed: Array<{ id: string; reason: string }>;
}

/** How long whole-batch write failures are retried, by default. */
export const DEFAULT_WRITE_RETRY_MS = 30_000;

export interface WriteRetryOptions {
  /**
   * How long a batch that failed as a whole (MongoDB unreachable, no primary) is retried, counted from the first
   * failure of the outage. 0: one attempt only. Default DEFAULT_WRITE_RETRY_MS.
   */
  retryForMs?: number;
  /**
   * Epoch ms: no write is waited on past it, whatever `retryForMs` says (a Lambda's end, less the time it needs to
   * reply); what could not be written by then is reported in `failed`.
   */
  deadlineAt?: number;
}

export interface BatchWriterOptions extends WriteRetryOptions {
  /** Flush when this many records are waiting. Default 100. */
  maxDocs?: number;
  /** Flush records that have waited this long. Default 1000 ms. */
  maxWaitMs?: number;
  /** After each flush, with the running totals. */
  onFlush?: (totals: UpsertSummary & { written: number }) => void;
}

export interface BatchWriter {
  add(record: ScrapeRecord): void;
  /** Flushes what is left and waits for every write; never rejects (failures are in `failed`). */
  close(): Promise<UpsertSummary>;
}

export interface ScrapeStore {
  readonly collectionName: string;
  /** Creates the indexes once per store (per process when the store is reused); concurrent calls share one. */
  ensureIndexes(): Promise<void>;
  /** One batch, retried as the options say (default: for DEFAULT_WRITE_RETRY_MS); never rejects. */
  upsert(records: readonly ScrapeRecord[], options?: WriteRetryOptions): Promise<UpsertSummary>;
  createWriter(options?: BatchWriterOptions): BatchWriter;
}

export interface ScrapeDocument {
  _id: string;
  source: string;
  sourceId: string;
  data: Record<string, unknown>;
  firstSeenAt: Date;
  updatedAt: Date;
}

/**
 * Every write of the store is acknowledged only once a majority of the replica set has it, journaled. On Atlas a
 * w:1 write acknowledged by a primary that fails before a secondary copied it is rolled back by the election
 * that follows — the very outage the retries above are for — and the run would have counted it as stored.
 * `w: "majority"` survives any failover; `j: true` makes the journaling explicit (Atlas's
 * writeConcernMajorityJournalDefault already implies it) and is what makes the local stack's server save its
 * data file before it answers. The cost is one replication round trip per batch, not per document.
 */
export const SCRAPE_WRITE_CONCERN: WriteConcernSettings = { w: 'majority', j: true };

/** Backoff between attempts of a batch: 250 ms doubling up to 4 s, with full jitter on the upper half. */
const RETRY_BASE_DELAY_MS = 250;
const RETRY_MAX_DELAY_MS = 4_000;
/**
 * Every batch gets at least one attempt this long (within the deadline), even when the outage has used up
 * `retryForMs`: a database that came back is written to again.
 */
const MIN_ATTEMPT_MS = 2_000;

export function documentId(source: string, sourceId: string): string {
  return `${source}:${sourceId}`;
}

/**
 * The upsert of one record. `$literal` keeps values that look like expressions (Yelp's price "$$", a key
 * starting with "$") from being evaluated.
 *
 * Keyed on `_id` = `<source>:<id>`, so a re-run finds the same document and never inserts a second one.
 */
function upsertOperation(record: ScrapeRecord, now: Date): AnyBulkWriteOperation<ScrapeDocument> {
  const data = { $literal: record.data };
  return {
    updateOne: {
      filter: { _id: documentId(record.source, record.sourceId) },
      update: [
        {
          $set: {
            source: { $literal: record.source },
            sourceId: { $literal: record.sourceId },
            data,
            firstSeenAt: { $ifNull: ['$firstSeenAt', now] },
            updatedAt: { $cond: [{ $eq: ['$data', data] }, '$updatedAt', now] },
          },
        },
      ],
      upsert: true,
    },
  };
}

/** The per-document errors of a bulk write; none when the error is about the whole batch. */
function writeErrorsOf(error: unknown): readonly WriteError[] {
  if (!(error instanceof MongoBulkWriteError)) return [];
  // The driver types it as one error or a list of them.
  return ([] as WriteError[]).concat(error.writeErrors);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Server error codes of conditions that pass: a node shutting down or stepping down, an election, a network
 * hiccup reported by the server, a time limit or write concern timeout.
 */
const TRANSIENT_CODES = new Set([6, 7, 50, 64, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);
const TRANSIENT_LABELS = ['RetryableWriteError', 'RetryableError', 'SystemOverloadedError'];

/**
 * Whether a whole-batch failure may pass: anything the driver raised without a server error code (a connection
 * refused or cut, no server selectable, this store's own time limit), or a server error labelled retryable or
 * with a transient code. A command the server refused for good (not authorized, over the storage quota, a bad
 * value) fails the same way again: it is reported at once instead of being retried for `retryForMs`.
 */
function isTransient(error: unknown): boolean {
  if (!(error instanceof MongoServerError)) return true;
  if (TRANSIENT_LABELS.some((label) => error.hasErrorLabel(label))) return true;
  return typeof error.code !== 'number' || TRANSIENT_CODES.has(error.code);
}

/** An attempt this store stopped waiting for. */
class AttemptTimeout extends Error {
  constructor(ms: number) {
    super(`no answer from MongoDB within ${(ms / 1000).toFixed(1)} s`);
  }
}

/** `work`, or an AttemptTimeout after `ms`. The driver cannot cancel a write: an abandoned one goes on. */
async function within<T>(work: Promise<T>, ms: number): Promise<T> {
  work.catch(() => undefined); // a late failure of an abandoned attempt is nobody's business
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AttemptTimeout(ms)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function backoff(attempt: number): number {
  const ceiling = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

export function createScrapeStore(
  db: Db,
  { collection, now = () => new Date() }: { collection: string; now?: () => Date },
): ScrapeStore {
  const documents = db.collection<ScrapeDocument>(collection, { writeConcern: SCRAPE_WRITE_CONCERN });
  let indexes: Promise<void> | undefined;

  const ensureIndexes = (): Promise<void> => {
    indexes ??= documents
      .createIndexes([
        // Lookups by the source's own id (the upsert itself goes by _id, which is unique already).
        { key: { source: 1, sourceId: 1 }, name: 'source_sourceId', unique: true },
        // "What changed lately" per source.
        { key: { source: 1, updatedAt: -1 }, name: 'source_updatedAt' },
      ])
      .then(() => undefined)
      .catch((error: unknown) => {
        indexes = undefined; // let the next run try again
        throw error;
      });
    return indexes;
  };

  const write = (records: readonly ScrapeRecord[], retryUntil: number, deadlineAt: number): Promise<BatchOutcome> =>
    writeBatch(documents, now, records, retryUntil, deadlineAt);

  const upsert = async (
    records: readonly ScrapeRecord[],
    { retryForMs = DEFAULT_WRITE_RETRY_MS, deadlineAt = Infinity }: WriteRetryOptions = {},
  ): Promise<UpsertSummary> => {
    if (records.length === 0) return { upserted: 0, modified: 0, unchanged: 0, failed: [] };
    return (await write(records, Date.now() + retryForMs, deadlineAt)).summary;
  };

  const createWriter = (options: BatchWriterOptions = {}): BatchWriter =>
    createBatchWriter(write, options.retryForMs ?? DEFAULT_WRITE_RETRY_MS, options);

  return { collectionName: collection, ensureIndexes, upsert, createWriter };
}

/**
 * Writes one batch: attempts start until `retryUntil` (the first one always, unless `deadlineAt` has passed),
 * and none is waited on past max(retryUntil, its start + MIN_ATTEMPT_MS), nor past `deadlineAt`.
 */
async function writeBatch(
  documents: Collection<ScrapeDocument>,
  now: () => Date,
  records: readonly ScrapeRecord[],
  retryUntil: number,
  deadlineAt: number,
): Promise<BatchOutcome> {
  const stamp = now();
  const operations = records.map((record) => upsertOperation(record, stamp));
  const started = Date.now();
  let firstFailureAt: number | undefined;
  let attempts = 0;
  let lastError: unknown;
  // MongoDB answered: a write, per-document errors, or a refusal. There is no outage.
  const answered = (summary: UpsertSummary): BatchOutcome => ({
    summary,
    reachedServer: true,
    ...(firstFailureAt === undefined ? {} : { firstFailureAt }),
  });
  for (;;) {
    const attemptStart = Date.now();
    const waitUntil = Math.min(Math.max(retryUntil, attemptStart + MIN_ATTEMPT_MS), deadlineAt);
    if (waitUntil <= attemptStart) {
      lastError ??= new Error('the write deadline passed before this batch could be written');
      break;
    }
    attempts++;
    try {
      return answered({
        ...counts(await within(documents.bulkWrite(operations, { ordered: false }), waitUntil - attemptStart)),
        failed: [],
      });
    } catch (error) {
      const writeErrors = writeErrorsOf(error);
      if (error instanceof MongoBulkWriteError && writeErrors.length > 0) {
        // Per-document errors (a duplicate key, a document too large) would fail the same way again.
        // ordered: false — every other document was written; the result still counts them.
        return answered({
          ...counts(error.result),
          failed: writeErrors.map((writeError) => ({
            id: records[writeError.index]?.sourceId ?? `#${writeError.index}`,
            reason: `write failed: ${writeError.errmsg ?? `code ${writeError.code}`}`,
          })),
        });
      }
      lastError = error;
      if (!isTransient(error)) {
        return answered({
          upserted: 0,
          modified: 0,
          unchanged: 0,
          failed: records.map((record) => ({ id: record.sourceId, reason: `write failed: ${describe(error)}` })),
        });
      }
      // The batch as a whole failed (connection lost, no primary, write concern not met): try again.
      firstFailureAt ??= Date.now();
    }
    const delay = backoff(attempts);
    if (Date.now() + delay >= Math.min(retryUntil, deadlineAt)) break;
    await sleep(delay);
  }
  return gaveUp(records, lastError, attempts, started, firstFailureAt);
}

/** BulkWriteResult's counts as the summary reports them. */
function counts(result: BulkWriteResult): Omit<UpsertSummary, 'failed'> {
  return {
    upserted: result.upsertedCount,
    modified: result.modifiedCount,
    unchanged: result.matchedCount - result.modifiedCount,
  };
}

/**
 * The outcome of a batch whose time ran out while MongoDB was unavailable. Which writes of the batch landed is
 * unknown, so every record is reported; the next run's idempotent upsert settles them either way.
 */
function gaveUp(
  records: readonly ScrapeRecord[],
  lastError: unknown,
  attempts: number,
  started: number,
  firstFailureAt: number | undefined,
): BatchOutcome {
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const reason =
    `write failed: ${describe(lastError)} (${attempts} ${attempts === 1 ? 'attempt' : 'attempts'} in ${seconds} s; ` +
    'the batch may or may not have been written — running the scrape again completes it)';
  return {
    summary: {
      upserted: 0,
      modified: 0,
      unchanged: 0,
      failed: records.map((record) => ({ id: record.sourceId, reason })),
    },
    reachedServer: false,
    firstFailureAt: firstFailureAt ?? Date.now(),
  };
}
