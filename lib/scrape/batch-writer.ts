/**
 * The writer behind ScrapeStore.createWriter (store.ts): records gathered into batches of `maxDocs` (or what
 * `maxWaitMs` gathered), written one at a time, in order, with the outage clock that decides how long a batch
 * that failed as a whole is retried.
 */
import type { BatchWriter, BatchWriterOptions, ScrapeRecord, UpsertSummary } from './store.ts';

/** One batch's outcome, and whether MongoDB was unavailable for it (the writer's outage clock). */
export interface BatchOutcome {
  summary: UpsertSummary;
  /** When the first attempt that failed as a whole ended; undefined if none did. */
  firstFailureAt?: number;
  /** MongoDB answered the last attempt (a write, per-document errors, a refusal): there is no outage. */
  reachedServer: boolean;
}

/** The writer behind ScrapeStore.createWriter: batches of maxDocs (or what maxWaitMs gathered), written one at a time, in order. */
export function createBatchWriter(
  write: (records: readonly ScrapeRecord[], retryUntil: number, deadlineAt: number) => Promise<BatchOutcome>,
  /** The options' retryForMs, its default applied by the store. */
  retryForMs: number,
  { maxDocs = 100, maxWaitMs = 1000, onFlush, deadlineAt = Infinity }: BatchWriterOptions = {},
): BatchWriter {
  const totals: UpsertSummary = { upserted: 0, modified: 0, unchanged: 0, failed: [] };
  let written = 0;
  let waiting: ScrapeRecord[] = [];
  let timer: NodeJS.Timeout | undefined;
  /** Batches waiting to be written, in order. */
  const queue: ScrapeRecord[][] = [];
  /** When MongoDB first failed a whole batch in the current outage; undefined while it answers. */
  let outageSince: number | undefined;
  // One write at a time, in order: a batch never races the one before it.
  let draining: Promise<void> | undefined;

  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      // During an outage everything waiting goes in one batch: one more attempt, not one per maxDocs records.
      const batch = outageSince === undefined ? (queue.shift() as ScrapeRecord[]) : queue.splice(0).flat();
      const retryUntil = (outageSince ?? Date.now()) + retryForMs;
      const outcome = await write(batch, retryUntil, deadlineAt);
      outageSince = outcome.reachedServer ? undefined : (outageSince ?? outcome.firstFailureAt);
      const { summary } = outcome;
      totals.upserted += summary.upserted;
      totals.modified += summary.modified;
      totals.unchanged += summary.unchanged;
      totals.failed.push(...summary.failed);
      written += batch.length;
      onFlush?.({ ...totals, failed: [...totals.failed], written });
    }
    draining = undefined;
  };

  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (waiting.length === 0) return;
    queue.push(waiting);
    waiting = [];
    draining ??= drain();
  };

  return {
    add(record) {
      waiting.push(record);
      if (waiting.length >= maxDocs) flush();
      else timer ??= setTimeout(flush, maxWaitMs);
    },
    async close() {
      flush();
      await draining;
      return totals;
    },
  };
}
