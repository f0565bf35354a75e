/**
 * One fan-out of the coordinator, under its deadline. fanout() returns once every task has settled, and what a
 * running task does at the abort is its backend's choice: the Lambda backend abandons its invocations at once, but
 * the local backend lets a thread finish its task (it cannot interrupt one short of terminating it), so a worker
 * that never answers would hold the run past its deadline — and the Lambda past its timeout, with nothing written.
 * This returns at the abort whatever the backend does, with the tasks that had not settled, for the caller to fail
 * the run naming them.
 *
 * A worker abandoned this way may still write its scratch objects after the coordinator deleted the run's (a
 * Lambda worker runs on when its caller hangs up; a local thread until the backend is closed): the coordinator
 * cannot delete what is not there yet, so the bucket's lifecycle rule for runs/ expires those.
 */
import { fanout, type Backend, type FanoutOptions, type FanoutResult } from '../../fanout/index.ts';

/** A task still running (or waiting) at the abort; `attempts` is 0 when it never started. */
export interface Unsettled {
  index: number;
  attempts: number;
}

export type DeadlineFanout<R> = { result: FanoutResult<R> } | { unsettled: Unsettled[] };

export async function fanoutUntilAborted<T, R>(
  tasks: readonly T[],
  backend: Backend<T, R>,
  options: FanoutOptions,
): Promise<DeadlineFanout<R>> {
  const { signal } = options;
  if (signal === undefined) return { result: await fanout(tasks, backend, options) };
  const settled = new Set<number>();
  const attempts = new Map<number, number>();
  const running = fanout(tasks, backend, {
    ...options,
    onProgress: (event) => {
      if (event.kind === 'started') attempts.set(event.index, event.attempt);
      if (event.kind === 'succeeded' || event.kind === 'failed') settled.add(event.index);
      options.onProgress?.(event);
    },
  });
  let onAbort = (): void => undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const first = await Promise.race([running.then((result) => ({ result })), aborted]);
    if (first !== 'aborted') return first;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const unsettled = tasks.map((_, index) => index).filter((index) => !settled.has(index));
  // Nothing left running (a signal that had fired before: fanout() fails every task without starting it): its answer.
  if (unsettled.length === 0) return { result: await running };
  // fanout() rejects only on invalid options, which it checks before it starts anything: that has been seen above
  // unless the abort came first — then it is of no interest any more (the run fails on the abort).
  running.catch(() => undefined);
  return { unsettled: unsettled.map((index) => ({ index, attempts: attempts.get(index) ?? 0 })) };
}
