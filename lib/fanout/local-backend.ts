import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.ts';
import { openEnvelope, workerEnvelopeSchema, type ResultParser } from './envelope.ts';
import { FanoutError } from './errors.ts';
import type { Backend } from './index.ts';
import type { RecordWorker } from './trace.ts';

/**
 * Runs tasks on this machine in a pool of worker threads: the CLI's and the tests' stand-in for Lambda. Each
 * thread imports `module` (TypeScript or JavaScript) once and calls `exportName(task)` for every task it is
 * given; tasks and results cross the thread boundary by structured clone.
 *
 * Threads are started on demand up to `threads`, reused across tasks and fan-outs, and stopped by `close()`.
 * `threads` and the fan-out's `concurrency` are independent: tasks beyond the free threads wait in this
 * backend's queue. Idle threads do not keep the process alive, so a forgotten `close()` cannot hang a CLI.
 *
 * Failures: the task throwing → kind `function`; the thread dying (process.exit, an uncaught exception in a
 * callback, out of memory) → kind `transport`, retryable, and the thread is replaced. An abort drops tasks
 * still queued here; a task already running on a thread runs to the end (a thread cannot be interrupted short
 * of terminating it).
 */
export interface LocalBackendOptions<R = unknown> {
  /** The task module: an absolute path or a file: URL. */
  module: URL | string;
  /** The exported function to call with each task; it may be async. */
  exportName: string;
  /** Worker threads, default os.availableParallelism(). */
  threads?: number;
  /** Checks and shapes the function's value; whatever it throws fails the task as a function error `InvalidResult`. */
  parse?: ResultParser<R>;
}

interface Job {
  id: number;
  index: number;
  task: unknown;
  record: RecordWorker | undefined;
  resolve: (value: unknown) => void;
  reject: (error: FanoutError) => void;
  detach: () => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  /** The uncaught error that is about to end this thread, for the task's failure message. */
  crash: Error | null;
}

/** A thread's answer: the worker envelope (./envelope.ts) of the task `id`. */
type Reply = { id: number } & Record<string, unknown>;

const WORKER_ENTRY = new URL('./local-worker.js', import.meta.url);

function moduleUrl(module: URL | string): URL {
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && module.startsWith('file:')) url = new URL(module);
  else if (typeof module === 'string' && path.isAbsolute(module)) url = pathToFileURL(module);
  else
    throw new UserError(
      'INVALID_OPTIONS',
      `localBackend: module must be an absolute path or a file: URL (got ${JSON.stringify(String(module))})`,
    );
  if (url.protocol !== 'file:')
    throw new UserError('INVALID_OPTIONS', `localBackend: module must be a file: URL (got ${url.href})`);
  if (!existsSync(fileURLToPath(url)))
    throw new UserError('INVALID_OPTIONS', `localBackend: module ${fileURLToPath(url)} does not exist`);
  return url;
}

/** The task's value out of a thread's reply, checked as every backend checks a worker's envelope. */
function openReply<R>(
  reply: Reply,
  index: number,
  parse: ResultParser<R> | undefined,
  record: RecordWorker | undefined,
): R {
  const { id: _id, ...rest } = reply;
  const envelope = workerEnvelopeSchema.safeParse(rest);
  if (!envelope.success)
    throw new FanoutError(
      'function',
      'InvalidResult',
      `task ${index}: the worker thread answered with something that is not a worker result`,
    );
  return openEnvelope(
    envelope.data,
    parse,
    { errorPrefix: '', invalidPrefix: `task ${index}: unexpected result: ` },
    record,
  );
}

/**
 * The threads and the queue of tasks waiting for one: a task goes to an idle thread, or to a new one while there
 * are fewer than `threads`, or waits; a thread that exits fails its task and is replaced by the next dispatch.
 */
class ThreadPool {
  private readonly slots: Slot[] = [];
  readonly queue: Job[] = [];
  closed = false;

  constructor(
    private readonly url: URL,
    private readonly exportName: string,
    private readonly threads: number,
    private readonly parse: ResultParser<unknown> | undefined,
  ) {}

