/**
 * Where scraped records go: one MongoDB document per record, `_id: "<source>:<id>"`, written with idempotent
 * upserts so a re-run never duplicates a document and reports unchanged records as unchanged.
 *
 * Document: `{_id, source, sourceId, data, firstSeenAt, updatedAt}`. `data` is the validated record;
 * `firstSeenAt` is set on insert only; `updatedAt` moves only when `data` changed. Both are decided inside the
 * update pipeline (one round trip, no read-then-write race), so a matched document whose data is identical is
 * not modified at all and the server reports it as matched, not modified.
 */
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Db, type WriteError } from 'mongodb';
import pRetry from 'p-retry';

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

export interface BatchWriterOptions {
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
  upsert(records: readonly ScrapeRecord[]): Promise<UpsertSummary>;
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

/** Whole-batch failures (network, primary stepped down) are retried: the upserts are idempotent. */
const BATCH_WRITE_RETRIES = 2;

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

export function createScrapeStore(db: Db, { collection, now = () => new Date() }: { collection: string; now?: () => Date }): ScrapeStore {
  const documents = db.collection<ScrapeDocument>(collection);
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

  const upsert = async (records: readonly ScrapeRecord[]): Promise<UpsertSummary> => {
    if (records.length === 0) return { upserted: 0, modified: 0, unchanged: 0, failed: [] };
    const stamp = now();
    const operations = records.map((record) => upsertOperation(record, stamp));
    try {
      const result = await pRetry(() => documents.bulkWrite(operations, { ordered: false }), {
        retries: BATCH_WRITE_RETRIES,
        minTimeout: 200,
        randomize: true,
        // Per-document errors (a duplicate key, a document too large) would fail the same way again.
        shouldRetry: ({ error }) => writeErrorsOf(error).length === 0,
      });
      return { upserted: result.upsertedCount, modified: result.modifiedCount, unchanged: result.matchedCount - result.modifiedCount, failed: [] };
    } catch (error) {
      const writeErrors = writeErrorsOf(error);
      if (!(error instanceof MongoBulkWriteError) || writeErrors.length === 0) {
        // The batch as a whole failed (connection lost, no primary): which writes landed is unknown, so every
        // record is reported; the next run's idempotent upsert settles them either way.
        return { upserted: 0, modified: 0, unchanged: 0, failed: records.map((record) => ({ id: record.sourceId, reason: `write failed: ${describe(error)}` })) };
      }
      // ordered: false — every other document was written; the result still counts them.
      return {
        upserted: error.result.upsertedCount,
        modified: error.result.modifiedCount,
        unchanged: error.result.matchedCount - error.result.modifiedCount,
        failed: writeErrors.map((writeError) => ({
          id: records[writeError.index]?.sourceId ?? `#${writeError.index}`,
          reason: `write failed: ${writeError.errmsg ?? `code ${writeError.code}`}`,
        })),
      };
    }
  };

  const createWriter = ({ maxDocs = 100, maxWaitMs = 1000, onFlush }: BatchWriterOptions = {}): BatchWriter => {
    const totals: UpsertSummary = { upserted: 0, modified: 0, unchanged: 0, failed: [] };
    let written = 0;
    let waiting: ScrapeRecord[] = [];
    let timer: NodeJS.Timeout | undefined;
    // One write at a time, in order: a batch never races the one before it.
    let writes: Promise<void> = Promise.resolve();

    const flush = (): void => {
      clearTimeout(timer);
      timer = undefined;
      if (waiting.length === 0) return;
      const batch = waiting;
      waiting = [];
      writes = writes.then(async () => {
        const summary = await upsert(batch);
        totals.upserted += summary.upserted;
        totals.modified += summary.modified;
        totals.unchanged += summary.unchanged;
        totals.failed.push(...summary.failed);
        written += batch.length;
        onFlush?.({ ...totals, failed: [...totals.failed], written });
      });
    };

    return {
      add(record) {
        waiting.push(record);
        if (waiting.length >= maxDocs) flush();
        else timer ??= setTimeout(flush, maxWaitMs);
      },
      async close() {
        flush();
        await writes;
        return totals;
      },
    };
  };

  return { collectionName: collection, ensureIndexes, upsert, createWriter };
}
