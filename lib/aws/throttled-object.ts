/**
 * A small JSON object in S3 kept up to date while something runs, for whoever polls it: a run's progress. Every
 * state is reported here, but at most one PUT goes out per interval — a forced report (the first, a change of phase,
 * the last) goes at once, and a report held back by the interval is written when the interval is over, so a reader
 * never waits for the next event to see the latest state. PUTs go one at a time, in order, so the object never goes
 * back to an older state. Advisory: a failed write is logged once (as a warning) and never thrown to the run.
 *
 * Used by the parallel rates run (lib/rates/parallel/progress.ts) and the primes fan-out (lib/primes/run-progress.ts).
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { asLoggable, logger } from '../observability.ts';

export interface ThrottledObjectOptions {
  bucket: string;
  key: string;
  /** Least time between two PUTs of unforced reports. */
  intervalMs: number;
  /** What the object is, for the warning: "the progress of a parallel rates run". */
  what: string;
  /** Monotonic milliseconds; default performance.now (tests pass their own). */
  now?: () => number;
}

export interface ThrottledObjectWriter<T> {
  /** `value` becomes the latest state; it is written now when forced or when the interval has passed, else later. */
  report(value: T, options?: { force?: boolean }): void;
  /** Resolves once every write started so far has landed (or failed). */
  settled(): Promise<void>;
  /** Writes the latest state if it has not been written yet, and waits for every write: the object ends at it. */
  flush(): Promise<void>;
  /** Waits for the writes, then deletes the object; the writer writes nothing after. */
  delete(): Promise<void>;
}

export function throttledObjectWriter<T>(s3: S3Client, options: ThrottledObjectOptions): ThrottledObjectWriter<T> {
  const { bucket, key, intervalMs, what } = options;
  const now = options.now ?? (() => performance.now());
  let latest: { value: T } | null = null;
  let written = true;
  let lastWrite = -Infinity;
  let writing: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let warned = false;

  const warn = (doing: string, error: unknown): void => {
    if (!warned) logger.warn(`could not ${doing} ${what}`, { key, error: asLoggable(error) });
    warned = true;
  };
  const cancelTimer = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  const write = (): void => {
    cancelTimer();
    if (closed || latest === null || written) return;
    const body = JSON.stringify(latest.value);
    written = true;
    lastWrite = now();
    writing = writing.then(() =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' })).then(
        () => undefined,
        (error: unknown) => warn('write', error),
      ),
    );
  };

  return {
    report(value, { force = false } = {}) {
      if (closed) return;
      latest = { value };
      written = false;
      const wait = lastWrite + intervalMs - now();
      if (force || wait <= 0) return write();
      // Unref'd: a pending progress write must not keep a process (or a Lambda's event loop) alive on its own.
      timer ??= setTimeout(write, wait).unref();
    },
    settled: () => writing,
    async flush() {
      write();
      await writing;
    },
    async delete() {
      cancelTimer();
      closed = true;
      await writing;
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch((error: unknown) => {
        logger.warn(`could not delete ${what}`, { key, error: asLoggable(error) });
      });
    },
  };
}