  private settle(slot: Slot): Job | null {
    const { job } = slot;
    slot.job = null;
    slot.worker.unref();
    return job;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_ENTRY, { workerData: { module: this.url.href, exportName: this.exportName } });
    const slot: Slot = { worker, job: null, crash: null };
    worker.on('message', (reply: Reply) => {
      if (slot.job?.id !== reply.id) return;
      const job = this.settle(slot);
      if (job) {
        try {
          job.resolve(openReply(reply, job.index, this.parse, job.record));
        } catch (error) {
          job.reject(error as FanoutError); // openReply throws FanoutErrors only
        }
      }
      this.dispatch();
    });
    worker.on('error', (error) => {
      slot.crash = error;
    });
    worker.on('exit', (code) => {
      this.slots.splice(this.slots.indexOf(slot), 1);
      const job = this.settle(slot);
      if (job) {
        const why = slot.crash ? `: ${slot.crash.name}: ${slot.crash.message}` : '';
        job.reject(
          new FanoutError(
            'transport',
            'WorkerExited',
            `worker thread exited with code ${code} while running task ${job.index}${why}`,
            { retryable: true },
          ),
        );
      }
      // A queued task takes the dead thread's place in a new one.
      this.dispatch();
    });
    this.slots.push(slot);
    return slot;
  }

  dispatch(): void {
    while (!this.closed && this.queue.length > 0) {
      const slot =
        this.slots.find((s) => s.job === null) ?? (this.slots.length < this.threads ? this.spawn() : undefined);
      if (!slot) return;
      const job = this.queue.shift() as Job;
      job.detach();
      slot.job = job;
      slot.worker.ref();
      try {
        slot.worker.postMessage({ id: job.id, task: job.task });
      } catch (error) {
        this.settle(slot);
        job.reject(
          new FanoutError(
            'transport',
            'DataCloneError',
            `task ${job.index} cannot be sent to a worker thread: ${(error as Error).message}`,
            { retryable: false },
          ),
        );
      }
    }
  }

  /** Fails the queued tasks and the running ones, and terminates every thread. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) {
      job.detach();
      job.reject(
        new FanoutError('aborted', 'BackendClosed', `the local backend was closed before task ${job.index} started`),
      );
    }
    await Promise.all(
      [...this.slots].map((slot) => {
        this.settle(slot)?.reject(
          new FanoutError('aborted', 'BackendClosed', 'the local backend was closed while the task was running'),
        );
        return slot.worker.terminate();
      }),
    );
  }
}

export function localBackend<T, R>(options: LocalBackendOptions<R>): Backend<T, R> {
  const url = moduleUrl(options.module);
  const { exportName } = options;
  if (typeof exportName !== 'string' || exportName === '')
    throw new UserError('INVALID_OPTIONS', 'localBackend: exportName must be a non-empty string');
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new UserError(
      'INVALID_OPTIONS',
      `localBackend: threads must be a whole number from 1 to 1024 (got ${threads})`,
    );
  }

  const pool = new ThreadPool(url, exportName, threads, options.parse);
  let nextId = 0;

  return {
    name: `local:${path.basename(fileURLToPath(url))}#${exportName}`,

    run(task, { index, signal, recordWorker }) {
      if (pool.closed)
        return Promise.reject(new FanoutError('aborted', 'BackendClosed', 'the local backend is closed'));
      if (signal?.aborted)
        return Promise.reject(new FanoutError('aborted', 'AbortError', `task ${index} was aborted before it started`));
      return new Promise<R>((resolve, reject) => {
        const job: Job = {
          id: nextId++,
          index,
          task,
          record: recordWorker,
          // openReply has shaped the value (or the caller vouches for it, without a parser).
          resolve: resolve as (value: unknown) => void,
          reject,
          detach: () => signal?.removeEventListener('abort', onAbort),
        };
        function onAbort(): void {
          const at = pool.queue.indexOf(job);
          if (at === -1) return;
          pool.queue.splice(at, 1);
          reject(
            new FanoutError('aborted', 'AbortError', `task ${index} was aborted while waiting for a worker thread`),
          );
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        pool.queue.push(job);
        pool.dispatch();
      });
    },

    close() {
      return pool.close();
    },
  };
}
